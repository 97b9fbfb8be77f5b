"""Settings from the environment (prefix KAIROS_); every knob has a safe embedded default."""

import contextlib
import os
import re
import secrets
import tempfile
from datetime import timedelta
from functools import cached_property
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

EMBEDDED_DATABASE = "sqlite:///./var/kairos.db"
# HS256 needs a key of at least 256 bits (RFC 7518); fewer than 32 characters cannot hold them.
MIN_SECRET_CHARS = 32


class SettingsError(RuntimeError):
    """The configuration cannot run safely; the message says what to set."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KAIROS_", env_file=".env", extra="ignore")

    database_url: str = EMBEDDED_DATABASE
    var_dir: Path = Path("var")
    secret_key: SecretStr | None = Field(
        default=None,
        description="JWT signing secret. Embedded SQLite: generated once and kept in var/. "
        "PostgreSQL: must be given.",
    )
    token_issuer: str = "kairos"
    token_audience: str = "kairos-api"
    access_token_minutes: int = Field(default=30, ge=1, le=24 * 60)
    enrollment_code_hours: int = Field(default=72, ge=1, le=24 * 90)
    console_session_hours: int = Field(
        default=8, ge=1, le=24 * 7, description="How long a console sign-in lasts"
    )
    console_refresh_seconds: int = Field(
        default=30,
        ge=1,
        le=3600,
        description="How often the console's safety inbox and its count in the header refresh",
    )

    # Failed sign-ins within the window: an address is refused after its failures on one
    # account or on all; past the account's ceiling (failures from every address), only
    # addresses that failed on it wait, so nobody elsewhere can lock its owner out.
    login_window_seconds: int = Field(default=900, ge=1)
    login_max_failures_per_account_and_address: int = Field(default=5, ge=1)
    login_max_failures_per_address: int = Field(default=20, ge=1)
    login_max_failures_per_account: int = Field(default=50, ge=1)
    enrollment_window_seconds: int = Field(default=900, ge=1)
    enrollment_max_failures_per_address: int = Field(default=10, ge=1)
    # Argon2 cost; OWASP's second recommended profile (19 MiB, t=2) by default.
    password_time_cost: int = Field(default=2, ge=1)
    password_memory_kib: int = Field(default=19456, ge=8)

    forwarded_allow_ips: str = Field(
        default="",
        description="Comma-separated addresses or networks of the proxies whose "
        "X-Forwarded-For/-Proto count; none by default, so no client can claim another address.",
    )

    max_body_bytes: int = Field(default=1_000_000, ge=1024)
    max_drained_body_bytes: int = Field(
        default=64_000_000,
        ge=0,
        description="How much of an oversized body is read and discarded before its 413, so "
        "that a client writing it all first still gets the answer; beyond, the connection closes",
    )

    push_sender: Literal["log", "fcm"] = "log"
    fcm_credentials_file: Path | None = None
    fcm_endpoint: str | None = None
    web_app_url: str | None = Field(
        default=None,
        pattern=r"^https://",
        description="The participant web app's public HTTPS address (https://host/app/): a "
        "push to a web device links to its prompt there; without it, the service worker "
        "opens the prompt from the message's data",
    )
    cors_origins: str = Field(
        default="",
        description="Comma-separated origins (https://app.example.org) whose pages may call "
        "the API: for a study whose own app is served elsewhere; none by default",
    )

    checkin_clock_skew_seconds: int = Field(
        default=300, ge=0, le=3600, description="How far in the future answered_at may be"
    )
    checkins_at_once: int = Field(
        default=2,
        ge=1,
        le=64,
        description="Check-ins a server process decides at once; the others wait their turn",
    )

    scheduler_enabled: bool = True
    worker_id: str | None = None
    plan_horizon_hours: int = Field(default=48, ge=1, le=24 * 14)
    dispatch_batch_size: int = Field(default=500, ge=1, le=500)
    dispatch_lease_seconds: int = Field(default=120, ge=10)

    metrics_token: SecretStr | None = Field(
        default=None, description="A bearer token that may read /metrics from anywhere"
    )
    metrics_allow_networks: str = Field(
        default="127.0.0.1/32,::1/128",
        description="Comma-separated networks (CIDR) whose callers may read /metrics without "
        "the token; empty: only the token",
    )
    worker_metrics_port: int | None = Field(
        default=None, ge=1, le=65535, description="Port of `kairos worker`'s /metrics; off without"
    )
    worker_metrics_host: str = "127.0.0.1"
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("metrics_allow_networks")
    @classmethod
    def _networks_parse(cls, value: str) -> str:
        for part in _split(value):
            ip_network(part, strict=False)  # a ValueError names the bad network
        return value

    @field_validator("cors_origins")
    @classmethod
    def _origins_parse(cls, value: str) -> str:
        for origin in _split(value):
            if not re.fullmatch(r"https?://[^/\s]+", origin):
                raise ValueError(f"{origin!r} is not an origin (scheme://host[:port], no path)")
        return value

    @property
    def cors_origin_list(self) -> list[str]:
        return _split(self.cors_origins)

    @property
    def checkin_clock_skew(self) -> timedelta:
        return timedelta(seconds=self.checkin_clock_skew_seconds)

    @property
    def plan_horizon(self) -> timedelta:
        return timedelta(hours=self.plan_horizon_hours)

    @property
    def metrics_networks(self) -> list[IPv4Network | IPv6Network]:
        return [ip_network(part, strict=False) for part in _split(self.metrics_allow_networks)]

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @cached_property
    def signing_key(self) -> str:
        """The JWT secret: given, or on the embedded database generated once into var/."""
        if self.secret_key is not None:
            key, source = self.secret_key.get_secret_value(), "KAIROS_SECRET_KEY"
        elif not self.is_sqlite:
            raise SettingsError("KAIROS_SECRET_KEY must be set when the database is not SQLite")
        else:
            path = self.var_dir / "secret_key"
            if not path.exists():
                _generate_secret(path)
            key, source = path.read_text().strip(), str(path)
        if len(key) < MIN_SECRET_CHARS:
            raise SettingsError(
                f"The signing secret in {source} has {len(key)} characters; it needs at least "
                f"{MIN_SECRET_CHARS} (make one with: python3 -c "
                "'import secrets; print(secrets.token_urlsafe(48))')"
            )
        return key


def _split(value: str) -> list[str]:
    """The items of a comma-separated setting, blanks left out."""
    return [part.strip() for part in value.split(",") if part.strip()]


def _generate_secret(path: Path) -> None:
    """Write a new secret whole or not at all (mode 0600); a process that starts at the
    same moment and writes first wins, and both read its secret."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".secret_key.")
    try:
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_urlsafe(48))
            file.flush()
            os.fsync(file.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        os.unlink(temporary)


def get_settings() -> Settings:
    return Settings()
