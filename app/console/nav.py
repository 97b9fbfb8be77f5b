"""The study's navigation: one line per page (label, path under the study, roles that see the
link). A page a role may not use is still refused by its route; the link is only hidden."""

from collections.abc import Collection
from dataclasses import dataclass

from app.access.scope import CARE, MANAGE, OWNER, READ, StudyAccess
from app.vocabulary import Role


@dataclass(frozen=True)
class NavItem:
    label: str  # English; translated by the template
    path: str  # under /console/studies/{study_id}
    roles: Collection[Role] = READ


STUDY_NAV: tuple[NavItem, ...] = (
    NavItem("Overview", ""),
    NavItem("Settings", "/settings", MANAGE),
    NavItem("Participants", "/participants"),
    NavItem("Review", "/review-flags", CARE),
    NavItem("Members", "/members"),
    NavItem("Questionnaire", "/questionnaire"),
    NavItem("Skill libraries", "/libraries"),
    NavItem("Schedule", "/schedule"),
    NavItem("Rules", "/rules"),
    NavItem("Safety settings", "/safety-settings"),
    NavItem("Compliance", "/compliance"),
    NavItem("Exports", "/exports", MANAGE),
    NavItem("Micro-randomization", "/mrt", MANAGE),
    NavItem("MRT analysis", "/analysis", MANAGE),
    NavItem("Trial record", "/trial-record", MANAGE),
    NavItem("Audit log", "/audit", OWNER),
)


def study_nav(access: StudyAccess) -> list[NavItem]:
    return [item for item in STUDY_NAV if access.role in item.roles]
