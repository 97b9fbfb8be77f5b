"""Exports: round-trips in every format, the codebook, filters, scoping, roles and audit."""

import csv
import io
import json
import random
import re
import socket
import threading
import uuid
import zipfile
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from app.audit.models import AuditEvent
from app.audit.service import SYSTEM
from app.checkins.models import CheckIn, Detection
from app.clock import FrozenClock
from app.export import service
from app.export.formats import ARROW_TYPES, Format, csv_number
from app.export.tables import TABLES, ColumnType
from app.main import create_app
from app.push.backoff import decide_retry
from app.scheduling.models import Prompt, PromptAttempt, PromptStatus
from app.settings import Settings
from app.skills.models import Delivery
from app.studies.models import Study
from tests.conftest import START
from tests.test_checkins import FUSED, checkin


def add_prompts(session: Session, study_id: str, participant_id: str, count: int) -> None:
    """Prompts as the planner writes them: one a day at 23:00 UTC from the start; the first
    was pushed once (as dispatch records it) and answered."""
    for day in range(count):
        at = START.replace(hour=23) + timedelta(days=day)
        prompt_id = uuid.uuid4()
        session.add(
            Prompt(
                id=prompt_id,
                study_id=uuid.UUID(study_id),
                participant_id=uuid.UUID(participant_id),
                slot=f"2026-03-{2 + day:02d}/evening",
                scheduled_at=at,
                window_start=at,
                window_end=at + timedelta(hours=1),
                expires_at=at + timedelta(hours=2),
                status=PromptStatus.answered if day == 0 else PromptStatus.planned,
                attempts=1 if day == 0 else 0,
                created_at=START,
                sent_at=at if day == 0 else None,
                answered_at=at + timedelta(minutes=5) if day == 0 else None,
            )
        )
        if day == 0:
            session.flush()
            session.add(
                PromptAttempt(
                    prompt_id=prompt_id,
                    participant_id=uuid.UUID(participant_id),
                    kind="prompt",
                    at=at,
                    outcome="sent",
                    worker="w-1",
                )
            )
    session.commit()


def iso(at: datetime) -> str:
    """How text formats write a UTC timestamp."""
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse(fmt: str, content: bytes) -> list[dict[str, Any]]:
    if fmt == "csv":
        return list(csv.DictReader(io.StringIO(content.decode())))
    if fmt == "ndjson":
        return [json.loads(line) for line in content.decode().splitlines()]
    return pq.read_table(io.BytesIO(content)).to_pylist()


def columns_of(fmt: str, content: bytes) -> list[str]:
    if fmt == "csv":
        return next(csv.reader(io.StringIO(content.decode())))
    if fmt == "ndjson":
        return list(json.loads(content.decode().splitlines()[0]))
    return pq.read_schema(io.BytesIO(content)).names


# Every item type the questionnaire can hold, beyond the default sliders.
EXTRA_ITEMS = [
    {
        "key": "mood",
        "type": "likert",
        "text": {"en": "How is your mood?"},
        "min": 1,
        "max": 7,
        "anchors": {"en": ["Very low", "Very good"]},
        "required": False,
    },
    {
        "key": "where",
        "type": "choice",
        "text": {"en": "Where are you?"},
        "choices": [
            {"key": "home", "label": {"en": "At home"}},
            {"key": "work", "label": {"en": "At work"}},
        ],
        "required": False,
    },
    {"key": "alone", "type": "boolean", "text": {"en": "Are you alone?"}, "required": False},
    {"key": "note", "type": "text", "text": {"en": "Anything else?"}, "required": False},
]


def with_every_item_type(client: TestClient, owner: dict, study: dict) -> dict:
    """Add EXTRA_ITEMS to a draft study's questionnaire, then activate the study."""
    url = f"/v1/studies/{study['id']}"
    items = client.get(f"{url}/questionnaire", headers=owner).json()["items"]
    saved = client.put(
        f"{url}/questionnaire", json={"items": [*items, *EXTRA_ITEMS]}, headers=owner
    )
    assert saved.status_code == 200, saved.text
    activated = client.post(f"{url}/activate", headers=owner)
    assert activated.status_code == 200, activated.text
    return activated.json()


