"""The protocol simulator's time for a whole study, against its ceiling.

The candidate is `run_study` (app/simulate/study.py): every participant enrolled, every
prompt planned and dispatched through the log sender, every answer taken in by the check-in
flow, feedback given, the study analyzed, in a fresh migrated SQLite database. The ceiling
is the bare trial of the same people and plan (app/simulate/bare.py): the same person model,
evaluation, MRT draws and estimator with nothing of the service around them, so the ratio
is what running the real code costs over generating the data. The target is 200
participants x 28 days x 5 prompts in under 2 minutes.

Runs are interleaved pairs (ceiling, candidate, ...), each in a process of its own with a
timeout; times are reported as min/median/max with the check-ins per second.

    .venv/bin/python -m bench.simulate                                 (200 x 28 x 5)
    .venv/bin/python -m bench.simulate --participants 20 --days 7 --pairs 3
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _one(kind: str, participants: int, days: int, prompts: int, seed: int) -> dict[str, float]:
    """One timed run, in this process (called as a subprocess by main)."""
    from app.mrt.design import MrtDesign
    from app.rules.process import Dimension
    from app.settings import Settings
    from app.simulate.bare import bare_trial
    from app.simulate.person import PersonModel
    from app.simulate.study import ScratchDatabases, StudyPlan, run_study
    from app.vocabulary import Policy

    plan = StudyPlan(
        participants=participants, days=days, prompts_per_day=prompts, arms=(Policy.tailored,)
    )
    design = MrtDesign(
        probability=plan.probability,
        outcome="next_need",
        outcome_dimension=Dimension.emotion,
        outcome_hours=plan.outcome_hours,
    )
    with tempfile.TemporaryDirectory() as scratch:
        databases = ScratchDatabases(Path(scratch))  # migrated before the clock starts
        started = time.perf_counter()
        if kind == "ceiling":
            trial = bare_trial(PersonModel(), participants, days, prompts, design, seed)
            checkins = len(trial.data.ids)
        else:
            with databases.fresh("bench") as engine:
                checkins = run_study(engine, plan, seed, Settings()).checkins
        return {"seconds": time.perf_counter() - started, "checkins": checkins}


def _timed(kind: str, args: argparse.Namespace) -> dict[str, float] | None:
    command = [sys.executable, "-m", "bench.simulate", "--one", kind]
    command += ["--participants", str(args.participants), "--days", str(args.days)]
    command += ["--prompts", str(args.prompts), "--seed", str(args.seed)]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=args.timeout, check=True
        )
    except subprocess.TimeoutExpired:
        print(f"{kind}: no result within {args.timeout} s", flush=True)
        return None
    found: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"{kind}: {found['seconds']:.1f} s, {found['checkins']:.0f} check-ins", flush=True)
    return found


def _spread(values: list[float]) -> str:
    return f"{min(values):.2f} / {statistics.median(values):.2f} / {max(values):.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=200)
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--prompts", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--pairs", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=1800, help="Seconds per run")
    parser.add_argument("--one", choices=("ceiling", "candidate"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(_one(args.one, args.participants, args.days, args.prompts, args.seed)))
        return
    ceilings, candidates, ratios = [], [], []
    for _ in range(args.pairs):
        ceiling, candidate = _timed("ceiling", args), _timed("candidate", args)
        if ceiling is None or candidate is None:
            continue
        ceilings.append(ceiling["seconds"])
        candidates.append(candidate["seconds"])
        ratios.append(candidate["seconds"] / ceiling["seconds"])
        rate = candidate["checkins"] / candidate["seconds"]
        print(f"  {rate:.1f} check-ins/s through the real code", flush=True)
    if not ratios:
        print("no complete pair")
        return
    size = f"{args.participants} participants x {args.days} days x {args.prompts} prompts"
    print(f"{size} (min / median / max):")
    print(f"  bare trial (ceiling)  {_spread(ceilings)} s")
    print(f"  simulated study       {_spread(candidates)} s (target: under 120 s)")
    print(f"  ratio                 {_spread(ratios)}")


if __name__ == "__main__":
    main()
