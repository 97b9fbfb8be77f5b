"""Every console router, in one place (app/console/__init__.py mounts them)."""

from app.console import static
from app.console.pages import audit, auth, exports, studies

ROUTERS = (static.router, auth.router, studies.router, exports.router, audit.router)