@pytest.fixture
def world(
    client: TestClient,
    owner: dict,
    make_study: Callable,
    enroll: Callable,
    session: Session,
    make_staff: Callable,
    clock: FrozenClock,
) -> dict[str, Any]:
    # Blocks of three: the two people of a site are never both in the assessment arm, so
    # the micro-randomized arms always have decision points to export.
    study = make_study(stratify_by=["site"], block_size=3, activate=False)
    for arm in ("tailored", "random"):  # micro-randomized, self-initiated check-ins too
        design = {"self_initiated": True, "probability": 0.5}
        url = f"/v1/studies/{study['id']}/arms/{arm}/mrt"
        assert client.put(url, json=design, headers=owner).status_code == 200
    activated = client.post(f"/v1/studies/{study['id']}/activate", headers=owner)
    assert activated.status_code == 200, activated.text
    people = [
        enroll(
            study["id"], pseudonym=f"P-{n}", strata={"site": site}, external_ref=f"x{n}@mail.org"
        )
        for n, site in enumerate(["north", "south", "north"])
    ]
    for person in people:
        add_prompts(session, study["id"], person["id"], 3)
    client.put(
        "/v1/me/device",
        json={"token": "fcm-secret-device-token", "platform": "android"},
        headers=people[0]["headers"],
    )
    other = make_study(name="Another study")
    stranger = enroll(other["id"], pseudonym="STRANGER-1", external_ref="stranger@mail.org")
    add_prompts(session, other["id"], stranger["id"], 2)
    clock.set(START + timedelta(minutes=2))
    # Every person checks in through the API; P-1 also screens positive for risk.
    for n, person in enumerate([*people, stranger]):
        posted = client.post(
            "/v1/checkins", json=checkin(FUSED, client_id=f"c-{n}"), headers=person["headers"]
        )
        assert posted.status_code == 201, posted.text
    risky = client.post(
        "/v1/checkins",
        json=checkin({**FUSED, "risk": 85}, client_id="c-risk"),
        headers=people[1]["headers"],
    )
    assert risky.json()["safety"]["tier"] == "high"
    for person in people:
        plan = {"sections": {"values": [{"text": PLAN_WORDS}], "supports": [{"text": "Ana"}]}}
        assert client.put("/v1/me/plan", json=plan, headers=person["headers"]).is_success
    allocations = client.get(f"/v1/studies/{study['id']}/allocations", headers=owner).json()
    arms = {row["participant_id"]: row["arm_key"] for row in allocations["items"]}
    return {"study": study, "people": people, "arms": arms, "other": other}


PLAN_WORDS = "Being there for my daughter"


def export(client: TestClient, world: dict, headers: dict, table: str, **params: Any) -> Any:
    return client.get(
        f"/v1/studies/{world['study']['id']}/exports/{table}", params=params, headers=headers
    )


@pytest.mark.parametrize("fmt", ["csv", "ndjson", "parquet"])
def test_every_table_round_trips_and_the_codebook_describes_every_column(
    client: TestClient, owner: dict, world: dict, fmt: str
) -> None:
    study_id = world["study"]["id"]
    book = client.get(f"/v1/studies/{study_id}/codebook", headers=owner).json()
    described = {t["name"]: [c["name"] for c in t["columns"]] for t in book["tables"]}
    assert set(described) == {
        "participants",
        "allocations",
        "prompts",
        "prompt_attempts",
        "checkins",
        "detections",
        "deliveries",
        "decision_points",
        "safety_events",
        "plan_versions",
    }
    by_pseudonym = {p["pseudonym"]: world["arms"][p["id"]] for p in world["people"]}
    for table in described:
        response = export(client, world, owner, table, format=fmt)
        assert response.status_code == 200, response.text
        assert columns_of(fmt, response.content) == described[table]
        rows = parse(fmt, response.content)
        expected = {
            "safety_events": {"P-1"},
            "decision_points": {p for p, arm in by_pseudonym.items() if arm != "assessment"},
        }.get(table, set(by_pseudonym))
        assert {row["participant"] for row in rows} == expected, table
        for row in rows:
            assert row["arm"] == by_pseudonym[row["participant"]]
    participants = parse(fmt, export(client, world, owner, "participants", format=fmt).content)
    sites = {row["participant"]: row["stratum_site"] for row in participants}
    assert sites == {"P-0": "north", "P-1": "south", "P-2": "north"}
    assert {row["status"] for row in participants} == {"active"}
    assert [row["erased"] for row in participants] == (
        ["false"] * 3 if fmt == "csv" else [False] * 3
    )
    allocations = parse(fmt, export(client, world, owner, "allocations", format=fmt).content)
    assert {(row["stratum"], str(row["sequence_no"])) for row in allocations} == {
        ("site=north", "0"),
        ("site=north", "1"),
        ("site=south", "0"),
    }
    assert {row["seed"] for row in allocations} == {world["study"]["randomization_seed"]}
    prompts = parse(fmt, export(client, world, owner, "prompts", format=fmt).content)
    assert len(prompts) == 9
    answered = [row for row in prompts if row["status"] == "answered"]
    assert len(answered) == 3 and {str(row["attempts"]) for row in answered} == {"1"}
    checkins = parse(fmt, export(client, world, owner, "checkins", format=fmt).content)
    assert sorted(row["checkin"] for row in checkins) == ["c-0", "c-1", "c-2", "c-risk"]
    for row in checkins:
        assert float(row["item_cognition_fused"]) == 90 and float(row["item_emotion_open"]) == 70
    assert {float(row["item_risk"]) for row in checkins} == {0, 85}
    detections = parse(fmt, export(client, world, owner, "detections", format=fmt).content)
    fused = [row for row in detections if row["checkin"] != "c-risk"]
    assert {row["target"] for row in fused} == {"cognitive_fusion"}
    assert all(row["score_cognitive_fusion"] not in (None, "") for row in fused)
    deliveries = parse(fmt, export(client, world, owner, "deliveries", format=fmt).content)
    arm_policy = {"tailored": "tailored", "random": "random", "assessment": "assessment_only"}
    for row in deliveries:
        assert row["policy"] == arm_policy[row["arm"]]
        probabilities = row["probabilities"]
        if isinstance(probabilities, str):
            probabilities = json.loads(probabilities)
        assert not probabilities or abs(sum(probabilities.values()) - 1) < 1e-9
    [event] = parse(fmt, export(client, world, owner, "safety_events", format=fmt).content)
    assert (event["checkin"], event["tier"]) == ("c-risk", "high")
    attempts = parse(fmt, export(client, world, owner, "prompt_attempts", format=fmt).content)
    assert {(row["slot"], row["kind"], row["outcome"]) for row in attempts} == {
        ("2026-03-02/evening", "prompt", "sent")
    }
    first = answered[0]["scheduled_at"]
    expected = START.replace(hour=23)
    assert first == (expected if fmt == "parquet" else iso(expected))


