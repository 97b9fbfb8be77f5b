"""Pages for researchers over the API's micro-randomized trial routes: each arm's design
(GET/PUT/DELETE /v1/studies/{id}/arms/{key}/mrt, edited while the study is a draft), the WCLS
analysis (GET …/analyses/wcls), the trial record: the replay report (GET …/replay) and the
allocation sequence (GET …/allocations), and the saved versions of the schedule and the rule
set (GET …/schedule/versions, …/rules/versions). Each with the role of its API route."""

from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session

from app.access.scope import MANAGE, StudyAccess
from app.api.deps import NowDep, SessionDep
from app.checkins import service as rules
from app.console.deps import CheckedForm, ConsoleUser, ManageStudy, ReadStudy
from app.console.forms import Form, submit
from app.console.pages.editing import study_page
from app.console.templating import redirect
from app.flows import mrt as mrt_flow
from app.flows import replay
from app.mrt import service
from app.mrt.design import MrtDesign
from app.mrt.wcls import WclsResult
from app.pagination import PageDep
from app.rules.process import Dimension
from app.scheduling import service as schedules
from app.studies import participants
from app.studies import service as studies
from app.studies.schemas import AllocationOut
from app.vocabulary import StudyStatus

router = APIRouter(prefix="/console/studies/{study_id}")

SPARE_BANDS = 2  # empty time-of-day rows under the design's own
OUTCOMES = {
    "distress_after": "The delivery's distress-after rating",
    "next_need": "A dimension's need at the next check-in",
    "next_item": "An item's answer at the next check-in",
}
_BAND_KEYS = ("start", "probability")
# Inputs that exist even when nothing is typed in them, so their problems show beside them.
_DESIGN_INPUTS = (*MrtDesign.model_fields, "by_study_day")


def _values(design: MrtDesign) -> dict[str, str]:
    """The design as the form's inputs."""
    values = {
        name: "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
        for name, value in design.model_dump(
            mode="json", exclude={"by_study_day", "by_time_of_day"}
        ).items()
    }
    values["by_study_day"] = ", ".join(str(p) for p in design.by_study_day)
    for index, band in enumerate(design.by_time_of_day):
        values |= {
            f"by_time_of_day[{index}].start": band.start.strftime("%H:%M"),
            f"by_time_of_day[{index}].probability": str(band.probability),
        }
    return values


def _parse(form: Form) -> MrtDesign:
    """The design as typed; the days' probabilities are one comma-separated input."""
    body = form.data()
    days = body.pop("by_study_day", "")
    body["by_study_day"] = [p.strip() for p in days.split(",") if p.strip()]
    return form.parse(MrtDesign, body)


