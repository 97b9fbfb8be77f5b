"""The trial record: replay detects tampering; the command line exports like the API."""

import csv
import io
import json
import zipfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from app.cli import cli
from app.clock import FrozenClock
from app.rules.process import Pole
from app.skills.content import Skill
from app.skills.models import Delivery
from app.skills.policies import Personalization, SkillHistory
from app.skills.policies import select as select_skill
from app.studies.models import Allocation
from app.vocabulary import Policy
from tests.conftest import START
from tests.test_checkins import FUSED, checkin
from tests.test_exports import add_prompts

runner = CliRunner()


@pytest.fixture
def world(
    client: TestClient,
    make_study: Callable,
    enroll: Callable,
    session: Session,
    clock: FrozenClock,
) -> dict[str, Any]:
    study = make_study(stratify_by=["site"], block_size=6)
    people = [
        enroll(study["id"], pseudonym=f"P-{n}", strata={"site": "ab"[n % 2]}) for n in range(8)
    ]
    for person in people:
        add_prompts(session, study["id"], person["id"], 2)
    clock.set(START + timedelta(minutes=2))
    for person in people:
        posted = client.post("/v1/checkins", json=checkin(FUSED), headers=person["headers"])
        assert posted.status_code == 201, posted.text
    return {"study": study["id"]}


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return {"KAIROS_DATABASE_URL": database_url, "KAIROS_VAR_DIR": str(tmp_path / "var")}


def test_replay_reports_a_tampered_allocation(
    client: TestClient, owner: dict, world: dict, session: Session, env: dict
) -> None:
    clean = client.get(f"/v1/studies/{world['study']}/replay", headers=owner).json()
    assert clean == {
        **clean,
        "allocations": 8,
        "mismatches": [],
        "skill_decisions": 8,
        "skill_mismatches": [],
        "ok": True,
    }
    replayed = runner.invoke(cli, ["replay", world["study"]], env=env)
    assert replayed.exit_code == 0, replayed.output
    assert (
        "All 8 allocations, 8 skill decisions and 0 micro-randomized draws replay exactly"
        in replayed.output
    )
    tampered = session.exec(select(Allocation).where(Allocation.sequence_no == 2)).first()
    assert tampered is not None
    honest_arm = tampered.arm_key
    tampered.arm_key = "assessment" if honest_arm != "assessment" else "random"
    session.add(tampered)
    session.commit()
    report = client.get(f"/v1/studies/{world['study']}/replay", headers=owner).json()
    assert report["ok"] is False
    kinds = {(m["kind"], m["recorded"], m["replayed"]) for m in report["mismatches"]}
    assert ("arm", tampered.arm_key, honest_arm) in kinds
    assert ("participant_arm", honest_arm, tampered.arm_key) in kinds
    failed = runner.invoke(cli, ["replay", world["study"]], env=env)
    assert failed.exit_code == 1
    assert f"MISMATCH arm: stratum '{tampered.stratum}' #2" in failed.output


def test_replay_reports_a_tampered_skill_decision(
    client: TestClient, owner: dict, world: dict, session: Session, env: dict
) -> None:
    delivery = session.exec(select(Delivery).where(col(Delivery.skill_key).is_not(None))).first()
    assert delivery is not None
    honest = delivery.skill_key
    delivery.skill_key = next(key for key in [*delivery.candidates, "x"] if key != honest)
    session.add(delivery)
    session.commit()
    report = client.get(f"/v1/studies/{world['study']}/replay", headers=owner).json()
    assert report["ok"] is False and report["mismatches"] == []
    [found] = report["skill_mismatches"]
    assert found["delivery_id"] == str(delivery.id)
    assert found["replayed"]["skill_key"] == honest
    failed = runner.invoke(cli, ["replay", world["study"]], env=env)
    assert failed.exit_code == 1 and f"MISMATCH skill decision {delivery.id}" in failed.output


def test_replay_reports_a_hole_in_the_sequence(
    client: TestClient, owner: dict, world: dict, session: Session
) -> None:
    moved = session.exec(
        select(Allocation).where(Allocation.stratum == "site=a", Allocation.sequence_no == 3)
    ).one()
    moved.sequence_no = 9
    session.add(moved)
    session.commit()
    report = client.get(f"/v1/studies/{world['study']}/replay", headers=owner).json()
    assert ("sequence_gap", "9", "3") in {
        (m["kind"], m["recorded"], m["replayed"]) for m in report["mismatches"]
    }


