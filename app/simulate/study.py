"""One simulated study, run through the real code: the study is set up, activated and
enrolled as staff and phones would do it, the worker's jobs plan and dispatch the prompts
through the log sender, the synthetic participants (app/simulate/person.py) answer them,
take their skills and give feedback, and the study is analyzed and exported, all in process
with an injected clock that steps through the days: nothing sleeps, nothing reads the wall
clock.
"""

import heapq
import itertools
import logging
import math
import shutil
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, computed_field
from scipy import stats
from sqlalchemy import Engine, event
from sqlmodel import Session, col, func, select

from app.access.scope import StudyAccess
from app.audit.service import Actor
from app.auth import service as auth
from app.checkins.models import CheckIn
from app.checkins.schemas import CheckInIn
from app.clock import FrozenClock
from app.db import make_engine, unit_of_work
from app.export import service as exports
from app.export.formats import Format
from app.fields import new_id, seeded_ids
from app.flows import checkins as checkin_flow
from app.flows import participants as participant_flow
from app.flows import studies as study_flow
from app.migrate import upgrade
from app.mrt import service as mrt
from app.mrt.design import MrtDesign
from app.mrt.models import DecisionPoint
from app.push.base import PushMessage, PushResult
from app.push.log import LogSender
from app.rules.items import Answer, Item, default_items
from app.rules.process import Dimension, Pole
from app.rules.schema import default_rule_set
from app.scheduling import service as scheduling
from app.scheduling.dispatch import OPEN, dispatch_once, expire_prompts
from app.scheduling.models import Prompt
from app.scheduling.schedule import Schedule, Window
from app.settings import Settings
from app.simulate.person import Person, PersonModel, new_person
from app.skills.default_library import default_library
from app.skills.schemas import FeedbackIn
from app.studies import participants as participant_service
from app.studies.models import Arm, Study
from app.studies.schemas import ArmIn, ParticipantCreate, StudyCreate
from app.vocabulary import Policy, Role

_log = logging.getLogger("kairos.simulate")

MRT_ARM = "tailored"
TICK = timedelta(minutes=10)  # how often the worker's jobs run in simulated time
PLAN_EVERY = timedelta(hours=6)
FEEDBACK_AFTER = timedelta(minutes=15)
DAY_START, DAY_END = 9, 21  # the prompts' windows, local hours


