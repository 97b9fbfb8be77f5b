"""Micro-randomized arms and the analysis of their decision points."""

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from app.api.contract import problems
from app.api.deps import CurrentStaff, ManageStudy, NowDep, ReadStudy, SessionDep, staff_actor
from app.flows import mrt as mrt_flow
from app.mrt import service
from app.mrt.design import MrtDesign
from app.mrt.wcls import WclsResult

router = APIRouter(prefix="/v1/studies/{study_id}", tags=["micro-randomized trials"])
Covariates = Annotated[
    list[str],
    Query(
        max_length=12,
        description="study_day, hour_of_day, or need_<dimension> (the need at the decision)",
    ),
]


@router.get("/arms/{key}/mrt", response_model=MrtDesign)
def get_arm_design(key: str, access: ReadStudy, session: SessionDep) -> MrtDesign:
    """The arm's micro-randomization design (404 when the arm is not micro-randomized)."""
    design = service.arm_design(session, access.study, key)
    if design is None:
        raise service.not_micro_randomized(key)
    return design


@router.put("/arms/{key}/mrt", response_model=MrtDesign)
def put_arm_design(
    key: str,
    design: MrtDesign,
    access: ManageStudy,
    session: SessionDep,
    user: CurrentStaff,
    now: NowDep,
) -> MrtDesign:
    """Make the arm micro-randomized: at each decision point an available participant gets
    the arm's skill choice with probability p (only while the study is a draft)."""
    mrt_flow.save_arm_design(session, access.study, key, design, staff_actor(user), now)
    return design


@router.delete("/arms/{key}/mrt", status_code=status.HTTP_204_NO_CONTENT)
def delete_arm_design(
    key: str, access: ManageStudy, session: SessionDep, user: CurrentStaff, now: NowDep
) -> Response:
    service.save_design(session, access.study, key, None, staff_actor(user), now)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/analyses/wcls", response_model=WclsResult, responses=problems(409))
def analyze_wcls(
    access: ManageStudy,
    session: SessionDep,
    moderators: Covariates = [],  # noqa: B006  (FastAPI copies query defaults)
    controls: Covariates = [],  # noqa: B006
    numerator_probability: Annotated[
        float | None,
        Query(gt=0, lt=1, description="p-tilde; the decision points' mean probability without"),
    ] = None,
) -> WclsResult:
    """The causal excursion effect of the offer on the proximal outcome, by weighted and
    centered least squares with small-sample corrections (owners and researchers)."""
    return service.analyze(
        session, access.study, moderators, controls, numerator_probability, "query"
    )
