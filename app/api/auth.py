from typing import Annotated

from fastapi import APIRouter, Form, Request
from pydantic import BaseModel, ConfigDict

from app.api.deps import CurrentStaff, NowDep, SessionDep, SettingsDep
from app.auth import service
from app.auth.security import issue_access_token

router = APIRouter(prefix="/v1", tags=["auth"])


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


class StaffOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    email: str
    full_name: str | None


@router.post("/auth/token", response_model=TokenOut)
def sign_in(
    # The OAuth2 password form's fields, bounded so no input outgrows its column.
    username: Annotated[str, Form(min_length=1, max_length=320, description="Sign-in email")],
    password: Annotated[str, Form(min_length=1, max_length=1024)],
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
) -> TokenOut:
    """OAuth2 password flow for staff: a short-lived JWT."""
    user = service.authenticate(
        session,
        settings,
        email=username,
        password=password,
        client_address=request.client.host if request.client else "unknown",
        now=now,
    )
    token, lifetime = issue_access_token(settings, user.id, now)
    return TokenOut(access_token=token, expires_in=lifetime)


@router.get("/users/me", response_model=StaffOut)
def who_am_i(user: CurrentStaff) -> StaffOut:
    return StaffOut(id=str(user.id), email=user.email, full_name=user.full_name)
