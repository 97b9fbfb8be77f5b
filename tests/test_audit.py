"""Every staff mutation leaves exactly one audit event naming what was done, by whom, in
which request."""

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from app.audit.models import AuditEvent
from tests.conftest import STUDY


def test_each_staff_mutation_is_one_audit_event(
    client: TestClient,
    owner: dict[str, str],
    make_staff: Callable[..., dict[str, str]],
    session: Session,
) -> None:
    make_staff("res@example.org")
    me = client.get("/v1/users/me", headers=owner).json()["id"]
    seen = max(session.exec(select(col(AuditEvent.id))).all())
    ids: dict[str, Any] = {}

    def expect(action: str, method: str, path: str, body: Any = None) -> Any:
        nonlocal seen
        response = client.request(method, path.format(**ids), json=body, headers=owner)
        assert response.is_success, (action, response.text)
        query = select(AuditEvent).where(col(AuditEvent.id) > seen).order_by(col(AuditEvent.id))
        events = session.exec(query).all()
        assert [e.action for e in events] == [action], (method, path)
        [event] = events
        assert (event.actor_type, event.actor_id) == ("staff", me)
        assert event.request_id == response.headers["x-request-id"]
        if "study" in ids:
            assert event.study_id is not None and str(event.study_id) == ids["study"]
        seen = event.id
        return response.json() if response.content else None

    ids["study"] = expect("study.create", "POST", "/v1/studies", STUDY)["id"]
    study = "/v1/studies/{study}"
    expect("study.update", "PATCH", study, {"name": "Renamed pilot"})
    expect("arm.create", "POST", study + "/arms", {"key": "extra", "policy": "random"})
    expect("arm.update", "PATCH", study + "/arms/extra", {"weight": 2})
    expect("arm.delete", "DELETE", study + "/arms/extra")
    expect("study.activate", "POST", study + "/activate")
    members = study + "/members"
    expect("member.set", "PUT", members, {"email": "res@example.org", "role": "researcher"})
    expect("member.remove", "DELETE", members + "/res@example.org")
    body = {"timezone": "Europe/Berlin", "pseudonym": "P-001"}
    ids["person"] = expect("participant.create", "POST", study + "/participants", body)["id"]
    person = study + "/participants/{person}"
    expect("participant.update", "PATCH", person, {"timezone": "America/New_York"})
    expect("participant.reissue_code", "POST", person + "/enrollment-code")
    expect("participant.status", "POST", person + "/status", {"status": "withdrawn"})
    expect("participant.erase", "POST", person + "/erase", {"pseudonym": "P-001"})
    expect("study.close", "POST", study + "/close")
