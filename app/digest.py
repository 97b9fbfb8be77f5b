"""Digests of high-entropy secrets (enrollment codes, participant tokens): stored instead of
the secret, and looked up by; these need no slow hash."""

import hashlib


def secret_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
