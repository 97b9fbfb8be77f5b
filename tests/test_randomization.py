from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.studies.randomization import (
    ArmWeight,
    allocate,
    default_block_size,
    shuffled,
    stratum_key,
    uniform_below,
)

arm_sets = st.lists(st.integers(min_value=1, max_value=4), min_size=1, max_size=4).map(
    lambda weights: [ArmWeight(f"arm{i}", w) for i, w in enumerate(weights)]
)


@settings(max_examples=150, deadline=None)
@given(
    arms=arm_sets,
    seed=st.text(min_size=1, max_size=12),
    blocks=st.integers(1, 4),
    multiple=st.integers(1, 3),
)
def test_every_complete_block_respects_the_weights(
    arms: list[ArmWeight], seed: str, blocks: int, multiple: int
) -> None:
    size = default_block_size(arms) // 2 * multiple
    drawn = [allocate(seed, "", n, arms, size).arm_key for n in range(size * blocks)]
    total = sum(arm.weight for arm in arms)
    for block in range(blocks):
        counts = Counter(drawn[block * size : (block + 1) * size])
        for arm in arms:
            assert counts[arm.key] * total == arm.weight * size


@settings(max_examples=100, deadline=None)
@given(arms=arm_sets, seed=st.text(max_size=12), n=st.integers(0, 500))
def test_imbalance_never_exceeds_one_block(arms: list[ArmWeight], seed: str, n: int) -> None:
    size = default_block_size(arms)
    total = sum(arm.weight for arm in arms)
    counts = Counter(allocate(seed, "", i, arms).arm_key for i in range(n))
    for arm in arms:
        expected = n * arm.weight / total
        assert abs(counts[arm.key] - expected) <= size * arm.weight / total


