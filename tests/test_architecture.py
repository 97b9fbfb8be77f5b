"""The house's shape, checked on the import graph (grimp): floors only point down, a domain
uses another domain only through its tables and schemas, the pure core touches no database,
and only the unit of work commits."""

import re
from pathlib import Path

import grimp
import pytest

APP = Path(__file__).parent.parent / "app"

# Each module belongs to the floor of its longest listed prefix.
FLOORS: dict[str, int] = {
    # 0 vocabulary: shared words, no database
    "app.vocabulary": 0,
    "app.types": 0,
    "app.clock": 0,
    "app.settings": 0,
    "app.rules": 0,
    "app.rules.process": 0,
    "app.rules.items": 0,
    "app.rules.schema": 0,
    # 1 pure core: data in, data out
    "app.rules.evaluate": 1,
    "app.skills.policies": 1,
    "app.skills.content": 1,
    "app.skills.default_library": 1,
    "app.skills.diff": 1,
    "app.safety.screen": 1,
    "app.studies.randomization": 1,
    "app.scheduling.planner": 1,
    "app.scheduling.schedule": 1,
    "app.push.backoff": 1,
    "app.digest": 1,
    "app.mrt.wcls": 1,
    "app.mrt.design": 1,
    "app.plans.content": 1,
    "app.plans.placeholders": 1,
    "app.plans.review": 1,
    "app.rules.packs": 1,
    "app.fhir.resources": 1,
    # 2 plumbing every domain shares
    "app.errors": 2,
    "app.requestid": 2,
    "app.db": 2,
    "app.fields": 2,
    "app.pagination": 2,
    "app.versioning": 2,
    "app.patching": 2,
    "app.migrate": 2,
    "app.metrics": 2,
    "app.logs": 2,
    "app.ratelimit": 2,
    "app.securityheaders": 2,
    "app.admission": 2,
    "app.staticfiles": 2,
    # 3 domains, and the access layer they all use
    "app.access": 3,
    "app.audit": 3,
    "app.auth": 3,
    "app.studies": 3,
    "app.checkins": 3,
    "app.skills": 3,
    "app.safety": 3,
    "app.scheduling": 3,
    "app.push": 3,
    "app.export": 3,
    "app.plans": 3,
    "app.mrt": 3,
    "app.models": 3,
    # 4 flows: what crosses domains
    "app.flows": 4,
    "app.fhir": 4,
    "app.simulate": 4,
    "app.simulate.person": 1,
    "app.simulate.bare": 1,
    # 5 faces: HTTP, the worker's jobs, the command
    "app.api": 5,
    "app.console": 5,
    "app.participant_app": 5,
    "app.bodylimit": 5,
    "app.worker": 5,
    "app.cli": 5,
    "app.main": 5,
    "app.openapi": 5,
}
DOMAINS = (
    "audit",
    "mrt",
    "auth",
    "studies",
    "checkins",
    "skills",
    "safety",
    "scheduling",
    "push",
    "export",
    "plans",
)
# What one domain may use of another: its tables, its schemas, the push interface; and
# every domain may record audit events.
SHARED_PARTS = (".models", ".schemas", ".base")
ANYONE_MAY_USE = ("app.audit.service", "app.access")
DATABASE_PACKAGES = ("sqlalchemy", "sqlmodel", "alembic", "psycopg", "fastapi", "starlette")


def floor_of(module: str) -> int:
    matches = [prefix for prefix in FLOORS if module == prefix or module.startswith(prefix + ".")]
    assert matches, f"{module} is on no floor: add it to FLOORS"
    return FLOORS[max(matches, key=len)]


def domain_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in DOMAINS else None


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("app", include_external_packages=True, cache_dir=None)


def _imports(graph: grimp.ImportGraph) -> list[tuple[str, str]]:
    return [
        (importer, imported)
        for importer in sorted(graph.modules)
        if importer.startswith("app")
        for imported in sorted(graph.find_modules_directly_imported_by(importer))
    ]


def test_every_module_has_a_floor(graph: grimp.ImportGraph) -> None:
    for module in graph.modules:
        if module.startswith("app.") and module != "app":
            floor_of(module)


def test_no_import_points_upward(graph: grimp.ImportGraph) -> None:
    upward = [
        f"{importer} (floor {floor_of(importer)}) imports {imported} (floor {floor_of(imported)})"
        for importer, imported in _imports(graph)
        if imported.startswith("app.") and floor_of(imported) > floor_of(importer)
    ]
    assert upward == []


def test_a_domain_uses_another_only_through_its_tables_and_schemas(
    graph: grimp.ImportGraph,
) -> None:
    crossing = [
        f"{importer} imports {imported}"
        for importer, imported in _imports(graph)
        if imported.startswith("app.")
        and floor_of(importer) == 3
        and floor_of(imported) == 3
        and domain_of(importer) != domain_of(imported)
        and domain_of(imported) is not None
        and not imported.endswith(SHARED_PARTS)
        and not imported.startswith(ANYONE_MAY_USE)
    ]
    assert crossing == []


def test_the_vocabulary_and_the_pure_core_touch_no_database(graph: grimp.ImportGraph) -> None:
    impure = [
        f"{importer} imports {imported}"
        for importer, imported in _imports(graph)
        if floor_of(importer) <= 1 and imported.split(".")[0] in DATABASE_PACKAGES
    ]
    assert impure == []


def test_only_the_unit_of_work_commits() -> None:
    ending = {
        str(path.relative_to(APP))
        for path in APP.rglob("*.py")
        if re.search(r"\.(commit|rollback)\(\)", path.read_text())
    }
    assert ending == {"db.py"}
