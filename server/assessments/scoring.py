"""Scoring a closed campaign: pure functions of the template version and the submissions.

Same inputs, same results: submissions are taken in id order, sums run in a fixed order, and
ranks break no ties by chance (equal scores share a rank; the listing orders them by target id).

- A leaf's value becomes a fraction of its top: SCORE_RANGE (v - min) / (max - min), YES_NO
  0 or 1, COUNT min(v x per_unit, cap) / cap.
- A group, and the template as a whole, is the weighted mean of its children, each weight
  divided by the sum of its siblings' weights (so weights need not sum to 1; siblings whose
  weights are all 0 count equally).
- A method's value for a target is the mean over that method's submissions.
- The target's values are the weighted mean over the methods that received at least one
  submission, with the campaign's method weights renormalised over those methods: a method
  with no evaluators, or whose evaluators did not submit, neither counts as 0 nor blocks the
  result.
- A target nobody submitted for has no score (None) and no rank.

Scores are reported on 0-100, rounded to 2 decimals; ranks compare the rounded scores, so two
targets that show the same score share a rank (competition ranking: 1, 2, 2, 4).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from server.assessments.models import Method, RuleKind

ROOT = ""  # the template as a whole, in breakdowns


@dataclass(frozen=True, slots=True)
class Indicator:
    code: str
    parent: str | None
    weight: float
    rule: RuleKind | None
    min: float | None = None
    max: float | None = None
    per_unit: float | None = None
    cap: float | None = None

    def fraction(self, value: float) -> float:
        match self.rule:
            case RuleKind.SCORE_RANGE:
                assert self.min is not None and self.max is not None
                return (value - self.min) / (self.max - self.min)
            case RuleKind.YES_NO:
                return 1.0 if value else 0.0
            case RuleKind.COUNT:
                assert self.per_unit is not None and self.cap
                return min(value * self.per_unit, self.cap) / self.cap
        raise ValueError(f"indicator {self.code!r} is a group")


class Template:
    """One template version's indicator tree, in position order."""

    def __init__(self, indicators: Sequence[Indicator]) -> None:
        self.indicators = list(indicators)
        self.children: dict[str, list[Indicator]] = defaultdict(list)
        for ind in self.indicators:
            self.children[ROOT if ind.parent is None else ind.parent].append(ind)
        # Children before their parents: a group's children are scored when it is reached.
        self._bottom_up = [i for i in reversed(self.indicators) if i.code in self.children]

    def fractions(self, scores: Mapping[str, float]) -> dict[str, float]:
        """Every indicator's fraction (groups and ROOT included) for one submission."""
        out = {i.code: i.fraction(scores[i.code]) for i in self.indicators if i.rule is not None}
        for group in self._bottom_up:
            out[group.code] = self._mean(group.code, out)
        out[ROOT] = self._mean(ROOT, out)
        return out

    def _mean(self, parent: str, values: Mapping[str, float]) -> float:
        kids = self.children[parent]
        return weighted_mean([(k.weight, values[k.code]) for k in kids])


def weighted_mean(pairs: Sequence[tuple[float, float]]) -> float:
    """The mean weighted by shares of the total; equal shares when every weight is 0."""
    total = sum(w for w, _ in pairs)
    if total <= 0:
        return sum(v for _, v in pairs) / len(pairs)
    return sum(w * v for w, v in pairs) / total


@dataclass(slots=True)
class Outcome:
    target_id: int
    submissions: int
    score: float | None
    methods: dict[str, float] = field(default_factory=dict)  # method -> 0-100
    breakdown: dict[str, float] = field(default_factory=dict)  # indicator code -> 0-100
    rank: int | None = None


def score_target(
    template: Template,
    weights: Mapping[Method, float],
    target_id: int,
    submissions: Iterable[tuple[Method, Mapping[str, float]]],
) -> Outcome:
    """One target's outcome from its submissions (method, {leaf code: value}), in id order."""
    by_method: dict[Method, list[dict[str, float]]] = defaultdict(list)
    count = 0
    for method, scores in submissions:
        count += 1
        if weights.get(method, 0) > 0:
            by_method[method].append(template.fractions(scores))
    if not by_method:
        return Outcome(target_id, count, None)
    codes = [ROOT, *(i.code for i in template.indicators)]
    means: dict[Method, dict[str, float]] = {
        m: {c: sum(f[c] for f in subs) / len(subs) for c in codes}
        for m, subs in sorted(by_method.items())
    }
    combined = {c: weighted_mean([(weights[m], v[c]) for m, v in means.items()]) for c in codes}
    return Outcome(
        target_id,
        count,
        _percent(combined[ROOT]),
        methods={m.value: _percent(v[ROOT]) for m, v in means.items()},
        breakdown={c: _percent(v) for c, v in combined.items() if c != ROOT},
    )


def _percent(fraction: float) -> float:
    return round(100 * fraction, 2)


def ranked(outcomes: Iterable[Outcome]) -> list[Outcome]:
    """Outcomes by score (best first, then target id), with competition ranks; unscored
    targets last, unranked."""
    scored = sorted(
        (o for o in outcomes if o.score is not None),
        key=lambda o: (-(o.score or 0.0), o.target_id),
    )
    previous: float | None = None
    for position, outcome in enumerate(scored, start=1):
        if outcome.score != previous:
            rank, previous = position, outcome.score
        outcome.rank = rank
    return scored


def rank_all(outcomes: Sequence[Outcome]) -> list[Outcome]:
    """Every outcome, ranked ones first (see `ranked`), unscored ones after by target id."""
    unscored = sorted((o for o in outcomes if o.score is None), key=lambda o: o.target_id)
    return [*ranked(outcomes), *unscored]