@settings(max_examples=100, deadline=None)
@given(
    arms=arm_sets,
    seed=st.text(max_size=12),
    order=st.lists(st.sampled_from(["site=a", "site=b", "site=a|sex=f"]), max_size=150),
)
def test_interleaved_strata_each_keep_block_balance_on_their_own(
    arms: list[ArmWeight], seed: str, order: list[str]
) -> None:
    size = default_block_size(arms)
    total = sum(arm.weight for arm in arms)
    by_stratum: dict[str, list[str]] = {}
    for stratum in order:  # enrollments arrive interleaved; each takes its stratum's next slot
        sequence = by_stratum.setdefault(stratum, [])
        sequence.append(allocate(seed, stratum, len(sequence), arms).arm_key)
    for stratum, sequence in by_stratum.items():
        # Independent: the same sequence as if this stratum had enrolled alone.
        alone = [allocate(seed, stratum, n, arms).arm_key for n in range(len(sequence))]
        assert sequence == alone
        for block in range(len(sequence) // size):
            counts = Counter(sequence[block * size : (block + 1) * size])
            for arm in arms:
                assert counts[arm.key] * total == arm.weight * size


@settings(max_examples=50, deadline=None)
@given(arms=arm_sets, seed=st.text(max_size=12))
def test_the_same_seed_replays_the_same_sequence(arms: list[ArmWeight], seed: str) -> None:
    first = [allocate(seed, "site=a", n, arms) for n in range(40)]
    assert first == [allocate(seed, "site=a", n, list(reversed(arms))) for n in range(40)]


def test_a_fixed_seed_replays_a_pinned_sequence() -> None:
    # Recorded trials are replayed with this algorithm: a change here must never be an accident.
    equal = [ArmWeight("a", 1), ArmWeight("b", 1), ArmWeight("c", 1)]
    drawn = "".join(allocate("pinned-seed", "site=north", n, equal, 6).arm_key for n in range(12))
    assert drawn == "ccbaabcbabac"
    weighted = [ArmWeight("x", 2), ArmWeight("y", 1)]
    assert "".join(allocate("pinned-seed", "", n, weighted).arm_key for n in range(12)) == (
        "yxxxyxyxyxxx"
    )


@given(items=st.lists(st.integers(), max_size=30), material=st.binary(max_size=16))
def test_shuffled_is_a_permutation(items: list[int], material: bytes) -> None:
    assert sorted(shuffled(items, material)) == sorted(items)


def test_uniform_below_rejects_words_that_would_bias_the_remainder() -> None:
    # 2**64 = 3 * k + 1: the word 2**64 - 1 would make 0 likelier than 1 and 2.
    assert uniform_below(iter([2**64 - 1, 5]), 3) == 2
    assert uniform_below(iter([2**64 - 2]), 3) == (2**64 - 2) % 3


def test_different_seeds_and_strata_give_different_sequences() -> None:
    arms = [ArmWeight("a", 1), ArmWeight("b", 1), ArmWeight("c", 1)]
    sequence = [allocate("seed-1", "", n, arms).arm_key for n in range(60)]
    assert sequence != [allocate("seed-2", "", n, arms).arm_key for n in range(60)]
    assert sequence != [allocate("seed-1", "site=b", n, arms).arm_key for n in range(60)]


def test_stratum_key_is_canonical() -> None:
    assert stratum_key(["site", "sex"], {"sex": "f", "site": "b"}) == "site=b|sex=f"
    assert stratum_key([], {"anything": 1}) == ""


def _arms_by_stratum(client: TestClient, study: dict, headers: dict) -> dict[str, list[str]]:
    rows = client.get(f"/v1/studies/{study['id']}/allocations?limit=200", headers=headers).json()
    by_stratum: dict[str, list[tuple[int, str]]] = {}
    for row in rows["items"]:
        by_stratum.setdefault(row["stratum"], []).append((row["sequence_no"], row["arm_key"]))
    return {key: [arm for _, arm in sorted(rows)] for key, rows in by_stratum.items()}


def _each_arm(times: int) -> Counter[str]:
    """Each of the test study's three (equally weighted) arms `times` times."""
    return Counter({"tailored": times, "random": times, "assessment": times})


def _complete_blocks(sequence: list[str], size: int) -> list[Counter[str]]:
    """How often each arm comes up in each complete block of `sequence`."""
    starts = range(0, len(sequence) - size + 1, size)
    return [Counter(sequence[start : start + size]) for start in starts]


def _replayed(study: dict, stratum: str, length: int) -> list[str]:
    """The first `length` arms of `stratum`, recomputed from what the study records."""
    arms = [ArmWeight(arm["key"], arm["weight"]) for arm in study["arms"]]
    seed, size = study["randomization_seed"], study["block_size"]
    return [allocate(seed, stratum, n, arms, size).arm_key for n in range(length)]


def test_stratified_enrollment_balances_each_stratum_and_replays(
    client: TestClient, owner: dict, make_study: Callable, enroll: Callable
) -> None:
    study = make_study(stratify_by=["site"], block_size=6)
    for n in range(12):
        enroll(study["id"], strata={"site": "north" if n % 3 else "south"})
    allocated = _arms_by_stratum(client, study, owner)
    assert {key: len(arms) for key, arms in allocated.items()} == {"site=north": 8, "site=south": 4}
    assert _complete_blocks(allocated["site=north"], 6) == [_each_arm(2)]
    # The recorded seed replays the recorded sequence exactly.
    for key, sequence in allocated.items():
        assert _replayed(study, key, len(sequence)) == sequence


def test_stratum_values_cannot_make_two_strata_look_alike(
    client: TestClient, owner: dict, make_study: Callable
) -> None:
    study = make_study(stratify_by=["a", "b"])
    url = f"/v1/studies/{study['id']}/participants"
    # Both would read "a=x|b=y|b=z" as a stratum key.
    for strata, field in [({"a": "x|b=y", "b": "z"}, "a"), ({"a": "x", "b": "y|b=z"}, "b")]:
        refused = client.post(url, json={"timezone": "UTC", "strata": strata}, headers=owner)
        assert refused.status_code == 422
        assert [e["field"] for e in refused.json()["errors"]] == [f"body.strata.{field}"]
    allowed = {"a": "Zürich 2", "b": "18-30 f.:_"}
    created = client.post(url, json={"timezone": "UTC", "strata": allowed}, headers=owner)
    assert created.status_code == 201, created.text
    assert created.json()["strata"] == allowed


def test_the_longest_strata_allowed_fit_the_allocation_record(
    client: TestClient, owner: dict, make_study: Callable, enroll: Callable
) -> None:
    factors = [f"factor_{n}".ljust(40, "x") for n in range(5)]
    study = make_study(stratify_by=factors)
    longest = {name: "v" * 50 for name in factors}
    enroll(study["id"], strata=longest)
    stratum = client.get(f"/v1/studies/{study['id']}/allocations", headers=owner).json()
    assert stratum["items"][0]["stratum"] == "|".join(f"{name}={'v' * 50}" for name in factors)
    too_long = {**longest, factors[2]: "v" * 51}
    refused = client.post(
        f"/v1/studies/{study['id']}/participants",
        json={"timezone": "UTC", "strata": too_long},
        headers=owner,
    )
    assert refused.status_code == 422
    assert [e["field"] for e in refused.json()["errors"]] == [f"body.strata.{factors[2]}"]


@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(sites=st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=14))
def test_enrollments_interleaved_across_strata_fill_each_stratum_on_its_own(
    client: TestClient, owner: dict, make_study: Callable, enroll: Callable, sites: list[str]
) -> None:
    study = make_study(stratify_by=["site"], block_size=3)  # a new study per example
    for site in sites:
        enroll(study["id"], strata={"site": site})
    allocated = _arms_by_stratum(client, study, owner)
    assert {key: len(arms) for key, arms in allocated.items()} == {
        f"site={site}": count for site, count in Counter(sites).items()
    }
    for key, sequence in allocated.items():
        # As if the stratum had enrolled alone, so each of its complete blocks is balanced.
        assert sequence == _replayed(study, key, len(sequence))
        assert _complete_blocks(sequence, 3) == [_each_arm(1)] * (len(sequence) // 3)


def test_concurrent_enrollments_all_succeed_and_keep_block_balance(
    client: TestClient, owner: dict, make_study: Callable
) -> None:
    study = make_study(block_size=6)
    threads, per_thread = 12, 3
    codes = []
    for _ in range(threads * per_thread):
        created = client.post(
            f"/v1/studies/{study['id']}/participants", json={"timezone": "UTC"}, headers=owner
        )
        codes.append(created.json()["enrollment"]["code"])
    with ThreadPoolExecutor(max_workers=threads) as pool:
        statuses = list(
            pool.map(lambda code: client.post("/v1/enroll", json={"code": code}).status_code, codes)
        )
    assert statuses == [201] * len(codes)
    sequence = _arms_by_stratum(client, study, owner)[""]
    assert len(sequence) == len(codes)
    assert _complete_blocks(sequence, 6) == [_each_arm(2)] * (len(codes) // 6)


def test_one_code_redeemed_concurrently_enrolls_once(
    client: TestClient, owner: dict, make_study: Callable
) -> None:
    study = make_study()
    created = client.post(
        f"/v1/studies/{study['id']}/participants", json={"timezone": "UTC"}, headers=owner
    )
    code = created.json()["enrollment"]["code"]
    with ThreadPoolExecutor(max_workers=4) as pool:
        statuses = sorted(
            pool.map(lambda _: client.post("/v1/enroll", json={"code": code}).status_code, range(4))
        )
    assert statuses == [201, 422, 422, 422]
