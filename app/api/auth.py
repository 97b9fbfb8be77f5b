from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from app.api.contract import problems
from app.api.deps import CurrentStaff, NowDep, SessionDep, SettingsDep, client_address
from app.auth import service
from app.auth.security import issue_access_token
from app.errors import Problem, problem_json

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


@router.post("/auth/token", response_model=TokenOut, responses=problems(401, 429))
def sign_in(
    # The OAuth2 password form's fields, bounded so no input outgrows its column.
    username: Annotated[str, Form(min_length=1, max_length=320, description="Sign-in email")],
    password: Annotated[str, Form(min_length=1, max_length=1024)],
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    now: NowDep,
) -> TokenOut | JSONResponse:
    """OAuth2 password flow for staff: a short-lived JWT."""
    outcome = service.authenticate(
        session,
        settings,
        email=username,
        password=password,
        client_address=client_address(request),
        now=now,
    )
    if isinstance(outcome, Problem):
        # Returned, not raised: the refused attempt counts toward the limits, so this
        # request's unit of work commits it.
        return problem_json(outcome)
    token, lifetime = issue_access_token(settings, outcome.id, now)
    return TokenOut(access_token=token, expires_in=lifetime)


@router.get("/users/me", response_model=StaffOut)
def who_am_i(user: CurrentStaff) -> StaffOut:
    return StaffOut(id=str(user.id), email=user.email, full_name=user.full_name)
