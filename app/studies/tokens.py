"""The participant's secrets: one-time enrollment codes and the tokens they are redeemed for."""

import secrets

PARTICIPANT_TOKEN_PREFIX = "kp_"
# Crockford-style alphabet without look-alikes, for codes typed on a phone.
_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ23456789"


def new_participant_token() -> str:
    return PARTICIPANT_TOKEN_PREFIX + secrets.token_urlsafe(32)


def new_enrollment_code() -> str:
    """Fifteen symbols from a 30-letter alphabet (~73 bits), grouped for reading aloud."""
    raw = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(15))
    return "-".join(raw[i : i + 5] for i in range(0, 15, 5))


def normalize_enrollment_code(code: str) -> str:
    raw = "".join(ch for ch in code.upper() if ch.isalnum())
    return "-".join(raw[i : i + 5] for i in range(0, len(raw), 5))