def cell(fmt: str, value: Any) -> Any:
    """How a value reads back from a file of the format."""
    if fmt == "parquet":
        return value
    if isinstance(value, datetime):
        return iso(value)
    if fmt == "ndjson":
        return value
    return "true" if value is True else "false" if value is False else str(csv_number(value))


NOTE = 'Slept badly, "again"\nthen better'


@pytest.mark.parametrize("fmt", ["csv", "ndjson", "parquet"])
def test_answers_an_opened_prompt_and_feedback_come_out_as_they_went_in(
    client: TestClient,
    owner: dict,
    make_study: Callable,
    enroll: Callable,
    session: Session,
    clock: FrozenClock,
    fmt: str,
) -> None:
    study = with_every_item_type(
        client, owner, make_study(activate=False, arms=[{"key": "act", "policy": "tailored"}])
    )
    person = enroll(study["id"], pseudonym="P-1")
    prompt = Prompt(
        study_id=uuid.UUID(study["id"]),
        participant_id=uuid.UUID(person["id"]),
        slot="2026-03-02/morning",
        scheduled_at=START,
        window_start=START,
        window_end=START + timedelta(hours=1),
        expires_at=START + timedelta(hours=2),
        status=PromptStatus.sent,
        created_at=START,
        sent_at=START,
    )
    session.add(prompt)
    session.commit()
    clock.set(START + timedelta(minutes=2))
    opened = client.post(f"/v1/prompts/{prompt.id}/opened", headers=person["headers"])
    assert opened.status_code == 200, opened.text
    answers = {**FUSED, "mood": 5, "where": "work", "alone": True, "note": NOTE}
    posted = client.post("/v1/checkins", json=checkin(answers), headers=person["headers"])
    assert posted.status_code == 201, posted.text
    clock.set(START + timedelta(minutes=9))
    feedback = {"opened": True, "completed": True, "helpfulness": 7, "distress_after": 40}
    given = client.post(
        f"/v1/deliveries/{posted.json()['delivery']['id']}/feedback",
        json=feedback,
        headers=person["headers"],
    )
    assert given.status_code == 204, given.text
    book = client.get(f"/v1/studies/{study['id']}/codebook", headers=owner).json()
    types = {t["name"]: {c["name"]: c["type"] for c in t["columns"]} for t in book["tables"]}

    def rows(table: str) -> list[dict[str, Any]]:
        url = f"/v1/studies/{study['id']}/exports/{table}"
        content = client.get(url, params={"format": fmt}, headers=owner).content
        if fmt == "parquet":  # every column typed as the codebook says
            schema = pq.read_schema(io.BytesIO(content))
            assert {name: schema.field(name).type for name in schema.names} == {
                name: ARROW_TYPES[ColumnType(kind)] for name, kind in types[table].items()
            }
        return parse(fmt, content)

    [row] = rows("checkins")
    assert {key: row[f"item_{key}"] for key in ("mood", "where", "alone", "note")} == {
        "mood": cell(fmt, 5.0),
        "where": "work",
        "alone": cell(fmt, True),
        "note": NOTE,
    }
    [row] = rows("prompts")
    assert row["opened_at"] == cell(fmt, START + timedelta(minutes=2))
    [row] = rows("deliveries")
    assert row["skill"]
    at = START + timedelta(minutes=9)
    assert {key: row[key] for key in ("helpfulness", "distress_after", "feedback_at")} == {
        "helpfulness": cell(fmt, 7),
        "distress_after": cell(fmt, 40),
        "feedback_at": cell(fmt, at),
    }
    assert row["opened_at"] == row["completed_at"] == cell(fmt, at)
    for table in sorted(set(types) - {"checkins", "prompts", "deliveries"}):
        rows(table)  # the types of the other tables agree too


