"""A study's compliance per local day, as a chart and a table (the API's compliance
service); a participant's own is on their page."""

from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from app.api.deps import NowDep, SessionDep
from app.console.deps import ReadStudy
from app.console.pages.editing import study_page
from app.errors import Invalid
from app.scheduling import service
from app.scheduling.schemas import ComplianceDay, StudyComplianceDay
from app.types import CalendarDate

router = APIRouter(prefix="/console/studies/{study_id}/compliance")
# Without dates the page shows the last four weeks.
DEFAULT_DAYS = 28


def compliance_chart(
    days: Sequence[ComplianceDay | StudyComplianceDay],
) -> list[dict[str, object]]:
    """Per day, the date and the rate the chart draws."""
    return [{"date": day.local_date.isoformat(), "compliance": day.compliance} for day in days]


@router.get("", response_class=HTMLResponse)
def study_compliance(
    request: Request,
    access: ReadStudy,
    session: SessionDep,
    now: NowDep,
    start: Annotated[CalendarDate | None, Query(description="First UTC date")] = None,
    end: Annotated[CalendarDate | None, Query(description="Last UTC date")] = None,
) -> HTMLResponse:
    last = end or now.date()
    first = start or last - timedelta(days=DEFAULT_DAYS - 1)
    if last < first:
        raise Invalid("query.end", "end is before start")
    lower = datetime.combine(first, time(), UTC)
    upper = datetime.combine(last + timedelta(days=1), time(), UTC)
    out = service.compliance(service.study_prompts(session, access.study.id, lower, upper), now)
    days: list[StudyComplianceDay] = out.study_days
    return study_page(
        request,
        access,
        "/compliance",
        "care/compliance.html",
        {
            "start": first,
            "end": last,
            "totals": out.totals,
            "compliance_rows": days,
            "compliance_chart": compliance_chart(days),
        },
    )
