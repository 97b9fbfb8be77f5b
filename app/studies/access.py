"""Study scoping: every read of study data goes through the caller's membership.

A study the caller is not a member of does not exist for them (404); a member whose role
is not enough gets 403.
"""

import uuid
from collections.abc import Collection
from dataclasses import dataclass

from sqlmodel import Session, select

from app.auth.models import StaffUser
from app.errors import Forbidden, NotFound
from app.studies.models import Membership, Role, Study

OWNER = frozenset({Role.owner})
MANAGE = frozenset({Role.owner, Role.researcher})
CARE = frozenset({Role.owner, Role.researcher, Role.clinician})
READ = frozenset(Role)


@dataclass(frozen=True)
class StudyAccess:
    study: Study
    role: Role

    @property
    def sees_arms(self) -> bool:
        return self.role in MANAGE or self.study.clinicians_see_arm

    @property
    def sees_seed(self) -> bool:
        return self.role in MANAGE


def study_for(
    session: Session, user: StaffUser, study_id: uuid.UUID, roles: Collection[Role] = READ
) -> StudyAccess:
    row = session.exec(
        select(Study, Membership.role)
        .join(Membership, Membership.study_id == Study.id)  # type: ignore[arg-type]
        .where(Study.id == study_id, Membership.user_id == user.id)
    ).first()
    if row is None:
        raise NotFound("Study not found")
    study, role = row
    if role not in roles:
        raise Forbidden(f"Your role ({role}) cannot do this in this study", code="role_forbidden")
    return StudyAccess(study=study, role=Role(role))