def test_exports_hold_no_other_study_and_no_device_or_contact_data(
    client: TestClient, owner: dict, world: dict
) -> None:
    for fmt in ("csv", "ndjson"):
        bundle = client.get(
            f"/v1/studies/{world['study']['id']}/exports/bundle",
            params={"format": fmt},
            headers=owner,
        )
        assert bundle.status_code == 200
        archive = zipfile.ZipFile(io.BytesIO(bundle.content))
        assert sorted(archive.namelist()) == sorted(
            [f"{name}.{fmt}" for name in TABLES] + ["codebook.json", "codebook.md"]
        )
        everything = b"".join(archive.read(name) for name in archive.namelist())
        for secret in (b"STRANGER", b"fcm-secret-device-token", b"@mail.org", b"Another study"):
            assert secret not in everything
        # Internal ids appear only inside the skill decisions' seed material.
        without_seeds = everything.replace(b"\\u001f", b"\x1f")
        for person in world["people"]:
            seeded = f"\x1fskill\x1f{person['id']}\x1f".encode()
            assert without_seeds.replace(seeded, b"").count(person["id"].encode()) == 0
        book = json.loads(archive.read("codebook.json"))
        assert {arm["key"] for arm in book["arms"]} == {"tailored", "random", "assessment"}
        assert "# Codebook: Tailoring pilot" in archive.read("codebook.md").decode()


def test_bundle_in_parquet_reads_back(client: TestClient, owner: dict, world: dict) -> None:
    bundle = client.get(
        f"/v1/studies/{world['study']['id']}/exports/bundle?format=parquet", headers=owner
    )
    archive = zipfile.ZipFile(io.BytesIO(bundle.content))
    assert pq.read_table(io.BytesIO(archive.read("prompts.parquet"))).num_rows == 9


def test_filters_by_participant_arm_and_date(client: TestClient, owner: dict, world: dict) -> None:
    for fmt in ("csv", "ndjson"):
        only = export(client, world, owner, "prompts", format=fmt, participant=["P-0", "P-2"])
        assert {row["participant"] for row in parse(fmt, only.content)} == {"P-0", "P-2"}
    arm = world["arms"][world["people"][1]["id"]]
    by_arm = parse(
        "ndjson", export(client, world, owner, "prompts", format="ndjson", arm=arm).content
    )
    assert by_arm and {row["arm"] for row in by_arm} == {arm}
    day_two = START.replace(hour=23) + timedelta(days=1)
    window = export(
        client,
        world,
        owner,
        "prompts",
        format="ndjson",
        start=day_two.isoformat(),
        end=(day_two + timedelta(days=1)).isoformat(),
    )
    rows = parse("ndjson", window.content)
    assert len(rows) == 3 and {row["scheduled_at"] for row in rows} == {iso(day_two)}
    assert export(client, world, owner, "prompts", start="2030-01-01T00:00:00Z").text == (
        "participant,arm,slot,scheduled_at,window_start,window_end,expires_at,status,attempts,"
        "reminders_sent,created_at,sent_at,opened_at,answered_at,status_reason\n"
    )


def test_relative_dates_replace_timestamps_with_study_day_and_local_time(
    client: TestClient, owner: dict, world: dict
) -> None:
    study_id = world["study"]["id"]
    response = export(client, world, owner, "prompts", format="ndjson", dates="relative")
    rows = parse("ndjson", response.content)
    book = client.get(f"/v1/studies/{study_id}/codebook?dates=relative", headers=owner).json()
    prompt_columns = next(t for t in book["tables"] if t["name"] == "prompts")["columns"]
    assert list(rows[0]) == [c["name"] for c in prompt_columns]
    assert "2026" not in response.text
    # Enrolled 2026-03-02 10:00 in Berlin (day 1); 23:00 UTC is 00:00 the next local day.
    first = rows[0]
    assert (first["scheduled_day"], first["scheduled_time"]) == (2, "00:00:00")
    assert (first["created_day"], first["created_time"]) == (1, "10:00:00")
    assert first["opened_day"] is None and first["opened_time"] is None
    assert sorted({row["scheduled_day"] for row in rows}) == [2, 3, 4]
    table = pq.read_table(
        io.BytesIO(
            export(client, world, owner, "prompts", format="parquet", dates="relative").content
        )
    )
    assert table.column("scheduled_day").to_pylist()[:1] == [2]


