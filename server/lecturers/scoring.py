"""Quiz scoring for live classes: pure functions, no I/O.

The rule (documented in docs/lecturers.md):

- SINGLE choice: the full points for the correct option, 0 for any other.
- MULTIPLE choice: the full points for exactly the correct set; half the points (rounded
  down) for a non-empty part of the correct set with no wrong option (少选得一半); 0 as soon as
  one wrong option is chosen (错选不得分).

Choices are option indexes counted from 0. `checked_choices` turns a participant's answer into
the sorted set that is scored, or BAD_USER_INPUT naming `choices`.
"""

from __future__ import annotations

from collections.abc import Sequence

from server.errors import BadUserInput
from server.lecturers.models import QuestionKind


def score(kind: QuestionKind, correct: Sequence[int], chosen: Sequence[int], points: int) -> int:
    right, picked = set(correct), set(chosen)
    if not picked or picked - right:
        return 0
    if picked == right:
        return points
    if kind is QuestionKind.MULTIPLE:
        return points // 2
    return 0


def checked_choices(
    kind: QuestionKind, options: int, chosen: Sequence[int], *, argument: str = "choices"
) -> list[int]:
    """The chosen option indexes, sorted; BAD_USER_INPUT naming `argument` if they are not
    a valid answer to a question of `kind` with `options` options."""
    if len(set(chosen)) != len(chosen):
        raise BadUserInput(f"{argument} lists an option twice", argument=argument)
    bad = [c for c in chosen if not 0 <= c < options]
    if bad:
        raise BadUserInput(
            f"{argument}: option {bad[0]} does not exist (options are 0 to {options - 1})",
            argument=argument,
        )
    if kind is QuestionKind.SINGLE and len(chosen) != 1:
        raise BadUserInput(
            f"a single-choice question takes exactly one option in {argument}", argument=argument
        )
    if not chosen:
        raise BadUserInput(f"{argument} must name at least one option", argument=argument)
    return sorted(chosen)
