"""Studies: the list of mine, creating one, a study's overview with its activation
checklist, activating and closing."""

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from app.api.deps import SessionDep
from app.console.deps import ConsoleUser, ReadStudy
from app.console.templating import render
from app.pagination import PageDep
from app.studies import service

router = APIRouter(prefix="/console/studies")


@router.get("", response_class=HTMLResponse)
def list_studies(
    request: Request, me: ConsoleUser, session: SessionDep, page: PageDep
) -> HTMLResponse:
    studies = service.list_studies(session, me.user, page)
    return render(request, "studies/list.html", {"studies": studies})


@router.get("/{study_id}", response_class=HTMLResponse)
def study_overview(request: Request, access: ReadStudy, session: SessionDep) -> HTMLResponse:
    study = service.study_out(session, access)
    return render(
        request, "studies/overview.html", {"access": access, "study": study, "current": ""}
    )
