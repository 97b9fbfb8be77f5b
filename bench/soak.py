"""Memory under a steady mixed load: the resident memory of a real server process.

One server process (the real app under uvicorn, its scheduler running in process: plan,
dispatch through firebase-admin to the fake FCM server, expire, reap, review) takes, for
`--minutes`, a steady mix from a load generator in this process: `--rate` check-ins per
second (participants in turn), a prompt list and a skill's feedback for every other
check-in. Every response must be a 2xx: any other status or a transport error counts as
an error (the run reports them; the target is zero). The server's resident memory (VmRSS)
is sampled every `--sample` seconds; the growth after the first minute (the highest
sample after it minus the sample at one minute) is the figure, target at most 10 MiB.

    .venv/bin/python -m bench.soak                       (10 minutes on each database)
    .venv/bin/python -m bench.soak --database sqlite --minutes 3 --rate 10
"""

import argparse
import asyncio
import itertools
import os
import signal
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
import uvicorn
from pydantic import SecretStr

from app.db import make_engine
from app.migrate import upgrade
from app.settings import Settings
from bench.common import enrolled_study, server_process, throwaway_database
from tests.fakes.fcm import FakeFcm

PASSWORD = "soak-password-long-enough"
SERVER_START_TIMEOUT = 300.0
REQUEST_TIMEOUT = 30.0
WARM_UP = 60.0  # seconds: growth is counted after the first minute
TARGET_MIB = 10.0
ANSWERS = {
    "emotion_avoid": 30, "emotion_open": 70, "cognition_fused": 90, "cognition_defused": 10,
    "attention_stuck": 30, "attention_present": 70, "self_content": 30, "self_context": 70,
    "values_remote": 30, "values_clear": 70, "behavior_stuck": 30, "behavior_acting": 70,
    "distress": 20, "risk": 0,
}  # fmt: skip
# Random prompts all day long, so the dispatcher has pushes to send during the soak.
SCHEDULE = {
    "min_gap_minutes": 20,
    "windows": [
        {"start": "00:00", "end": "11:59", "count": 24},
        {"start": "12:00", "end": "23:59", "count": 24},
    ],
    "last_day": 28,
    "expiry_minutes": 30,
    "reminder_minutes": [10],
}


def _settings(url: str, var_dir: str, fcm: tuple[str, str]) -> Settings:
    credentials, endpoint = fcm
    return Settings(
        database_url=url,
        var_dir=Path(var_dir),
        secret_key=SecretStr("soak-signing-secret-that-is-long-enough-for-hs256"),
        scheduler_enabled=True,
        push_sender="fcm",
        fcm_credentials_file=Path(credentials),
        fcm_endpoint=endpoint,
        password_time_cost=1,
        password_memory_kib=64,
    )


def serve(url: str, port: int, var_dir: str, credentials: str, endpoint: str, trace: bool) -> None:
    """The server process: the real app, as `kairos serve` runs it. With `trace`, each
    SIGUSR1 writes to its log the allocations that grew most since the one before."""
    from app.main import create_app

    settings = _settings(url, var_dir, (credentials, endpoint))
    app = create_app(settings, make_engine(url))
    if trace:
        tracemalloc.start(6)  # after the imports: only what the load allocates
        snapshots = [tracemalloc.take_snapshot()]

        def report(signum: int, frame: FrameType | None) -> None:
            snapshots.append(tracemalloc.take_snapshot())
            grown = snapshots[-1].compare_to(snapshots[-2], "traceback")[:12]
            for stat in grown:
                print(f"grew {stat.size_diff / 1024:.0f} KiB in {stat.count_diff} blocks:")
                print("\n".join(stat.traceback.format(limit=8)), flush=True)

        signal.signal(signal.SIGUSR1, report)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


@contextmanager
def server(url: str, var_dir: str, fcm: tuple[str, str], trace: bool) -> Iterator[tuple[str, int]]:
    """The server process on a free port (its base URL and pid); its log in var_dir."""
    command = [sys.executable, "-m", "bench.soak", "--serve", "--url", url]
    command += ["--var-dir", var_dir, "--credentials", fcm[0], "--endpoint", fcm[1]]
    command += ["--trace-memory"] if trace else []
    log = Path(var_dir, "server.log")
    with server_process(command, log, "/openapi.json", SERVER_START_TIMEOUT) as running:
        yield running


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def set_up_study(url: str, var_dir: str, base: str, fcm: tuple[str, str], people: int) -> list[str]:
    """An active study with a schedule and `people` enrolled participants with a device;
    their tokens."""
    with httpx.Client(base_url=base, timeout=REQUEST_TIMEOUT) as client:
        _, tokens = enrolled_study(
            make_engine(url),
            _settings(url, var_dir, fcm),
            client,
            email="soak@example.org",
            password=PASSWORD,
            name="Soak",
            participants=people,
            schedule=SCHEDULE,
        )
        for n, token in enumerate(tokens):
            client.put(
                "/v1/me/device",
                json={"token": f"soak-device-{n}", "platform": "android"},
                headers={"Authorization": f"Bearer {token}"},
            ).raise_for_status()
    time.sleep(1.1)  # answered_at (now) must not precede enrollment
    return tokens


