import uuid
from datetime import datetime

from sqlmodel import Field, SQLModel

from app.fields import id_field, utc_field


class StaffUser(SQLModel, table=True):
    __tablename__ = "staff_user"

    id: uuid.UUID = id_field()
    email: str = Field(max_length=320, unique=True)
    full_name: str | None = Field(default=None, max_length=200)
    password_hash: str = Field(max_length=255)
    is_active: bool = True
    created_at: datetime = utc_field()


class LoginFailure(SQLModel, table=True):
    """One failed sign-in; counted per account and per client address for rate limiting."""

    __tablename__ = "login_failure"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=320, index=True)
    client_address: str = Field(max_length=64, index=True)
    at: datetime = utc_field(index=True)


class ConsoleSession(SQLModel, table=True):
    """A staff member's signed-in console session. The cookie holds a random token; only its
    SHA-256 is stored, so a copy of the table signs nobody in."""

    __tablename__ = "console_session"

    token_hash: str = Field(max_length=64, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="staff_user.id", index=True)
    csrf_token: str = Field(max_length=64)
    created_at: datetime = utc_field()
    expires_at: datetime = utc_field(index=True)
    revoked_at: datetime | None = utc_field(nullable=True)