def test_relative_check_in_times_are_the_phones_own_local_time(
    client: TestClient, owner: dict, make_study: Callable, enroll: Callable, clock: FrozenClock
) -> None:
    """The participant answered in New York, then moved to Tokyo: the answer's time of day is
    the phone's (its recorded offset), the others are in the zone as stored now."""
    study = make_study()
    person = enroll(study["id"], pseudonym="P-1")
    clock.set(START + timedelta(minutes=2))
    answered = {"answered_at": "2026-03-02T04:01:00-05:00"}
    posted = client.post(
        "/v1/checkins", json={**checkin(FUSED), **answered}, headers=person["headers"]
    )
    assert posted.status_code == 201, posted.text
    moved = client.patch("/v1/me", json={"timezone": "Asia/Tokyo"}, headers=person["headers"])
    assert moved.status_code == 200, moved.text
    response = client.get(
        f"/v1/studies/{study['id']}/exports/checkins",
        params={"format": "ndjson", "dates": "relative"},
        headers=owner,
    )
    [row] = parse("ndjson", response.content)
    assert (row["answered_day"], row["answered_time"]) == (1, "04:01:00")
    assert (row["received_day"], row["received_time"]) == (1, "18:02:00")
    book = client.get(
        f"/v1/studies/{study['id']}/codebook", params={"dates": "relative"}, headers=owner
    ).json()
    meanings = {c["name"]: c["meaning"] for t in book["tables"] for c in t["columns"]}
    assert "phone's own clock" in meanings["answered_time"]


def test_only_owners_and_researchers_export(
    client: TestClient, owner: dict, world: dict, make_staff: Callable
) -> None:
    study_id = world["study"]["id"]
    for role, expected in [("researcher", 200), ("clinician", 403), ("viewer", 403)]:
        headers = make_staff(f"{role}@example.org")
        client.put(
            f"/v1/studies/{study_id}/members",
            json={"email": f"{role}@example.org", "role": role},
            headers=owner,
        )
        for path in ("exports/prompts", "exports/bundle", "codebook", "replay"):
            response = client.get(f"/v1/studies/{study_id}/{path}", headers=headers)
            assert response.status_code == expected, (role, path, response.text)


def test_every_export_is_an_audit_event(client: TestClient, owner: dict, world: dict) -> None:
    study_id = world["study"]["id"]
    export(client, world, owner, "prompts", format="parquet", participant="P-1")
    client.get(f"/v1/studies/{study_id}/exports/bundle", headers=owner)
    events = client.get(
        f"/v1/studies/{study_id}/audit-events", params={"action": "export.table"}, headers=owner
    ).json()["items"]
    me = client.get("/v1/users/me", headers=owner).json()
    assert len(events) == 1
    event = events[0]
    assert event["actor_type"] == "staff" and event["actor_id"] == me["id"]
    assert event["details"]["table"] == "prompts" and event["details"]["format"] == "parquet"
    assert event["details"]["filters"]["participants"] == ["P-1"]
    assert event["details"]["rows"] == {"prompts": 3} and event["details"]["complete"] is True
    bundles = client.get(
        f"/v1/studies/{study_id}/audit-events", params={"action": "export.bundle"}, headers=owner
    ).json()["items"]
    # One decision point per check-in of a micro-randomized participant (P-1 has two).
    randomized = [p for p in world["people"] if world["arms"][p["id"]] != "assessment"]
    points = len(randomized) + sum(p["pseudonym"] == "P-1" for p in randomized)
    assert bundles[0]["details"]["rows"] == {
        "decision_points": points,
        "participants": 3,
        "allocations": 3,
        "prompts": 9,
        "prompt_attempts": 3,
        "checkins": 4,
        "detections": 4,
        "deliveries": 4,
        "safety_events": 1,
        "plan_versions": 3,
    }


def test_codebook_lists_arms_policies_poles_and_columns(
    client: TestClient, owner: dict, world: dict
) -> None:
    study_id = world["study"]["id"]
    book = client.get(f"/v1/studies/{study_id}/codebook", headers=owner).json()
    assert {arm["policy"] for arm in book["arms"]} == {"tailored", "random", "assessment_only"}
    poles = {p["inflexible"] for p in book["process_poles"]} | {
        p["flexible"] for p in book["process_poles"]
    }
    assert len(poles) == 12 and "experiential_avoidance" in poles and "committed_action" in poles
    assert book["randomization"]["seed"] == world["study"]["randomization_seed"]
    for table in book["tables"]:
        for column in table["columns"]:
            assert column["meaning"] and column["type"]
    markdown = client.get(f"/v1/studies/{study_id}/codebook?format=md", headers=owner)
    assert markdown.headers["content-type"].startswith("text/markdown")
    assert "| `stratum_site` | string |" in markdown.text
    item = next(c for t in book["tables"] for c in t["columns"] if c["name"] == "item_risk")
    assert item["unit"] == "slider 0 to 100" and item["meaning"].startswith("Answer to '")
    assert book["versions"]["rule_sets"] == [1] and book["versions"]["questionnaires"] == [1]
    assert [lib["pinned"] for lib in book["versions"]["skill_libraries"]] == [True]
    assert "`values_remoteness`" in markdown.text