class Load:
    """The steady mix; counts requests and errors (anything but a 2xx)."""

    def __init__(self, base: str, tokens: list[str], rate: float) -> None:
        self.base, self.tokens, self.rate = base, tokens, rate
        self.requests = 0
        self.errors: dict[str, int] = {}

    def _error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1

    async def _call(self, client: httpx.AsyncClient, method: str, path: str, **kw: Any) -> Any:
        self.requests += 1
        try:
            response = await client.request(method, path, **kw)
        except httpx.HTTPError as error:
            self._error(f"{method} {path.split('/')[2]}: {type(error).__name__}")
            return None
        if not response.is_success:
            self._error(f"{method} {path.split('/')[2]}: {response.status_code}")
            return None
        return response.json() if response.content else {}

    async def _mix(self, client: httpx.AsyncClient, n: int) -> None:
        headers = {"Authorization": f"Bearer {self.tokens[n % len(self.tokens)]}"}
        body = {
            "client_id": f"soak-{n}",
            "answered_at": datetime.now(UTC).isoformat(),
            "answers": ANSWERS,
        }
        checkin = await self._call(client, "POST", "/v1/checkins", json=body, headers=headers)
        if n % 2:
            return
        await self._call(client, "GET", "/v1/me/prompts", headers=headers)
        delivery = (checkin or {}).get("delivery") or {}
        if delivery.get("id"):
            feedback = {"helpfulness": n % 11, "opened": True, "completed": True}
            path = f"/v1/deliveries/{delivery['id']}/feedback"
            await self._call(client, "POST", path, json=feedback, headers=headers)

    async def run(
        self, seconds: float, pid: int, every: float, trace: bool
    ) -> list[tuple[float, float]]:
        """Send the mix at the rate for `seconds`; the RSS samples (seconds, MiB)."""
        samples = [(0.0, rss_mib(pid))]
        pending: set[asyncio.Task[None]] = set()
        # Idle connections are dropped before uvicorn closes them (after 5 s), so no
        # request goes out on a connection the server is closing.
        limits = httpx.Limits(max_connections=32, keepalive_expiry=2.0)
        timeout = httpx.Timeout(REQUEST_TIMEOUT)
        async with httpx.AsyncClient(base_url=self.base, limits=limits, timeout=timeout) as client:
            began = time.monotonic()
            for n in itertools.count():
                due = began + n / self.rate
                now = time.monotonic()
                if now - began >= seconds:
                    break
                if due > now:
                    await asyncio.sleep(due - now)
                task = asyncio.create_task(self._mix(client, n))
                pending.add(task)
                task.add_done_callback(pending.discard)
                if time.monotonic() - began >= samples[-1][0] + every:
                    samples.append((time.monotonic() - began, rss_mib(pid)))
                    if trace and samples[-2][0] < WARM_UP <= samples[-1][0]:
                        os.kill(pid, signal.SIGUSR1)
            if pending:
                await asyncio.wait(pending, timeout=REQUEST_TIMEOUT * 2)
            for task in list(pending):
                task.cancel()
                self._error("unfinished at the end")
            samples.append((time.monotonic() - began, rss_mib(pid)))
        if trace:
            os.kill(pid, signal.SIGUSR1)
            await asyncio.sleep(10)  # the server takes its snapshot and writes its log
        return samples


def soak(kind: str, url: str, var_dir: str, args: argparse.Namespace) -> bool:
    upgrade(url)
    with FakeFcm() as fcm:
        credentials = str(fcm.service_account_file(Path(var_dir)))
        push = (credentials, fcm.url)
        with server(url, var_dir, push, args.trace_memory) as (base, pid):
            tokens = set_up_study(url, var_dir, base, push, args.participants)
            load = Load(base, tokens, args.rate)
            samples = asyncio.run(load.run(args.minutes * 60, pid, args.sample, args.trace_memory))
        pushes = len(fcm.requests)
    if args.trace_memory:
        print(Path(var_dir, "server.log").read_text())
    rate = load.requests / samples[-1][0]
    print(
        f"{kind}: {load.requests} requests ({rate:.1f}/s), errors {load.errors or 0}; "
        f"{pushes} pushes sent"
    )
    print("  RSS (s: MiB): " + ", ".join(f"{at:.0f}: {mib:.1f}" for at, mib in samples))
    start = min(samples, key=lambda sample: abs(sample[0] - WARM_UP))
    after = [mib for at, mib in samples if at >= start[0]]
    growth = max(after) - start[1]
    print(
        f"  first minute: {start[1] - samples[0][1]:+.1f} MiB; after it: {growth:+.1f} MiB "
        f"(highest {max(after):.1f} MiB; target ≤ {TARGET_MIB:.0f} MiB)"
    )
    return growth <= TARGET_MIB and not load.errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=10.0, help="check-ins per second")
    parser.add_argument("--participants", type=int, default=50)
    parser.add_argument("--sample", type=float, default=15.0, help="seconds between samples")
    parser.add_argument(
        "--trace-memory",
        action="store_true",
        help="trace the server's allocations; what grew after the first minute is in its log",
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    for hidden in ("--url", "--var-dir", "--credentials", "--endpoint"):
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.url, args.port, args.var_dir, args.credentials, args.endpoint, args.trace_memory)
        return
    met = True
    for kind in args.database:
        with tempfile.TemporaryDirectory() as var_dir:
            if kind == "sqlite":
                met &= soak(kind, f"sqlite:///{var_dir}/soak.db", var_dir, args)
            else:
                with throwaway_database() as engine:
                    url = engine.url.render_as_string(hide_password=False)
                    met &= soak(kind, url, var_dir, args)
    sys.exit(0 if met else 1)


if __name__ == "__main__":
    main()