class StudyPlan(BaseModel):
    """The simulated protocol: who, how long, how often, which arms, and the MRT design."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    participants: int = Field(default=60, ge=2, le=5000)
    days: int = Field(default=14, ge=1, le=365)
    prompts_per_day: int = Field(default=5, ge=1, le=12)
    arms: tuple[Policy, ...] = Field(
        default=(Policy.tailored, Policy.random, Policy.assessment_only), min_length=1
    )
    probability: float = Field(default=0.5, gt=0, lt=1, description="The tailored arm's p")
    outcome_dimension: Dimension = Dimension.emotion
    outcome_hours: int = Field(default=4, ge=1, le=72)
    timezone: str = "Europe/Berlin"
    start: date = date(2026, 3, 2)
    people: PersonModel = Field(default_factory=PersonModel)


class ArmSummary(BaseModel):
    arm: str
    participants: int
    prompts_sent: int
    prompts_answered: int
    mean_need: float = Field(description="Mean of the person means of the outcome's need")
    difference: float | None = Field(description="Minus the assessment-only arm's")
    ci_low: float | None
    ci_high: float | None


class Estimate(BaseModel):
    estimate: float
    std_error: float
    ci_low: float
    ci_high: float
    p_value: float
    truth: float = Field(description="The mean true effect at the analyzed decision points")
    decision_points: int
    available: int

    @property
    def covers(self) -> bool:
        return self.ci_low <= self.truth <= self.ci_high


class StudyResult(BaseModel):
    study_id: uuid.UUID
    seed: int
    checkins: int
    prompts_sent: int
    compliance_first_week: float
    compliance_last_week: float
    arms: list[ArmSummary]
    wcls: Estimate | None = Field(description="None without a micro-randomized arm's data")


class _Sender(LogSender):
    """The log sender, keeping what it sent for the simulated phones to receive."""

    def __init__(self) -> None:
        super().__init__(_log)
        self.inbox: list[PushMessage] = []

    def send(self, messages: Sequence[PushMessage]) -> list[PushResult]:
        self.inbox.extend(messages)
        return super().send(messages)


@dataclass
class _Simulant:
    participant_id: uuid.UUID
    token: str  # the phone's, from enrollment: its requests find the person by it
    arm: Policy
    person: Person
    number: int = 0  # check-ins so far
    sent: int = 0
    answered: int = 0
    sent_by_day: dict[int, int] = field(default_factory=dict)
    answered_by_day: dict[int, int] = field(default_factory=dict)
    needs: list[float] = field(default_factory=list)


@dataclass(order=True)
class _Event:
    at: datetime
    order: int
    act: Callable[[], None] = field(compare=False)


class _World:
    def __init__(self, engine: Engine, plan: StudyPlan, seed: int, settings: Settings) -> None:
        self.engine, self.plan, self.seed, self.settings = engine, plan, seed, settings
        self.zone = ZoneInfo(plan.timezone)
        first = datetime.combine(plan.start, time(7, 0), self.zone).astimezone(UTC)
        self.clock = FrozenClock(first)
        self.start, self.end = first, first + timedelta(days=plan.days)
        self.study_id: uuid.UUID | None = None
        self.sender = _Sender()
        self.items: list[Item] = default_items()
        self.rule_set = default_rule_set(self.items)
        self.targets = {skill.key: skill.targets for skill in default_library()}
        self.events: list[_Event] = []
        self.order = itertools.count()
        self.phones: dict[str, _Simulant] = {}  # by device identifier
        # The true effect of each decision, by participant and deciding check-in.
        self.truth: dict[tuple[uuid.UUID, str], float] = {}

    @property
    def now(self) -> datetime:
        return self.clock.now()

    def day_of(self, at: datetime) -> int:
        return (at.astimezone(self.zone).date() - self.plan.start).days + 1

    def later(self, at: datetime, act: Callable[[], None]) -> None:
        heapq.heappush(self.events, _Event(at, next(self.order), act))

    # --- setting up, as staff and phones do -------------------------------------------

    def set_up(self) -> Study:
        plan, now, settings = self.plan, self.now, self.settings
        with unit_of_work(self.engine) as session:
            user = auth.create_user(
                session,
                settings,
                email=f"simulator-{new_id().hex[:12]}@kairos.invalid",
                password=new_id().hex,
                full_name="Protocol simulator",
                now=now,
            )
            actor = Actor("staff", str(user.id))
            data = StudyCreate(
                name=f"Simulated study (seed {self.seed})",
                default_timezone=plan.timezone,
                arms=[ArmIn(key=policy.value, policy=policy) for policy in plan.arms],
                block_size=len(plan.arms) if len(plan.arms) > 1 else None,
            )
            study = study_flow.create_study(session, user, data, now)
            self.study_id = study.id
            # The allocation, prompt times and skill draws all follow from this seed, so the
            # simulation's seed reproduces the study.
            study.randomization_seed = f"simulation-{self.seed}"
            session.add(study)
            window = (DAY_END - DAY_START) * 60 // plan.prompts_per_day
            schedule = Schedule(
                min_gap_minutes=min(30, window // 2),
                windows=[
                    Window(
                        start=_clock_time(DAY_START * 60 + n * window),
                        end=_clock_time(DAY_START * 60 + (n + 1) * window - 1),
                    )
                    for n in range(plan.prompts_per_day)
                ],
                last_day=plan.days,
                expiry_minutes=min(60, window // 2),
            )
            scheduling.save_schedule(
                session, study, actor, user.id, schedule, {}, now, settings.plan_horizon
            )
            if Policy.tailored in plan.arms:
                design = MrtDesign(
                    probability=plan.probability,
                    min_probability=min(0.1, plan.probability),
                    max_probability=max(0.9, plan.probability),
                    outcome="next_need",
                    outcome_dimension=plan.outcome_dimension,
                    outcome_hours=plan.outcome_hours,
                )
                mrt.save_design(session, study, MRT_ARM, design, actor, now)
            access = StudyAccess(study, Role.owner)
            study_flow.activate_study(session, access, actor, now)
            codes = [
                participant_service.create_participant(
                    session,
                    access,
                    actor,
                    ParticipantCreate(pseudonym=f"S{n:04d}", timezone=plan.timezone),
                    settings.enrollment_code_hours,
                    now,
                )
                for n in range(plan.participants)
            ]
        limit = participant_service.EnrollmentLimit(
            settings.enrollment_max_failures_per_address, settings.enrollment_window_seconds
        )
        people = np.random.SeedSequence(self.seed).spawn(plan.participants)
        for n, ((_created, code), person_seed) in enumerate(zip(codes, people, strict=True)):
            with unit_of_work(self.engine) as session:
                enrolled = participant_flow.enroll(
                    session, code.code, "simulator", limit, now, settings.plan_horizon
                )
                assert not isinstance(enrolled, BaseException), enrolled
                participant, _study, token = enrolled
                participant_flow.register_device(
                    session, participant, f"simulated-phone-{n}", "token", "android", now
                )
                arm = session.get_one(Arm, participant.arm_id)
            person = new_person(plan.people, int(person_seed.generate_state(1)[0]))
            self.phones[f"simulated-phone-{n}"] = _Simulant(
                participant.id, token, arm.policy, person
            )
        return study

    # --- the days ---------------------------------------------------------------------

    def run(self, progress: Callable[[float], None] | None) -> None:
        """Step the clock a tick at a time, running the worker's jobs at each tick where
        they have something to do (nights and quiet hours are skipped, not slept)."""
        next_plan = self.now + PLAN_EVERY
        tick, day, done = self.now, 1, 0.0
        while tick < self.end:
            due = self._next_due()
            # Jump along the tick grid to what comes next: a push or an expiry, an answer
            # or a feedback, the next planning run, or the end.
            following = min(
                at
                for at in (due, next_plan, self.events[0].at if self.events else None, self.end)
                if at is not None
            )
            tick += TICK * max(1, math.ceil((following - tick) / TICK))
            tick = min(tick, self.end)
            while self.events and self.events[0].at <= tick:
                event = heapq.heappop(self.events)
                self._advance(max(event.at, self.now))
                event.act()
            self._advance(tick)
            if self.day_of(tick) != day:
                for _ in range(self.day_of(tick) - day):
                    for simulant in self.phones.values():
                        simulant.person.next_day()
                day = self.day_of(tick)
            if tick >= next_plan:
                with unit_of_work(self.engine) as session:
                    scheduling.plan_prompts(session, tick, self.settings.plan_horizon)
                next_plan = tick + PLAN_EVERY
            self._dispatch()
            expire_prompts(self.engine, tick)
            if progress:
                share = (tick - self.start) / (self.end - self.start)
                progress(share - done)
                done = share

    def _advance(self, to: datetime) -> None:
        self.clock.set(to)

    def _next_due(self) -> datetime | None:
        """When the worker has something to do next: a push or an expiry."""
        with Session(self.engine) as session:
            push, expiry = session.exec(
                select(func.min(Prompt.next_push_at), func.min(Prompt.expires_at)).where(
                    Prompt.study_id == self.study_id, col(Prompt.status).in_(OPEN)
                )
            ).one()
        found = [at for at in (push, expiry) if at is not None]
        return min(found) if found else None

    def _dispatch(self) -> None:
        batch = self.settings.dispatch_batch_size
        lease = timedelta(seconds=self.settings.dispatch_lease_seconds)
        while True:
            stats = dispatch_once(
                self.engine, self.sender, self.now, "simulator", batch=batch, lease=lease
            )
            if stats.claimed < batch:
                break
        for message in self.sender.inbox:
            self._received(message)
        self.sender.inbox.clear()

    def _received(self, message: PushMessage) -> None:
        """A phone got a push: its person answers it or not, a little later."""
        simulant = self.phones[message.device_identifier]
        if message.kind != "prompt" or message.prompt_id is None:
            return
        day = self.day_of(self.now)
        simulant.sent += 1
        simulant.sent_by_day[day] = simulant.sent_by_day.get(day, 0) + 1
        if not simulant.person.answers_prompt(day, self.plan.days):
            return
        left = (message.expires_at - self.now).total_seconds() / 60 - 1
        delay = simulant.person.delay_minutes(max(left, 0))
        prompt_id = uuid.UUID(message.prompt_id)
        self.later(self.now + timedelta(minutes=delay), lambda: self._check_in(simulant, prompt_id))

    def _check_in(self, simulant: _Simulant, prompt_id: uuid.UUID) -> None:
        """The person answers the default check-in, and takes the skill offered or not."""
        person, now, plan = simulant.person, self.now, self.plan
        answered = person.check_in(
            self.items, self.rule_set, plan.outcome_dimension, now, plan.outcome_hours
        )
        if answered.truth is not None:
            self.truth[simulant.participant_id, answered.truth[0]] = answered.truth[1]
        simulant.number += 1
        client_id = f"sim-{simulant.number}"
        day = self.day_of(now)
        simulant.answered += 1
        simulant.answered_by_day[day] = simulant.answered_by_day.get(day, 0) + 1
        with unit_of_work(self.engine) as session:
            participant = participant_service.participant_for_token(session, simulant.token)
            data = CheckInIn(
                client_id=client_id,
                prompt_id=prompt_id,
                answered_at=now,
                answers=dict[str, Answer](answered.answers),
            )
            out, _ = checkin_flow.take_in(
                session, participant, data, now, self.settings.checkin_clock_skew
            )
        if day > 1 and (need := (out.needs or {}).get(plan.outcome_dimension)) is not None:
            simulant.needs.append(need)
        skill = out.delivery.skill
        targets = self._targets(simulant.arm, out.target, skill.key if skill else None)
        completes, effect = person.decided(
            client_id, now, targets, answered.moment, skill is not None
        )
        if skill is not None:
            feedback = FeedbackIn(
                opened=completes,
                completed=completes,
                helpfulness=person.rating(effect) if completes else None,
                distress_after=max(0, answered.answers["distress"] - round(effect))
                if completes
                else None,
            )
            delivery_id = out.delivery.id
            self.later(
                now + FEEDBACK_AFTER, lambda: self._feedback(simulant, delivery_id, feedback)
            )

    def _targets(self, arm: Policy, target: str | None, offered: str | None) -> list[Pole]:
        """What the skill acts on: a tailored skill on the process it was chosen for (the
        same whether it was offered or drawn away), a random one on what it lists."""
        if arm == Policy.tailored:
            return [Pole(target)] if target else []
        return list(self.targets.get(offered, [])) if offered else []

    def _feedback(self, simulant: _Simulant, delivery_id: uuid.UUID, data: FeedbackIn) -> None:
        with unit_of_work(self.engine) as session:
            participant = participant_service.participant_for_token(session, simulant.token)
            checkin_flow.give_feedback(session, participant, delivery_id, data, self.now)

    # --- what the study found ---------------------------------------------------------

    def result(self, study: Study) -> StudyResult:
        simulants = list(self.phones.values())
        by_arm: dict[Policy, list[_Simulant]] = {}
        for simulant in simulants:
            by_arm.setdefault(simulant.arm, []).append(simulant)
        control = [np.mean(s.needs) for s in by_arm.get(Policy.assessment_only, []) if s.needs]
        arms = []
        for policy in self.plan.arms:
            members = by_arm.get(policy, [])
            means = [float(np.mean(s.needs)) for s in members if s.needs]
            difference = low = high = None
            if policy != Policy.assessment_only and len(means) > 1 and len(control) > 1:
                test = stats.ttest_ind(means, control, equal_var=False)
                interval = test.confidence_interval(0.95)
                difference = float(np.mean(means) - np.mean(control))
                low, high = float(interval.low), float(interval.high)
            arms.append(
                ArmSummary(
                    arm=policy.value,
                    participants=len(members),
                    prompts_sent=sum(s.sent for s in members),
                    prompts_answered=sum(s.answered for s in members),
                    mean_need=float(np.mean(means)) if means else math.nan,
                    difference=difference,
                    ci_low=low,
                    ci_high=high,
                )
            )
        first = range(1, min(7, self.plan.days) + 1)
        last = range(max(1, self.plan.days - 6), self.plan.days + 1)
        return StudyResult(
            study_id=study.id,
            seed=self.seed,
            checkins=sum(s.answered for s in simulants),
            prompts_sent=sum(s.sent for s in simulants),
            compliance_first_week=_share(simulants, first),
            compliance_last_week=_share(simulants, last),
            arms=arms,
            wcls=self._wcls(study) if Policy.tailored in self.plan.arms else None,
        )

    def _wcls(self, study: Study) -> Estimate | None:
        with unit_of_work(self.engine) as session:
            try:
                fitted = mrt.analyze(session, study, [], [], None, "simulation")
            except Exception as exc:  # too few points to fit: reported as no estimate
                _log.warning("no WCLS estimate for seed %d: %s", self.seed, exc)
                return None
            analyzed = session.exec(
                select(DecisionPoint.participant_id, CheckIn.client_id)
                .join(CheckIn, col(CheckIn.id) == DecisionPoint.checkin_id)
                .where(
                    DecisionPoint.study_id == study.id,
                    col(DecisionPoint.available),
                    col(DecisionPoint.outcome).is_not(None),
                )
            ).all()
        effect = fitted.effects[0]
        return Estimate(
            estimate=effect.estimate,
            std_error=effect.std_error,
            ci_low=effect.ci_low,
            ci_high=effect.ci_high,
            p_value=effect.p_value,
            truth=float(np.mean([self.truth[row[0], row[1]] for row in analyzed])),
            decision_points=fitted.decision_points,
            available=fitted.available_decision_points,
        )

    def export(self, study: Study, out: Path) -> None:
        """Every table and the codebook, as the API exports them (audited)."""
        with unit_of_work(self.engine) as session:
            ctx = exports.study_context(session, study)
        actor = Actor("system", "simulator")
        job = exports.ExportJob(self.engine, ctx, Format.csv, exports.Filters(), actor, self.now)
        with out.open("wb") as file:
            for chunk in job.bundle():
                file.write(chunk)


def _share(simulants: Sequence[_Simulant], days: range) -> float:
    sent = sum(s.sent_by_day.get(day, 0) for s in simulants for day in days)
    answered = sum(s.answered_by_day.get(day, 0) for s in simulants for day in days)
    return answered / sent if sent else math.nan


def _clock_time(minute: int) -> time:
    return time(minute // 60, minute % 60)


def run_study(
    engine: Engine,
    plan: StudyPlan,
    seed: int,
    settings: Settings,
    *,
    export: Path | None = None,
    progress: Callable[[float], None] | None = None,
) -> StudyResult:
    """Simulate one study in the (migrated) database; the same seed gives the same study,
    row ids included (in a database of its own: ids are unique per database)."""
    with seeded_ids(f"kairos-simulation-{seed}"):
        world = _World(engine, plan, seed, settings)
        study = world.set_up()
        world.run(progress)
        result = world.result(study)
        if export is not None:
            world.export(study, export)
    return result


class Replicates(BaseModel):
    """K simulated studies of one plan: how often the CI covers the truth, how often the
    effect is found."""

    studies: list[StudyResult]
    alpha: float = 0.05

    @property
    def estimates(self) -> list[Estimate]:
        return [s.wcls for s in self.studies if s.wcls is not None]

    @computed_field  # type: ignore[prop-decorator]
    @property
    def coverage(self) -> float:
        found = self.estimates
        return sum(e.covers for e in found) / len(found) if found else math.nan

    @computed_field  # type: ignore[prop-decorator]
    @property
    def power(self) -> float:
        """The share of studies whose test rejects no effect (a study without an estimate
        counts as not finding it)."""
        found = sum(e.p_value < self.alpha for e in self.estimates)
        return found / len(self.studies) if self.studies else math.nan


def _without_syncing(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA synchronous=OFF")


class ScratchDatabases:
    """Fresh SQLite databases, each a copy of one migrated at the start (migrating each
    would cost more than a small simulated study)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.template = directory / "template.db"
        upgrade(f"sqlite:///{self.template}")

    @contextmanager
    def fresh(self, name: str) -> Iterator[Engine]:
        path = self.directory / f"{name}.db"
        shutil.copyfile(self.template, path)
        engine = make_engine(f"sqlite:///{path}")
        # A scratch database need not survive a power cut: no commit waits for the disk.
        event.listen(engine, "connect", _without_syncing)
        try:
            yield engine
        finally:
            engine.dispose()
            for leftover in self.directory.glob(f"{name}.db*"):
                leftover.unlink()


def replicate(
    databases: ScratchDatabases,
    plan: StudyPlan,
    seeds: Sequence[int],
    settings: Settings,
    progress: Callable[[float], None] | None = None,
) -> Replicates:
    """Each seed's study in a fresh database of its own."""
    studies = []
    for seed in seeds:
        with databases.fresh(f"seed-{seed}") as engine:
            studies.append(run_study(engine, plan, seed, settings))
        if progress:
            progress(1)
    return Replicates(studies=studies)
