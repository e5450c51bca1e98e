"""The scoring rules of server/assessments/scoring.py, without a database: leaf fractions per
rule, groups as normalised weighted means, methods renormalised over those with submissions,
unscored targets, competition ranks on rounded scores, determinism, and a randomised check of
the invariants over many templates."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

import pytest

from server.assessments.models import Method, RuleKind
from server.assessments.scoring import (
    ROOT,
    Indicator,
    Outcome,
    Template,
    rank_all,
    ranked,
    score_target,
    weighted_mean,
)

S, Y, C = RuleKind.SCORE_RANGE, RuleKind.YES_NO, RuleKind.COUNT
SELF, PEER, DEMO, ORG = Method.SELF, Method.PEER, Method.DEMOCRATIC, Method.ORGANIZATIONAL

Submissions = Sequence[tuple[Method, Mapping[str, float]]]


def score_leaf(
    code: str, weight: float, lo: float, hi: float, parent: str | None = None
) -> Indicator:
    return Indicator(code, parent, weight, S, min=lo, max=hi)


def yes_leaf(code: str, weight: float, parent: str | None = None) -> Indicator:
    return Indicator(code, parent, weight, Y)


def count_leaf(
    code: str, weight: float, per_unit: float, cap: float, parent: str | None = None
) -> Indicator:
    return Indicator(code, parent, weight, C, per_unit=per_unit, cap=cap)


def group(code: str, weight: float, parent: str | None = None) -> Indicator:
    return Indicator(code, parent, weight, None)


def flat(weights: Sequence[float]) -> Template:
    """A template of SCORE_RANGE leaves a, b, c, ... on 0-10, all at the top level."""
    return Template([score_leaf(chr(ord("a") + i), w, 0, 10) for i, w in enumerate(weights)])


def one(template: Template, scores: Mapping[str, float], target: int = 1) -> Outcome:
    """A target scored by one SELF submission, SELF the only method."""
    return score_target(template, {SELF: 1.0}, target, [(SELF, scores)])


# -- leaves -------------------------------------------------------------------------------------


def test_score_range_counts_from_its_minimum() -> None:
    leaf = score_leaf("x", 1, 2, 7)
    assert leaf.fraction(2) == 0.0
    assert leaf.fraction(7) == 1.0
    assert leaf.fraction(4.5) == pytest.approx(0.5)
    assert leaf.fraction(3) == pytest.approx(0.2)
    # Not v / max: a leaf at its minimum is worth nothing, however large the minimum.
    assert leaf.fraction(3) != pytest.approx(3 / 7)


def test_yes_no_is_all_or_nothing() -> None:
    leaf = yes_leaf("x", 1)
    assert [leaf.fraction(v) for v in (0, 1, 0.0, 1.0, False, True)] == [0, 1, 0, 1, 0, 1]


def test_count_earns_per_unit_up_to_its_cap() -> None:
    leaf = count_leaf("x", 1, per_unit=2, cap=8)
    assert [leaf.fraction(v) for v in (0, 1, 2, 3, 4)] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert leaf.fraction(5) == 1.0  # 10 points, capped at 8
    assert leaf.fraction(1000) == 1.0
    half = count_leaf("y", 1, per_unit=0.5, cap=3)
    assert half.fraction(3) == pytest.approx(0.5)
    assert half.fraction(7) == 1.0


def test_a_group_has_no_fraction_of_its_own() -> None:
    with pytest.raises(ValueError, match="group"):
        group("g", 1).fraction(1)


def test_leaf_fractions_become_the_breakdown_in_percent() -> None:
    template = Template(
        [score_leaf("range", 1, 50, 100), yes_leaf("yes", 1), count_leaf("count", 1, 3, 10)]
    )
    outcome = one(template, {"range": 80, "yes": 0, "count": 2})
    assert outcome.breakdown == {"range": 60.0, "yes": 0.0, "count": 60.0}
    assert outcome.score == 40.0  # (0.6 + 0 + 0.6) / 3


# -- groups -------------------------------------------------------------------------------------


def test_weights_are_shares_of_their_siblings() -> None:
    scores = {"a": 10, "b": 0, "c": 5}  # fractions 1, 0, 0.5
    percent = flat([30, 20, 50]).fractions(scores)
    shares = flat([0.3, 0.2, 0.5]).fractions(scores)
    assert percent[ROOT] == pytest.approx(0.3 * 1 + 0.2 * 0 + 0.5 * 0.5)
    assert percent == pytest.approx(shares)
    assert one(flat([30, 20, 50]), scores) == one(flat([0.3, 0.2, 0.5]), scores)
    assert one(flat([30, 20, 50]), scores).score == 55.0


def test_weights_need_not_sum_to_one() -> None:
    scores = {"a": 10, "b": 0, "c": 5}
    # 1 : 1 : 2 are shares of 1/4, 1/4, 1/2.
    assert flat([1, 1, 2]).fractions(scores)[ROOT] == pytest.approx((1 + 0 + 2 * 0.5) / 4)
    assert one(flat([1, 1, 2]), scores).score == 50.0
    # Scaling every sibling weight changes nothing.
    assert one(flat([7, 7, 14]), scores) == one(flat([1, 1, 2]), scores)


def test_siblings_with_zero_weights_count_equally() -> None:
    scores = {"a": 10, "b": 0, "c": 5}
    assert flat([0, 0, 0]).fractions(scores)[ROOT] == pytest.approx((1 + 0 + 0.5) / 3)
    assert one(flat([0, 0, 0]), scores).score == 50.0
    # A zero weight beside positive ones is a share of 0, not an equal share.
    assert one(flat([0, 1, 1]), scores).score == 25.0
    assert weighted_mean([(0, 0.2), (0, 0.4)]) == pytest.approx(0.3)


def test_nested_groups_are_means_of_their_children() -> None:
    template = Template(
        [
            group("g1", 3),
            score_leaf("a", 1, 0, 10, parent="g1"),
            yes_leaf("b", 3, parent="g1"),
            group("g2", 1),
            group("g21", 0, parent="g2"),
            count_leaf("c", 0, 1, 4, parent="g21"),
            count_leaf("d", 0, 1, 4, parent="g21"),
            score_leaf("e", 2, 0, 100),
        ]
    )
    scores = {"a": 2, "b": 1, "c": 1, "d": 4, "e": 40}
    g1 = (1 * 0.2 + 3 * 1.0) / 4
    g21 = (0.25 + 1.0) / 2  # zero weights: equal shares
    g2 = g21  # its only child
    root = (3 * g1 + 1 * g2 + 2 * 0.4) / 6
    fractions = template.fractions(scores)
    assert fractions == pytest.approx(
        {ROOT: root, "g1": g1, "g2": g2, "g21": g21, "a": 0.2, "b": 1, "c": 0.25, "d": 1, "e": 0.4}
    )
    outcome = one(template, scores)
    assert outcome.score == round(100 * root, 2)
    # Every indicator, groups included; the template as a whole is the score, not an entry.
    assert set(outcome.breakdown) == {"g1", "a", "b", "g2", "g21", "c", "d", "e"}
    assert ROOT not in outcome.breakdown
    assert outcome.breakdown["g1"] == round(100 * g1, 2)
    assert outcome.breakdown["g21"] == round(100 * g21, 2)


# -- methods ------------------------------------------------------------------------------------


def test_methods_are_means_of_their_submissions() -> None:
    template = flat([1])
    subs: Submissions = [(PEER, {"a": 2}), (PEER, {"a": 8}), (PEER, {"a": 5})]
    outcome = score_target(template, {PEER: 1}, 9, subs)
    assert outcome.methods == {"PEER": 50.0}
    assert outcome.score == 50.0
    assert outcome.submissions == 3


def test_a_method_without_submissions_is_dropped_and_the_rest_renormalised() -> None:
    template = Template([score_leaf("a", 1, 0, 10), yes_leaf("b", 1)])
    weights = {SELF: 0.2, PEER: 0.3, ORG: 0.5}
    subs: Submissions = [
        (SELF, {"a": 9, "b": 1}),  # 0.95
        (ORG, {"a": 4, "b": 0}),  # 0.2
        (ORG, {"a": 6, "b": 1}),  # 0.8
    ]
    outcome = score_target(template, weights, 1, subs)
    self_value, org_value = 0.95, (0.2 + 0.8) / 2
    # By hand: PEER neither counts as 0 nor blocks; 0.2 and 0.5 become 2/7 and 5/7.
    expected = (0.2 * self_value + 0.5 * org_value) / 0.7
    assert outcome.score == round(100 * expected, 2) == 62.86
    assert outcome.methods == {"SELF": 95.0, "ORGANIZATIONAL": 50.0}
    assert outcome.breakdown == {
        "a": round(100 * (0.2 * 0.9 + 0.5 * 0.5) / 0.7, 2),
        "b": round(100 * (0.2 * 1 + 0.5 * 0.5) / 0.7, 2),
    }
    # Counting the missing method as 0 would give less.
    assert outcome.score > round(100 * (0.2 * self_value + 0.5 * org_value), 2)


def test_a_method_the_campaign_does_not_weight_is_ignored() -> None:
    template = flat([1, 1])
    weights = {SELF: 1.0, ORG: 3.0}
    counted: Submissions = [(SELF, {"a": 10, "b": 10}), (ORG, {"a": 0, "b": 5})]
    stray: Submissions = [(PEER, {"a": 0, "b": 0}), (DEMO, {"a": 10, "b": 0})]
    with_stray = score_target(template, weights, 1, [*stray[:1], *counted, *stray[1:]])
    without = score_target(template, weights, 1, counted)
    assert (with_stray.score, with_stray.methods, with_stray.breakdown) == (
        without.score,
        without.methods,
        without.breakdown,
    )
    assert without.score == round(100 * (1.0 * 1.0 + 3.0 * 0.25) / 4, 2)
    # Only unweighted methods: nothing to score.
    only_stray = score_target(template, weights, 2, stray)
    assert only_stray.score is None and only_stray.breakdown == {}


def test_a_target_without_submissions_has_no_score_and_no_rank() -> None:
    template = flat([1])
    outcomes = [
        score_target(template, {SELF: 1}, 1, []),
        score_target(template, {SELF: 1}, 2, [(SELF, {"a": 3})]),
        score_target(template, {SELF: 1}, 3, [(SELF, {"a": 0})]),
        score_target(template, {SELF: 1}, 0, []),
    ]
    assert outcomes[0] == Outcome(1, 0, None)
    listed = rank_all(outcomes)
    assert [(o.target_id, o.score, o.rank) for o in listed] == [
        (2, 30.0, 1),
        (3, 0.0, 2),  # a score of 0 is still a score, and ranked
        (0, None, None),
        (1, None, None),
    ]
    assert [o.target_id for o in ranked(outcomes)] == [2, 3]


# -- ranks --------------------------------------------------------------------------------------


def test_ties_share_a_rank_and_the_next_rank_skips() -> None:
    template = flat([1])
    values = {11: 7, 12: 8, 13: 9, 14: 8, 15: 4, 16: 4, 17: 4, 18: 1}
    outcomes = [score_target(template, {SELF: 1}, t, [(SELF, {"a": v})]) for t, v in values.items()]
    listed = rank_all(outcomes)
    assert [(o.target_id, o.score, o.rank) for o in listed] == [
        (13, 90.0, 1),
        (12, 80.0, 2),  # ties listed by target id
        (14, 80.0, 2),
        (11, 70.0, 4),
        (15, 40.0, 5),
        (16, 40.0, 5),
        (17, 40.0, 5),
        (18, 10.0, 8),
    ]


def test_scores_that_differ_beyond_two_decimals_tie() -> None:
    template = Template([score_leaf("a", 1, 0, 1_000_000)])
    raw = {1: 123_451, 2: 123_454, 3: 123_449, 4: 500_000}
    outcomes = [score_target(template, {ORG: 1}, t, [(ORG, {"a": v})]) for t, v in raw.items()]
    assert template.fractions({"a": raw[1]})[ROOT] != template.fractions({"a": raw[2]})[ROOT]
    listed = rank_all(outcomes)
    assert [(o.target_id, o.score, o.rank) for o in listed] == [
        (4, 50.0, 1),
        (1, 12.35, 2),  # 12.3451 and 12.3454 both show 12.35
        (2, 12.35, 2),
        (3, 12.34, 4),  # 12.3449 shows 12.34
    ]


# -- determinism --------------------------------------------------------------------------------


def star_like() -> Template:
    return Template(
        [
            group("org", 25),
            yes_leaf("complete", 10, parent="org"),
            score_leaf("standard", 10, 0, 10, parent="org"),
            group("acts", 20),
            count_leaf("meetings", 10, 1, 10, parent="acts"),
            count_leaf("honours", 8, 2, 8, parent="acts"),
            score_leaf("satisfaction", 15, 0, 100),
        ]
    )


def random_scores(rng: random.Random) -> dict[str, float]:
    return {
        "complete": rng.randint(0, 1),
        "standard": rng.randint(0, 10),
        "meetings": rng.randint(0, 14),
        "honours": rng.randint(0, 5),
        "satisfaction": rng.uniform(0, 100),
    }


def test_the_same_submissions_in_another_target_order_give_the_same_outcomes() -> None:
    rng = random.Random(2024)
    weights = {SELF: 0.2, PEER: 0.3, DEMO: 0.1, ORG: 0.4}
    submissions: dict[int, list[tuple[Method, dict[str, float]]]] = {
        t: [(rng.choice(list(weights)), random_scores(rng)) for _ in range(rng.randint(0, 5))]
        for t in range(1, 31)
    }
    # Some ties, made on purpose.
    submissions[31] = list(submissions[5])
    submissions[32] = list(submissions[5])

    def outcomes(order: list[int]) -> list[Outcome]:
        return rank_all([score_target(star_like(), weights, t, submissions[t]) for t in order])

    reference = outcomes(sorted(submissions))
    assert any(o.score is None for o in reference) and any(o.score for o in reference)
    for seed in range(5):
        order = sorted(submissions)
        random.Random(seed).shuffle(order)
        assert outcomes(order) == reference
    tied = {o.target_id: o.rank for o in reference if o.target_id in (5, 31, 32)}
    assert len(set(tied.values())) == 1 and None not in tied.values()


# -- invariants over random templates -----------------------------------------------------------


def random_template(rng: random.Random) -> Template:
    """A tree in position order (parents before their children), groups never empty."""
    indicators: list[Indicator] = []
    counter = iter(range(10_000))

    def weight() -> float:
        return rng.choice([0.0, 0.5, 1.0, 3.0, 10.0, 25.0, rng.uniform(0, 50)])

    def leaf(parent: str | None) -> None:
        code = f"l{next(counter)}"
        kind = rng.choice([S, Y, C])
        if kind is S:
            lo = rng.choice([0.0, 1.0, -5.0, rng.uniform(-50, 50)])
            hi = lo + rng.choice([1.0, 10.0, 100.0, rng.uniform(0.5, 200)])
            indicators.append(score_leaf(code, weight(), lo, hi, parent))
        elif kind is Y:
            indicators.append(yes_leaf(code, weight(), parent))
        else:
            per_unit = rng.choice([0.5, 1.0, 2.0, rng.uniform(0.1, 5)])
            cap = rng.choice([1.0, 8.0, 12.0, rng.uniform(0.5, 30)])
            indicators.append(count_leaf(code, weight(), per_unit, cap, parent))

    def subtree(parent: str | None, depth: int) -> None:
        for _ in range(rng.randint(1, 4)):
            if depth < 3 and rng.random() < 0.35:
                code = f"g{next(counter)}"
                indicators.append(group(code, weight(), parent))
                subtree(code, depth + 1)
            else:
                leaf(parent)

    subtree(None, 0)
    return Template(indicators)


def random_values(rng: random.Random, template: Template) -> dict[str, float]:
    values: dict[str, float] = {}
    for ind in template.indicators:
        if ind.rule is S:
            assert ind.min is not None and ind.max is not None
            values[ind.code] = rng.choice([ind.min, ind.max, rng.uniform(ind.min, ind.max)])
        elif ind.rule is Y:
            values[ind.code] = rng.randint(0, 1)
        elif ind.rule is C:
            values[ind.code] = rng.choice([0, rng.randint(0, 5), rng.randint(0, 100)])
    return values


@pytest.mark.parametrize("seed", range(8))
def test_random_templates_keep_the_invariants(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(60):
        template = random_template(rng)
        codes = {i.code for i in template.indicators}
        top = template.children[ROOT]
        methods = rng.sample(list(Method), rng.randint(1, 4))
        weights = {
            m: rng.choice([0.1, 0.2, 0.3, 1.0, 30.0, rng.uniform(0.01, 10)]) for m in methods
        }
        submitting = [m for m in Method if rng.random() < 0.7]  # unweighted ones included
        outcomes = []
        for target in range(rng.randint(1, 6)):
            subs = [
                (rng.choice(submitting), random_values(rng, template))
                for _ in range(rng.randint(0, 6) if submitting else 0)
            ]
            outcome = score_target(template, weights, target, subs)
            outcomes.append(outcome)
            assert outcome.submissions == len(subs)
            used = {m for m, _ in subs if m in weights}
            if not used:
                assert outcome.score is None and outcome.methods == {}
                continue
            assert outcome.score is not None
            assert 0.0 <= outcome.score <= 100.0
            assert set(outcome.methods) == {m.value for m in used}
            assert all(0.0 <= v <= 100.0 for v in outcome.methods.values())
            # The weighted mean of the method scores, renormalised over the methods present
            # (each method score is rounded, so allow a rounding step).
            expected = sum(weights[m] * outcome.methods[m.value] for m in used) / sum(
                weights[m] for m in used
            )
            assert outcome.score == pytest.approx(expected, abs=0.0101)
            # And the weighted mean of its top-level indicators.
            assert set(outcome.breakdown) == codes
            assert all(0.0 <= v <= 100.0 for v in outcome.breakdown.values())
            from_top = weighted_mean([(i.weight, outcome.breakdown[i.code]) for i in top])
            assert outcome.score == pytest.approx(from_top, abs=0.0101)
        listed = rank_all(outcomes)
        assert sorted(o.target_id for o in listed) == sorted(o.target_id for o in outcomes)
        scored = [o for o in listed if o.score is not None]
        assert listed[: len(scored)] == scored
        for position, o in enumerate(scored, start=1):
            better = sum(1 for p in scored if (p.score or 0) > (o.score or 0))
            assert o.rank == better + 1 <= position
