"""The multi-replica deployment: compose.yaml names only what exists, and two API
processes and two workers on one PostgreSQL serve a load together without double sends."""

import os
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from sqlmodel import col, select, update

from app.auth import service as auth_service
from app.cli import cli
from app.db import make_engine, unit_of_work
from app.migrate import upgrade
from app.scheduling.models import Prompt, PromptAttempt, PromptStatus
from app.settings import Settings
from tests.conftest import PASSWORD, STUDY, create_postgres_database
from tests.fakes.fcm import FakeFcm, slow
from tests.test_checkins import BASE
from tests.test_dispatch import SCHEDULE

ROOT = Path(__file__).parent.parent
# Public images the compose file may use besides the one the Dockerfile builds.
WELL_KNOWN_IMAGES = {"postgres", "caddy"}
KAIROS = Path(sys.executable).parent / "kairos"
START_TIMEOUT = 180.0  # a loaded CI machine starts four Python processes slowly
LOAD_TIMEOUT = 180.0
SECRET = "deploy-test-signing-secret-long-enough-for-hs256"


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return loaded


def test_the_compose_file_names_only_images_commands_and_settings_that_exist() -> None:
    services = _compose()["services"]
    assert {"postgres", "migrate", "api-1", "api-2", "worker-1", "worker-2", "proxy"} <= set(
        services
    )
    commands = {command.name or command.callback.__name__ for command in cli.registered_commands}
    settings = {f"KAIROS_{name.upper()}" for name in Settings.model_fields}
    for name, service in services.items():
        if "build" in service:
            assert service["build"] == "." and (ROOT / "Dockerfile").exists(), name
        else:
            assert service["image"].split(":")[0] in WELL_KNOWN_IMAGES, name
        command = service.get("command")
        if command is not None and command[0] == "kairos":
            assert command[1] in commands, name
        unknown = {key for key in service.get("environment", {}) if key.startswith("KAIROS_")}
        assert unknown - settings == set(), name
    apis = [name for name in services if name.startswith("api-")]
    workers = [name for name in services if name.startswith("worker-")]
    assert len(apis) == 2 and len(workers) == 2
    for name in apis:
        assert services[name]["environment"]["KAIROS_SCHEDULER_ENABLED"] == "false"
    # Each worker is told apart in the prompts' attempt records.
    assert len({services[name]["environment"]["KAIROS_WORKER_ID"] for name in workers}) == 2