def test_the_command_line_exports_a_table_and_a_bundle(
    client: TestClient, owner: dict, world: dict, env: dict, tmp_path: Path
) -> None:
    out = tmp_path / "prompts.csv"
    result = runner.invoke(
        cli,
        ["export", world["study"], "--table", "prompts", "--out", str(out), "--arm", "random"],
        env=env,
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert rows and {row["arm"] for row in rows} == {"random"}
    assert f"Wrote {len(rows)} rows" in result.output
    api = client.get(f"/v1/studies/{world['study']}/exports/prompts?arm=random", headers=owner).text
    assert out.read_text() == api
    bundle = tmp_path / "study.zip"
    result = runner.invoke(
        cli,
        ["export", world["study"], "--format", "ndjson", "--out", str(bundle), "--relative-dates"],
        env=env,
    )
    assert result.exit_code == 0, result.output
    names = zipfile.ZipFile(bundle).namelist()
    assert "prompts.ndjson" in names and "codebook.md" in names
    events = client.get(
        f"/v1/studies/{world['study']}/audit-events?action=export.bundle", headers=owner
    ).json()["items"]
    assert events[0]["actor_type"] == "cli" and events[0]["details"]["rows"]["prompts"] == 16
    assert f"Wrote {sum(events[0]['details']['rows'].values())} rows" in result.output


def test_the_command_line_refuses_bad_requests(world: dict, env: dict, tmp_path: Path) -> None:
    out = str(tmp_path / "x.csv")
    for args, message in [
        (["--table", "secrets"], "No export table 'secrets'"),
        (["--participant", "NOBODY"], "no participant 'NOBODY'"),
        (["--arm", "placebo"], "no arm 'placebo'"),
    ]:
        result = runner.invoke(cli, ["export", world["study"], "--out", out, *args], env=env)
        assert result.exit_code == 1 and message in result.output, result.output
    missing = runner.invoke(cli, ["replay", "00000000-0000-0000-0000-000000000000"], env=env)
    assert missing.exit_code == 1 and "No study" in missing.output
    assert not (tmp_path / "x.csv").exists()


PRIVATE = "Call Anna Lindqvist at Elm Street 12"


def test_a_skill_decision_replays_from_the_export_alone(
    client: TestClient, owner: dict, make_study: Callable, enroll: Callable, clock: FrozenClock
) -> None:
    """The deliveries' inputs and the codebook's library skills are all a replay needs; the
    participant's own skills appear without the words written for them."""
    study = make_study(arms=[{"key": "tailored", "policy": "tailored"}])
    person = enroll(study["id"], pseudonym="P-1")
    own_skill = {
        "key": "call_a_friend",
        "title": PRIVATE,
        "steps": [PRIVATE],
        "duration_seconds": 60,
        "targets": ["cognitive_fusion"],
        "modalities": ["social"],
    }
    saved = client.put(
        f"/v1/studies/{study['id']}/participants/{person['id']}/personalization",
        json={"extra_skills": [own_skill], "disabled_skills": ["leaves_on_stream"]},
        headers=owner,
    )
    assert saved.status_code == 200, saved.text
    clock.set(START + timedelta(minutes=2))
    for _ in range(3):
        posted = client.post("/v1/checkins", json=checkin(FUSED), headers=person["headers"])
        assert posted.status_code == 201, posted.text
        clock.advance(timedelta(minutes=1))
    bundle = client.get(
        f"/v1/studies/{study['id']}/exports/bundle", params={"format": "ndjson"}, headers=owner
    )
    assert bundle.status_code == 200, bundle.text
    archive = zipfile.ZipFile(io.BytesIO(bundle.content))
    for name in archive.namelist():
        assert PRIVATE not in archive.read(name).decode(), name
    book = json.loads(archive.read("codebook.json"))
    assert "inputs" in {
        column["name"]
        for table in book["tables"]
        if table["name"] == "deliveries"
        for column in table["columns"]
    }
    libraries = {lib["version"]: lib["skills"] for lib in book["versions"]["skill_libraries"]}

    def skill(fields: dict[str, Any]) -> Skill:  # what selection does not read is filler
        return Skill(**fields, title="-", steps=["-"], duration_seconds=60)

    rows = [json.loads(line) for line in archive.read("deliveries.ndjson").splitlines()]
    assert len(rows) == 3 and rows[-1]["inputs"]["skills"]["recent"]
    for row in rows:
        inputs = row["inputs"]
        assert inputs["personalization"]["extra_skills"] == [
            {key: own_skill[key] for key in ("key", "targets", "modalities")}
        ]
        personalization = {
            **inputs["personalization"],
            "extra_skills": [skill(own) for own in inputs["personalization"]["extra_skills"]],
        }
        replayed = select_skill(
            Policy(row["policy"]),
            Pole(inputs["target"]),
            [skill(fields) for fields in libraries[row["library_version"]]],
            Personalization.model_validate(personalization),
            SkillHistory.model_validate(inputs["skills"]),
            row["seed"],
        )
        assert (replayed.skill_key, replayed.probabilities) == (
            row["skill"],
            row["probabilities"],
        )
    assert "call_a_friend" in {key for row in rows for key in row["candidates"]}
