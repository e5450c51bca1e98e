"""The appraisal's moves: which action takes which state where, and who makes it.

    PLANNED --submit--> UNDER_REVIEW --approve--> EVALUATING --evaluated--> EVALUATED
       ^                     |                                                   |
       +-------return--------+                                  feedback --> COMPLETED

`submit` is the person's, `approve`, `return` and `feedback` the supervisor's, `evaluated` the
system's when the evaluation campaign closes. Records are entered in PLANNED only: not a move,
but refused by the same rule in any other state.
"""

from __future__ import annotations

from typing import Literal

from server.appraisals.models import AppraisalState
from server.errors import BadUserInput

P, R, E, D, C = (
    AppraisalState.PLANNED,
    AppraisalState.UNDER_REVIEW,
    AppraisalState.EVALUATING,
    AppraisalState.EVALUATED,
    AppraisalState.COMPLETED,
)

Action = Literal["submit", "approve", "return", "evaluated", "feedback"]
Who = Literal["person", "supervisor", "system"]

TRANSITIONS: dict[tuple[AppraisalState, str], AppraisalState] = {
    (P, "submit"): R,
    (R, "approve"): E,
    (R, "return"): P,
    (E, "evaluated"): D,
    (D, "feedback"): C,
}
# Who makes each move (records included): the GraphQL layer refuses anyone else.
BY: dict[str, Who] = {
    "record": "person",
    "submit": "person",
    "approve": "supervisor",
    "return": "supervisor",
    "evaluated": "system",
    "feedback": "supervisor",
}
# Actions that leave the state as it is, and the states that take them.
IN_PLACE: dict[str, frozenset[AppraisalState]] = {"record": frozenset({P})}

# "the appraisal is X: it cannot <what>"
_WHAT = {
    "submit": "be submitted",
    "approve": "be approved",
    "return": "be returned",
    "evaluated": "be marked evaluated",
    "feedback": "take feedback",
    "record": "take records",
}


def refused(state: AppraisalState, action: str) -> BadUserInput:
    what = _WHAT.get(action, f"take the action {action!r}")
    return BadUserInput(
        f"the appraisal is {state.value}: it cannot {what}",
        argument="appraisalId",
        state=state.value,
    )


def advance(state: AppraisalState, action: str) -> AppraisalState:
    """The state `action` moves an appraisal in `state` to, or BAD_USER_INPUT."""
    target = TRANSITIONS.get((state, action))
    if target is None:
        raise refused(state, action)
    return target


def allows(state: AppraisalState, action: str) -> None:
    """Nothing if an in-place `action` (record) may happen in `state`, else BAD_USER_INPUT."""
    if state not in IN_PLACE.get(action, frozenset()):
        raise refused(state, action)