def test_codebook_gives_item_scales_labels_and_feedback_ranges(
    client: TestClient, owner: dict, make_study: Callable
) -> None:
    study = with_every_item_type(client, owner, make_study(activate=False))
    url = f"/v1/studies/{study['id']}/codebook"
    book = client.get(url, headers=owner).json()
    columns = {(t["name"], c["name"]): c for t in book["tables"] for c in t["columns"]}
    mood = columns["checkins", "item_mood"]
    assert mood["unit"] == "likert 1 to 7"
    assert mood["labels"] == {"1": "Very low", "7": "Very good"}
    where = columns["checkins", "item_where"]
    assert where["values"] == ["home", "work"]
    assert where["labels"] == {"home": "At home", "work": "At work"}
    assert "Anything else?" in columns["checkins", "item_note"]["meaning"]
    assert columns["detections", "distress"]["unit"].startswith("0 to 100")
    assert columns["deliveries", "distress_after"]["unit"] == "0 to 100"
    assert columns["deliveries", "helpfulness"]["unit"] == "0 to 10"
    assert columns["safety_events", "tier"]["values"] == ["high", "medium", "low"]
    markdown = client.get(url, params={"format": "md"}, headers=owner).text
    assert "| likert 1 to 7 |  | 1 = Very low; 7 = Very good |" in markdown
    assert "| home, work | home = At home; work = At work |" in markdown
    assert "| `tier` | string |  | high, medium, low |" in markdown
    assert "| `distress_after` | integer | 0 to 100 |" in markdown


@pytest.mark.parametrize("fmt", list(Format))
def test_an_abandoned_export_is_audited_as_incomplete(
    world: dict, db: Engine, session: Session, fmt: Format
) -> None:
    study = session.get_one(Study, uuid.UUID(world["study"]["id"]))
    ctx = service.study_context(session, study)
    job = service.ExportJob(db, ctx, fmt, service.Filters(), SYSTEM, START)
    chunks = job.table(TABLES["prompts"])
    assert next(chunks)
    chunks.close()  # the client went away
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "export.table")).one()
    assert event.details["complete"] is False and event.actor_type == "system"
    # The connection went back to the pool in a usable state.
    assert b"".join(job.table(TABLES["prompts"]))


def test_a_bundle_streams_no_empty_chunks_and_tallies_its_rows(
    world: dict, db: Engine, session: Session
) -> None:
    study = session.get_one(Study, uuid.UUID(world["study"]["id"]))
    job = service.ExportJob(
        db, service.study_context(session, study), Format.csv, service.Filters(), SYSTEM, START
    )
    chunks = list(job.bundle())
    assert chunks and all(chunks)
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "export.bundle")).one()
    assert job.rows == event.details["rows"] and job.rows["prompts"] == 9


def test_prefetching_hands_over_every_batch_and_the_producers_error() -> None:
    assert list(service.prefetched(iter(range(50)))) == list(range(50))

    def failing() -> Iterator[int]:
        yield 1
        raise RuntimeError("connection lost")

    batches = service.prefetched(failing())
    assert next(batches) == 1
    with pytest.raises(RuntimeError, match="connection lost"):
        next(batches)


# An ISO 8601 date or instant anywhere in a cell (2026-03-02, 2026-03-02T09:00:00Z, ...).
ISO_DATE = re.compile(r"(?<!\d)\d{4}-\d{2}-\d{2}(?!\d)")


def _cells(fmt: str, content: bytes) -> Iterator[Any]:
    if fmt == "csv":
        for row in csv.reader(io.StringIO(content.decode())):
            yield from row
    elif fmt == "ndjson":
        for line in content.decode().splitlines():
            yield from json.loads(line).values()
    else:
        for row in pq.read_table(io.BytesIO(content)).to_pylist():
            yield from row.values()


def fail_one_prompt_by_backoff(session: Session, study_id: str) -> None:
    """A prompt failed as dispatch fails it when retries run past its expiry, with the
    reason the backoff gives."""
    prompt = session.exec(
        select(Prompt).where(
            Prompt.study_id == uuid.UUID(study_id), Prompt.status == PromptStatus.planned
        )
    ).first()
    assert prompt is not None
    decision = decide_retry(
        prompt.expires_at - timedelta(seconds=1), 3, 3600.0, prompt.expires_at, random.Random(1)
    )
    assert decision.retry_at is None and decision.reason
    prompt.status, prompt.status_reason = PromptStatus.failed, decision.reason
    session.add(prompt)
    session.commit()