def _design_page(
    request: Request,
    access: StudyAccess,
    session: Session,
    key: str,
    form: Form | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    design = service.arm_design(session, access.study, key)
    shown = form or Form(values=_values(design or MrtDesign()), known=frozenset(_DESIGN_INPUTS))
    band_rows = shown.rows("by_time_of_day", _BAND_KEYS) + SPARE_BANDS
    return study_page(
        request,
        access,
        "/mrt",
        "research/design.html",
        {
            "key": key,
            "design": design,
            "editable": access.study.status == StudyStatus.draft and access.role in MANAGE,
            "form": shown,
            "band_rows": band_rows,
            "outcomes": list(OUTCOMES.items()),
            "dimensions": [(dimension.value, dimension.value) for dimension in Dimension],
        },
        status_code,
    )


@router.get("/mrt", response_class=HTMLResponse)
def arm_designs(request: Request, access: ReadStudy, session: SessionDep) -> HTMLResponse:
    arms = studies.study_out(session, access).arms
    designs = {arm.key: service.arm_design(session, access.study, arm.key) for arm in arms}
    return study_page(
        request, access, "/mrt", "research/designs.html", {"arms": arms, "designs": designs}
    )


@router.get("/mrt/{key}", response_class=HTMLResponse)
def arm_design(request: Request, key: str, access: ReadStudy, session: SessionDep) -> HTMLResponse:
    return _design_page(request, access, session, key)


@router.post("/mrt/{key}")
def save_arm_design(
    access: ManageStudy,
    key: str,
    request: Request,
    posted: CheckedForm,
    me: ConsoleUser,
    session: SessionDep,
    now: NowDep,
) -> Response:
    form = Form.posted(posted, known=_DESIGN_INPUTS)
    form.rows("by_time_of_day", _BAND_KEYS)
    submit(
        session,
        form,
        lambda shown, status: _design_page(request, access, session, key, shown, status),
        lambda: mrt_flow.save_arm_design(session, access.study, key, _parse(form), me.actor, now),
    )
    return redirect(f"/console/studies/{access.study.id}/mrt/{key}")


@router.post("/mrt/{key}/remove")
def remove_arm_design(
    access: ManageStudy,
    key: str,
    request: Request,
    posted: CheckedForm,
    me: ConsoleUser,
    session: SessionDep,
    now: NowDep,
) -> Response:
    submit(
        session,
        Form(),
        lambda shown, status: _design_page(request, access, session, key, shown, status),
        lambda: service.save_design(session, access.study, key, None, me.actor, now),
    )
    return redirect(f"/console/studies/{access.study.id}/mrt/{key}")


class AnalysisChoice(BaseModel):
    """The analysis's query parameters, as the API takes them."""

    model_config = ConfigDict(extra="forbid")

    moderators: list[str] = Field(default_factory=list, max_length=12)
    controls: list[str] = Field(default_factory=list, max_length=12)
    numerator_probability: float | None = Field(default=None, gt=0, lt=1)


@router.get("/analysis", response_class=HTMLResponse)
def analysis(request: Request, access: ManageStudy, session: SessionDep) -> HTMLResponse:
    query = request.query_params
    chosen = {kind: query.getlist(kind) for kind in ("moderators", "controls")}
    form = Form(
        values={"numerator_probability": query.get("numerator_probability", "")},
        known=frozenset(("moderators", "controls")),
    )

    def page(shown: Form, status_code: int, result: WclsResult | None = None) -> HTMLResponse:
        return study_page(
            request,
            access,
            "/analysis",
            "research/analysis.html",
            {
                "form": shown,
                "chosen": chosen,
                "covariates": service.covariate_names(),
                "result": result,
            },
            status_code,
        )

    def analyze() -> WclsResult:
        choice = form.parse(AnalysisChoice, {**form.data(), **chosen})
        return service.analyze(
            session,
            access.study,
            choice.moderators,
            choice.controls,
            choice.numerator_probability,
            "body",
        )

    return page(form, 200, submit(session, form, page, analyze))


@router.get("/trial-record", response_class=HTMLResponse)
def trial_record(
    request: Request, access: ManageStudy, session: SessionDep, page: PageDep
) -> HTMLResponse:
    allocations = participants.list_allocations(session, access, page)
    report = replay.replay(session, access.study)
    context: dict[str, Any] = {
        "report": report,
        # Each difference as (what differs, recorded, replayed).
        "skill_rows": [(m.delivery_id, m.recorded, m.replayed) for m in report.skill_mismatches],
        "point_rows": [
            (m["decision_point_id"], m["recorded"], m["replayed"])
            for m in report.decision_point_mismatches
        ],
        "allocations": allocations.with_items(
            [AllocationOut.model_validate(row) for row in allocations.items]
        ),
    }
    return study_page(request, access, "/trial-record", "research/trial_record.html", context)


@router.get("/versions/{kind}", response_class=HTMLResponse)
def versions(
    request: Request,
    kind: Literal["schedule", "rules"],
    access: ReadStudy,
    session: SessionDep,
    page: PageDep,
) -> HTMLResponse:
    """The saved versions of the schedule or of the rule set, each with its content."""
    if kind == "schedule":
        found = schedules.schedule_versions(session, access.study.id, page)
        heading, contents = "Schedule versions", [version.schedule for version in found.items]
    else:
        found = rules.rule_set_version_page(session, access.study.id, page)
        heading, contents = "Rule set versions", [version.body for version in found.items]
    return study_page(
        request,
        access,
        f"/{kind}",
        "research/versions.html",
        {
            "kind": kind,
            "heading": heading,
            "versions": found,
            "contents": contents,
        },
    )
