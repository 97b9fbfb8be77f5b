"""A study's rule set, its versions, and the dry run that explains a decision."""

from fastapi import APIRouter

from app.api.deps import (
    CareStudy,
    CurrentStaff,
    ManageStudy,
    NowDep,
    ReadStudy,
    SessionDep,
    staff_actor,
)
from app.checkins import service
from app.checkins.models import RuleSetVersion
from app.checkins.schemas import DryRunIn, DryRunOut, RuleSetOut
from app.flows import checkins as checkin_flow
from app.pagination import Page, PageDep, map_page
from app.rules.schema import RuleSet

router = APIRouter(prefix="/v1/studies/{study_id}", tags=["tailoring"])


def _rule_set_out(saved: RuleSetVersion) -> RuleSetOut:
    return RuleSetOut(
        version=saved.version,
        rule_set=RuleSet.model_validate(saved.body),
        created_at=saved.created_at,
    )


@router.get("/rules", response_model=RuleSetOut)
def read_rule_set(access: ReadStudy, session: SessionDep) -> RuleSetOut:
    return _rule_set_out(service.current_rule_set(session, access.study.id)[0])


@router.put("/rules", response_model=RuleSetOut)
def save_rule_set(
    data: RuleSet, access: ManageStudy, session: SessionDep, user: CurrentStaff, now: NowDep
) -> RuleSetOut:
    """Save a new version; check-ins from now on are judged by it and record it."""
    saved = service.save_rule_set(session, access.study, staff_actor(user), user.id, data, now)
    return _rule_set_out(saved)


@router.get("/rules/versions", response_model=Page[RuleSetOut])
def rule_set_versions(access: ReadStudy, session: SessionDep, page: PageDep) -> Page[RuleSetOut]:
    """Every version, newest first."""
    return map_page(service.rule_set_version_page(session, access.study.id, page), _rule_set_out)


@router.post("/rules/dry-run", response_model=DryRunOut)
def dry_run(data: DryRunIn, access: CareStudy, session: SessionDep) -> DryRunOut:
    """Explain the decision on sample answers: scores, fired rules, target, candidates with
    probabilities. With a participant, their history and arm are used. Nothing is stored."""
    return checkin_flow.dry_run_as(session, access, data)
