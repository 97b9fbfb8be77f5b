"""Every console router, in one place (app/console/__init__.py mounts them)."""

from app.console import static
from app.console.pages import auth, rules, schedules, studies

ROUTERS = (static.router, auth.router, studies.router, schedules.router, rules.router)