@pytest.mark.parametrize("fmt", ["csv", "ndjson", "parquet"])
def test_relative_dates_leave_no_date_in_any_cell_of_any_table(
    client: TestClient, owner: dict, world: dict, session: Session, fmt: str
) -> None:
    fail_one_prompt_by_backoff(session, world["study"]["id"])
    bundle = client.get(
        f"/v1/studies/{world['study']['id']}/exports/bundle",
        params={"format": fmt, "dates": "relative"},
        headers=owner,
    )
    archive = zipfile.ZipFile(io.BytesIO(bundle.content))
    book = json.loads(archive.read("codebook.json"))
    for table in book["tables"]:
        content = archive.read(f"{table['name']}.{fmt}")
        assert columns_of(fmt, content) == [c["name"] for c in table["columns"]]
        assert parse(fmt, content), f"{table['name']} has no rows to scan"
        for value in _cells(fmt, content):
            assert not isinstance(value, date), (table["name"], value)
            assert not ISO_DATE.search(str(value)), (table["name"], value)
    assert any("expires before" in str(v) for v in _cells(fmt, archive.read(f"prompts.{fmt}")))


FORMULAS = ['=HYPERLINK("http://x.example")', "+SUM(1,2)", "-2+3", "@cmd", "\tx", "\ry"]


def test_csv_cells_that_a_spreadsheet_would_run_are_neutralised(
    client: TestClient, owner: dict, world: dict, session: Session
) -> None:
    study_id = uuid.UUID(world["study"]["id"])
    prompts = session.exec(
        select(Prompt).where(Prompt.study_id == study_id).order_by(col(Prompt.id))
    ).all()
    given = {}
    for prompt, text in zip(prompts, [*FORMULAS, "plain", "it's = fine"], strict=False):
        prompt.status_reason = given[prompt.id] = text
        session.add(prompt)
    session.commit()
    by_format = {
        fmt: parse(fmt, export(client, world, owner, "prompts", format=fmt).content)
        for fmt in ("csv", "ndjson", "parquet")
    }
    reasons = {fmt: {row["status_reason"] for row in rows} for fmt, rows in by_format.items()}
    assert {"'" + text for text in FORMULAS} | {"plain", "it's = fine"} <= reasons["csv"]
    for fmt in ("ndjson", "parquet"):  # the raw text
        assert set(given.values()) <= reasons[fmt]
    assert not any(r and r[0] in "=+-@\t\r" for r in reasons["csv"])
    # The bundle's CSV is the same file.
    bundle = client.get(
        f"/v1/studies/{study_id}/exports/bundle", params={"format": "csv"}, headers=owner
    )
    member = zipfile.ZipFile(io.BytesIO(bundle.content)).read("prompts.csv")
    assert member == export(client, world, owner, "prompts", format="csv").content
    book = client.get(f"/v1/studies/{study_id}/codebook", headers=owner).json()
    assert "single quote" in book["csv_text"]


def test_a_refused_nul_answer_leaves_every_export_whole(
    client: TestClient, owner: dict, make_study: Callable, enroll: Callable, session: Session
) -> None:
    study = with_every_item_type(client, owner, make_study(activate=False))
    person = enroll(study["id"])
    refused = client.post(
        "/v1/checkins", json=checkin({**FUSED, "note": "a\u0000b"}), headers=person["headers"]
    )
    assert refused.status_code == 422, refused.text
    assert [e["field"] for e in refused.json()["errors"]] == ["body.answers.note"]
    taken = client.post(
        "/v1/checkins", json=checkin({**FUSED, "note": "a b"}), headers=person["headers"]
    )
    assert taken.status_code == 201, taken.text
    url = f"/v1/studies/{study['id']}/exports"
    for fmt in ("csv", "ndjson", "parquet"):
        for table in TABLES:
            response = client.get(f"{url}/{table}", params={"format": fmt}, headers=owner)
            assert response.status_code == 200, (table, fmt)
            parse(fmt, response.content)  # reads back whole
        checkins = parse(
            fmt, client.get(f"{url}/checkins", params={"format": fmt}, headers=owner).content
        )
        assert [row["item_note"] for row in checkins] == ["a b"]
        bundle = client.get(f"{url}/bundle", params={"format": fmt}, headers=owner)
        archive = zipfile.ZipFile(io.BytesIO(bundle.content))
        assert archive.testzip() is None
        assert {f"{table}.{service.EXTENSIONS[Format(fmt)]}" for table in TABLES} <= set(
            archive.namelist()
        )
    events = session.exec(
        select(AuditEvent).where(col(AuditEvent.action).startswith("export."))
    ).all()
    assert events and all(event.details["complete"] for event in events)


