"""The pure parts of the plan: "review suggested" on generated histories, the robust trend,
placeholders, and "from my plan" candidates learned like any skill."""

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from app.plans.content import PlanContent, PlanEntry, plan_words
from app.plans.placeholders import fill, text_problems
from app.plans.review import Adherence, NeedPoint, Offered, ReviewSettings, suggestion
from app.rules.process import Dimension, Pole
from app.skills.default_library import default_library
from app.skills.policies import OwnStrategy, PastDelivery, Personalization, select
from app.vocabulary import Policy

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)
NO_PROMPTS = Adherence(due=0, answered=0)
hours = st.lists(st.integers(1, 30), min_size=9, max_size=30)  # gaps between check-ins
steps = st.lists(st.floats(0, 8), min_size=30, max_size=30)


def history(gaps: list[int], needs: list[float]) -> list[NeedPoint]:
    at, points = T0, []
    for gap, need in zip([0, *gaps], needs, strict=False):
        at += timedelta(hours=gap)
        points.append(
            NeedPoint(at=at, needs={Dimension.cognition: need}, target=Pole.cognitive_fusion)
        )
    return points


@given(gaps=hours, rises=steps, start=st.floats(40, 80))
@settings(max_examples=100, deadline=None)
def test_a_history_that_never_falls_is_flagged(gaps: list, rises: list, start: float) -> None:
    needs = [start + sum(rises[:n]) for n in range(len(gaps) + 1)]  # flat or rising
    found = suggestion(history(gaps, needs), [], NO_PROMPTS, ReviewSettings())
    assert found.reasons == ["no_improvement"]


@given(gaps=hours, falls=st.lists(st.floats(0.5, 8), min_size=30, max_size=30))
@settings(max_examples=100, deadline=None)
def test_a_history_that_keeps_falling_is_not_flagged(gaps: list, falls: list) -> None:
    needs = [95 - sum(falls[:n]) for n in range(len(gaps) + 1)]
    found = suggestion(history(gaps, needs), [], NO_PROMPTS, ReviewSettings())
    assert found.reasons == []
    assert found.evidence["targeted"]["cognition"]["ci_high"] < 0


@given(
    ratings=st.lists(st.integers(0, 10), min_size=0, max_size=12),
    due=st.integers(0, 60),
    answered_share=st.floats(0, 1),
    count=st.integers(0, 20),
)
@settings(max_examples=150, deadline=None)
def test_each_reason_holds_exactly_when_its_rule_does(
    ratings: list, due: int, answered_share: float, count: int
) -> None:
    rules = ReviewSettings()
    falling = history([12] * (count - 1), [90 - 2 * n for n in range(count)]) if count else []
    offered = [Offered(skill_key="five_senses", helpfulness=rating) for rating in ratings]
    adherence = Adherence(due=due, answered=round(due * answered_share))
    reasons = suggestion(falling, offered, adherence, rules).reasons
    if count < rules.min_checkins:
        assert reasons == []
        return
    unhelpful = len(ratings) >= rules.min_ratings and sum(ratings) / len(ratings) < 5
    assert ("unhelpful_skills" in reasons) == unhelpful
    low = due > 0 and adherence.answered / due < rules.adherence_floor
    assert ("low_adherence" in reasons) == low
    assert "no_improvement" not in reasons


def test_an_extreme_check_in_does_not_hide_a_fall() -> None:
    needs = [90 - 3 * n for n in range(12)]
    needs[5] = 100  # one bad moment
    found = suggestion(history([24] * 11, needs), [], NO_PROMPTS, ReviewSettings())
    assert found.reasons == []


def test_placeholders_read_the_plan_then_the_fallback() -> None:
    plan = PlanContent(
        strategies=[
            PlanEntry(id="e1", text="Breathe out slowly"),
            PlanEntry(id="e2", text="Name the story", pole=Pole.cognitive_fusion),
        ]
    )
    words = plan_words(plan)
    fallbacks = {"strategy:defusion": "something that helped", "value": "what matters"}
    text = "{strategy}; {strategy:cognitive_fusion}; {strategy:defusion}; {value}; {{x}}"
    assert (
        text_problems(text, {**fallbacks, "strategy": "a", "strategy:cognitive_fusion": "b"}) == []
    )
    assert fill(text, words, fallbacks) == (
        "Breathe out slowly; Name the story; something that helped; what matters; {x}"
    )
    assert text_problems("{strategy:nowhere}", {}) != []
    assert text_problems("{value}", {}) == ["'{value}' needs a fallback"]
    assert text_problems("a {value", {}) != []


def test_an_own_strategy_is_learned_like_any_skill() -> None:
    library = default_library()
    own = Personalization(
        own_strategies=[OwnStrategy(key="plan:e1", targets=[Pole.cognitive_fusion])]
    )

    def chance(rating: int) -> float:
        # Rated four times, then two other skills (the last two used are left out).
        keys = ["plan:e1"] * 4 + ["five_senses", "feet_on_floor"]
        past = [
            PastDelivery(skill_key=key, helpfulness=rating, sequence=n)
            for n, key in enumerate(keys)
        ]
        decision = select(Policy.tailored, Pole.cognitive_fusion, library, own, past, "s")
        return decision.probabilities["plan:e1"]

    assert chance(10) > 0.6 > 0.2 > chance(0)
    # Only the tailored policy for the strategy's pole offers it.
    other = select(Policy.tailored, Pole.defusion, library, own, [], "s")
    control = select(Policy.random, Pole.cognitive_fusion, library, own, [], "s")
    assert "plan:e1" not in other.candidates + control.candidates
