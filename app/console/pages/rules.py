"""The study's rule set: read as conditions and as JSON, edited as JSON with each problem
shown at the node it names (and listed with its path), and the dry run: sample answers from
a form made of the questionnaire's items in, the decision explained out."""

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from app.access import visibility
from app.access.scope import CARE, MANAGE, StudyAccess
from app.api.deps import NowDep, SessionDep
from app.checkins import service
from app.checkins.schemas import DryRunIn
from app.console.deps import (
    CareStudy,
    CheckedForm,
    ConsoleUser,
    FormRejected,
    ManageStudy,
    ReadStudy,
)
from app.console.forms import Form, submit
from app.console.pages.editing import study_page
from app.console.readable_rules import readable
from app.console.templating import redirect
from app.errors import Problem
from app.flows import checkins as checkin_flow
from app.rules.items import Answer, Item
from app.rules.schema import RuleSet
from app.vocabulary import Policy

router = APIRouter(prefix="/console/studies/{study_id}/rules")

RULE_SET_INPUT = "rule_set"
# Refusals that are not the form's: the error page (as `submit` does).
NOT_THE_FORMS = frozenset({401, 403, 404})


def _rules_page(
    request: Request,
    access: StudyAccess,
    session: SessionDep,
    text: str,
    raw: Any,
    problems: list[tuple[str, str]],
    status_code: int = 200,
) -> HTMLResponse:
    version, _ = service.current_rule_set(session, access.study.id)
    return study_page(
        request,
        access,
        "/rules",
        "rules/rules.html",
        {
            "version": version,
            "text": text,
            "readable": readable(raw, problems),
            "problems": problems,
            "can_edit": access.role in MANAGE,
            "can_dry_run": access.role in CARE,
        },
        status_code,
    )


@router.get("", response_class=HTMLResponse)
def rules_page(request: Request, access: ReadStudy, session: SessionDep) -> HTMLResponse:
    _, rule_set = service.current_rule_set(session, access.study.id)
    raw = rule_set.model_dump(mode="json")
    text = json.dumps(raw, indent=2, ensure_ascii=False)
    return _rules_page(request, access, session, text, raw, [])


def _problems(problem: Problem) -> list[tuple[str, str]]:
    """A problem's fields as paths in the rule set (the body is the rule set)."""
    if not problem.errors:
        return [("", problem.detail)]
    return [
        (str(item.get("field", "")).removeprefix("body").removeprefix("."), str(item["message"]))
        for item in problem.errors
    ]


@router.post("")
def save_rules(
    request: Request,
    access: ManageStudy,
    posted: CheckedForm,
    me: ConsoleUser,
    session: SessionDep,
    now: NowDep,
) -> Response:
    text = str(posted.get(RULE_SET_INPUT, ""))
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        where = f"line {error.lineno}, column {error.colno}"
        problems = [("", f"This is not valid JSON ({where}): {error.msg}")]
        raise FormRejected(
            _rules_page(request, access, session, text, None, problems, 422)
        ) from error
    try:
        rule_set = Form().parse(RuleSet, raw)
        service.save_rule_set(session, access.study, me.actor, me.user.id, rule_set, now)
    except Problem as problem:
        if problem.status in NOT_THE_FORMS:
            raise
        page = _rules_page(request, access, session, text, raw, _problems(problem), problem.status)
        raise FormRejected(page) from problem
    return redirect(f"/console/studies/{access.study.id}/rules")


# --- the dry run -------------------------------------------------------------------------


def _items(session: SessionDep, access: StudyAccess) -> list[Item]:
    return service.items_of(service.current_questionnaire(session, access.study.id))


def _answer(item: Item, text: str) -> Answer:
    """A typed answer as the phone would send it; what does not parse is sent as typed, so
    the API's own check names it."""
    if item.type in ("slider", "likert"):
        for number in (int, float):
            try:
                return number(text)
            except ValueError:
                continue
    if item.type == "boolean":
        return {"true": True, "false": False}.get(text, text)
    return text


def _dry_run_body(form: Form, items: list[Item]) -> dict[str, Any]:
    answers = {
        item.key: _answer(item, form.value(f"answers.{item.key}").strip())
        for item in items
        if form.value(f"answers.{item.key}").strip()
    }
    others = {
        name: form.value(name).strip()
        for name in ("policy", "participant_id")
        if form.value(name).strip()
    }
    return {"answers": answers, **others}


def _dry_run_page(
    request: Request,
    access: StudyAccess,
    items: list[Item],
    form: Form,
    result: Any = None,
    status_code: int = 200,
) -> HTMLResponse:
    return study_page(
        request,
        access,
        "/rules",
        "rules/dry_run.html",
        {
            "items": items,
            "choices": {item.key: [(c.key, c.key) for c in item.choices or []] for item in items},
            "form": form,
            "result": result,
            "policies": [(policy.value, policy.value) for policy in Policy],
            # A participant's dry run uses their arm: only for who may see arms.
            "by_participant": visibility.sees_arms(access),
        },
        status_code,
    )


def _dry_run_known(items: list[Item]) -> frozenset[str]:
    return frozenset({f"answers.{item.key}" for item in items} | {"policy", "participant_id"})


@router.get("/dry-run", response_class=HTMLResponse)
def dry_run_page(request: Request, access: CareStudy, session: SessionDep) -> HTMLResponse:
    items = _items(session, access)
    return _dry_run_page(request, access, items, Form(known=_dry_run_known(items)))


@router.post("/dry-run", response_class=HTMLResponse)
def dry_run(
    request: Request, access: CareStudy, posted: CheckedForm, session: SessionDep
) -> HTMLResponse:
    """Nothing is stored: the page shows the decision for the answers typed, kept in the form."""
    items = _items(session, access)
    form = Form.posted(posted, known=_dry_run_known(items))
    result = submit(
        session,
        form,
        lambda shown, status: _dry_run_page(request, access, items, shown, None, status),
        lambda: checkin_flow.dry_run_as(
            session, access, form.parse(DryRunIn, _dry_run_body(form, items))
        ),
    )
    return _dry_run_page(request, access, items, form, result)
