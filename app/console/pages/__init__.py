"""Every console router, in one place (app/console/__init__.py mounts them)."""

from app.console import static
from app.console.pages import auth, libraries, members, participants, questionnaire, studies

ROUTERS = (
    static.router,
    auth.router,
    studies.router,
    participants.router,
    members.router,
    libraries.router,
    questionnaire.router,
)