def test_a_stream_that_fails_after_its_headers_does_not_end_cleanly(
    db: Engine, settings: Settings, clock: FrozenClock, owner: dict, world: dict, session: Session
) -> None:
    """Served by uvicorn: an export whose query fails mid-stream (here a NUL stored before
    the input boundary refused it, which PostgreSQL's COPY cannot encode) drops the
    connection, so the client sees a cut-off body, not a complete file."""
    if db.dialect.name != "postgresql":
        pytest.skip("SQLite hands the legacy NUL back; only PostgreSQL fails on it")
    row = session.exec(
        select(CheckIn).where(CheckIn.study_id == uuid.UUID(world["study"]["id"]))
    ).first()
    assert row is not None
    row.answers = {**row.answers, "cognition_fused": "a\x00b"}
    session.add(row)
    session.commit()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, db, clock), log_level="critical", lifespan="off")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{port}/v1/studies/{world['study']['id']}/exports"
        with httpx.Client(timeout=10) as http:
            for path, params in (("checkins", {}), ("bundle", {"format": "csv"})):
                with http.stream("GET", f"{url}/{path}", params=params, headers=owner) as response:
                    assert response.status_code == 200
                    with pytest.raises(httpx.RemoteProtocolError):
                        response.read()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        listener.close()
    events = session.exec(
        select(AuditEvent).where(col(AuditEvent.action).startswith("export."))
    ).all()
    assert events and not any(event.details["complete"] for event in events)


AWKWARD_TEXT = ['a, "quoted"\nline', "", "é, \r\nend", None, "cr\ronly", *FORMULAS]
AWKWARD_NUMBERS = [30.0, 33.5, 0.1 + 0.2, 1e-05, 1e15, 1234567890123456.5, -0.0, 1e16, 0.0001]


def test_copy_and_the_csv_writer_write_the_same_bytes(
    db: Engine, world: dict, session: Session
) -> None:
    """PostgreSQL's COPY (absolute dates) and the csv module (SQLite, relative dates) must
    give the same file for the same rows: numbers, empty strings, NULLs, booleans, JSON."""
    if db.dialect.name != "postgresql":
        pytest.skip("COPY is PostgreSQL's")
    study_id = uuid.UUID(world["study"]["id"])
    detections = session.exec(select(Detection).where(Detection.study_id == study_id)).all()
    for n, detection in enumerate(detections):
        poles = sorted(detection.scores) or ["cognitive_fusion"]
        detection.scores = {
            pole: AWKWARD_NUMBERS[(n + i) % len(AWKWARD_NUMBERS)] for i, pole in enumerate(poles)
        }
        detection.reason = AWKWARD_TEXT[n % 3] or ""
        detection.distress = AWKWARD_NUMBERS[n % len(AWKWARD_NUMBERS)]
        detection.fired = ['x, "y"', "é\n"]
    for n, checkin_row in enumerate(
        session.exec(select(CheckIn).where(CheckIn.study_id == study_id))
    ):
        checkin_row.answers = {**checkin_row.answers, "cognition_fused": [30, 33.5, 7][n % 3]}
        checkin_row.late = n % 2 == 0
    for n, prompt in enumerate(session.exec(select(Prompt).where(Prompt.study_id == study_id))):
        prompt.status_reason = AWKWARD_TEXT[n % len(AWKWARD_TEXT)]
    for delivery in session.exec(select(Delivery).where(Delivery.study_id == study_id)):
        delivery.probabilities = {"é": 0.25, 'q"uote': 0.75}
        delivery.draw = None
    session.commit()
    ctx = service.study_context(session, session.get_one(Study, study_id))
    files = {}
    with service.read_connection(db) as connection:
        for spec in TABLES.values():
            args = (connection, spec, ctx, Format.csv, service.Filters(), lambda _: None)
            copied = b"".join(service.table_chunks(*args))
            assert copied == b"".join(service.client_chunks(*args)), spec.name
            files[spec.name] = copied.decode()
    # The rows did hold what makes the two differ when they are not made to agree.
    assert ",33.5," in files["checkins"] and ",30," in files["checkins"]
    for number in ("1e-05", "1e+15", "1.2345678901234565e+15", "-0", "0.30000000000000004"):
        assert number in files["detections"]
    assert '"a, ""quoted""\nline"' in files["detections"] and ',""\n' not in files["prompts"]
    assert '"cr\ronly"' in files["prompts"] and ",'-2+3\n" in files["prompts"]
    assert "true" in files["checkins"] and "false" in files["checkins"]
    assert '"{""\\u00e9"": 0.25' in files["deliveries"]
