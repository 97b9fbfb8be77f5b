"""Every console router, in one place (app/console/__init__.py mounts them)."""

from app.console import static
from app.console.pages import auth, compliance, participant, safety, studies

ROUTERS = (
    static.router,
    auth.router,
    studies.router,
    participant.router,
    safety.router,
    compliance.router,
)
