from fastapi import APIRouter, Request
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app.api.contract import problems
from app.errors import Unavailable
from app.migrate import schema_status

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get("/readyz", responses=problems(503))
def readyz(request: Request) -> dict[str, str]:
    """The database answers and its schema is current (503 problem otherwise)."""
    engine = request.app.state.engine
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        current, expected = schema_status(engine)
    except SQLAlchemyError as exc:
        raise Unavailable("The database does not answer", code="database_unreachable") from exc
    if current != expected:
        raise Unavailable(
            "The database schema is behind; run `kairos migrate`", code="schema_behind"
        )
    return {"status": "ok", "database": "ok"}