def test_the_proxy_sends_requests_to_the_replicas_and_keeps_metrics_inside() -> None:
    caddyfile = (ROOT / "deploy" / "Caddyfile").read_text()
    [upstreams] = [line.split()[1:-1] for line in caddyfile.splitlines() if "reverse_proxy" in line]
    assert {upstream.split(":")[0] for upstream in upstreams} == {"api-1", "api-2"}
    assert "respond /metrics 404" in caddyfile
    proxy = _compose()["services"]["proxy"]
    assert "./deploy/Caddyfile:/etc/caddy/Caddyfile:ro" in proxy["volumes"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Process:
    def __init__(self, name: str, args: list[str], env: dict[str, str], directory: Path) -> None:
        self.name = name
        self.log = directory / f"{name}.log"
        with self.log.open("wb") as log:
            self.popen = subprocess.Popen(
                [str(KAIROS), *args], env=env, cwd=directory, stdout=log, stderr=log
            )

    def alive(self) -> None:
        code = self.popen.poll()
        assert code is None, f"{self.name} exited with {code}:\n{self.log.read_text()[-3000:]}"

    def stop(self) -> None:
        self.popen.terminate()
        try:
            self.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(timeout=10)


def _wait_for(
    what: str, ready: Callable[[], bool], processes: list[Process], timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        for process in processes:
            process.alive()
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _answers(url: str) -> Callable[[], bool]:
    def ready() -> bool:
        try:
            return httpx.get(url, timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    return ready


def _scrape(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = httpx.get(f"{url}/metrics", timeout=5).text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _local_noon_zone(now: datetime) -> str:
    """A zone where it is about noon now: inside anyone's waking hours."""
    east = 12 - now.hour
    return "Etc/GMT" if east == 0 else f"Etc/GMT{'-' if east > 0 else '+'}{abs(east)}"


@contextmanager
def _database() -> Iterator[str]:
    url, drop = create_postgres_database()
    try:
        upgrade(url)
        yield url
    finally:
        drop()


@pytest.mark.postgres
def test_two_replicas_and_two_workers_serve_a_load_together(
    tmp_path: Path, fake_fcm: FakeFcm
) -> None:
    with _database() as database_url, ExitStack() as stack:
        env = {
            **os.environ,
            "KAIROS_DATABASE_URL": database_url,
            "KAIROS_SECRET_KEY": SECRET,
            "KAIROS_VAR_DIR": str(tmp_path / "var"),
            "KAIROS_PASSWORD_TIME_COST": "1",
            "KAIROS_PASSWORD_MEMORY_KIB": "64",
            "KAIROS_LOG_FORMAT": "json",
            "KAIROS_PUSH_SENDER": "fcm",
            "KAIROS_FCM_CREDENTIALS_FILE": str(fake_fcm.service_account_file(tmp_path)),
            "KAIROS_FCM_ENDPOINT": fake_fcm.url,
            # Small batches: a backlog takes several claims, so both workers get some.
            "KAIROS_DISPATCH_BATCH_SIZE": "2",
        }
        apis, workers = [], []
        for number in (1, 2):
            port = _free_port()
            api = Process(
                f"api-{number}",
                ["serve", "--host", "127.0.0.1", "--port", str(port)],
                {**env, "KAIROS_SCHEDULER_ENABLED": "false"},
                tmp_path,
            )
            stack.callback(api.stop)
            apis.append((api, f"http://127.0.0.1:{port}"))
            metrics_port = _free_port()
            worker = Process(
                f"worker-{number}",
                ["worker"],
                {
                    **env,
                    "KAIROS_WORKER_ID": f"worker-{number}",
                    "KAIROS_WORKER_METRICS_PORT": str(metrics_port),
                },
                tmp_path,
            )
            stack.callback(worker.stop)
            workers.append((worker, f"http://127.0.0.1:{metrics_port}"))
        everyone = [process for process, _ in [*apis, *workers]]
        for _, url in apis:
            _wait_for(f"{url}/readyz", _answers(f"{url}/readyz"), everyone, START_TIMEOUT)
        for _, url in workers:
            _wait_for(f"{url}/metrics", _answers(f"{url}/metrics"), everyone, START_TIMEOUT)
        [one, two] = [httpx.Client(base_url=url, timeout=10) for _, url in apis]
        stack.callback(one.close)
        stack.callback(two.close)

        settings = Settings(database_url=database_url, secret_key=SECRET)
        engine = make_engine(database_url)
        stack.callback(engine.dispose)
        now = datetime.now(UTC)
        with unit_of_work(engine) as session:
            auth_service.create_user(
                session, settings, email="owner@example.org", password=PASSWORD, full_name=None,
                now=now,
            )  # fmt: skip
        signed_in = one.post(
            "/v1/auth/token", data={"username": "owner@example.org", "password": PASSWORD}
        )
        assert signed_in.status_code == 200, signed_in.text
        owner = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}
        study = one.post("/v1/studies", json=STUDY, headers=owner).json()
        put = two.put(
            f"/v1/studies/{study['id']}/schedule", json={"schedule": SCHEDULE}, headers=owner
        )
        assert put.status_code == 200, put.text
        assert one.post(f"/v1/studies/{study['id']}/activate", headers=owner).status_code == 200

        zone = _local_noon_zone(now)

        def join(number: int) -> dict[str, str]:
            # Created on one replica, enrolled and registered on the other.
            here, there = (one, two) if number % 2 else (two, one)
            created = here.post(
                f"/v1/studies/{study['id']}/participants", json={"timezone": zone}, headers=owner
            )
            assert created.status_code == 201, created.text
            code = created.json()["enrollment"]["code"]
            enrolled = there.post("/v1/enroll", json={"code": code})
            assert enrolled.status_code == 201, enrolled.text
            headers = {"Authorization": f"Bearer {enrolled.json()['token']}"}
            token = f"deploy-{number}"
            fake_fcm.script(token, [slow(0.3)] * 20)
            device = {"token": token, "platform": "android"}
            assert here.put("/v1/me/device", json=device, headers=headers).status_code == 200
            return headers

        def check_in(person: tuple[int, dict[str, str]]) -> int:
            number, headers = person
            body = {
                "client_id": uuid.uuid4().hex,
                "answered_at": datetime.now(UTC).isoformat(),
                "answers": BASE,
            }
            replica = one if number % 2 else two
            return replica.post("/v1/checkins", json=body, headers=headers).status_code

        with ThreadPoolExecutor(max_workers=4) as pool:
            people = list(pool.map(join, range(12)))
            load = [(number, headers) for number, headers in enumerate(people)] * 2
            assert set(pool.map(check_in, load)) == {201}

        # Both replicas took check-ins (each counts its own).
        taken = [
            _scrape(url).get(("kairos_checkins_total", frozenset({("outcome", "on_time")})), 0)
            for _, url in apis
        ]
        assert sum(taken) == 24 and min(taken) > 0

        # Every planned prompt falls due at once; both workers drain them.
        due = datetime.now(UTC) - timedelta(minutes=1)
        with unit_of_work(engine) as session:
            session.execute(
                update(Prompt)
                .where(col(Prompt.status) == PromptStatus.planned)
                .values(scheduled_at=due, next_push_at=due)
            )
            planned = len(session.exec(select(Prompt.id)).all())
        assert planned >= 24

        def all_sent() -> bool:
            with unit_of_work(engine) as session:
                statuses = session.exec(select(Prompt.status)).all()
            return statuses.count(PromptStatus.sent) == planned

        _wait_for("every prompt sent", all_sent, everyone, LOAD_TIMEOUT)
        with unit_of_work(engine) as session:
            attempts = session.exec(
                select(PromptAttempt.prompt_id, PromptAttempt.worker).where(
                    PromptAttempt.outcome == "sent"
                )
            ).all()
        assert len(attempts) == planned
        assert len({prompt for prompt, _ in attempts}) == planned
        by_worker = Counter(worker for _, worker in attempts)
        assert set(by_worker) == {"worker-1", "worker-2"}, by_worker
        sends = Counter(request.message["data"]["prompt_id"] for request in fake_fcm.requests)
        assert len(sends) == planned and set(sends.values()) == {1}
        lag = "kairos_dispatch_lag_seconds_count"
        assert sum(_scrape(url).get((lag, frozenset()), 0) for _, url in workers) == planned
