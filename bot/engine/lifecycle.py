"""A battle's lifecycle: its states and the moves allowed between them, in one table.

The store checks every state change against ``MOVES`` before it writes, so no code path can, say,
reopen a closed vote or rate a stopped battle.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping


class BattleState(enum.Enum):
    RUNNING = "running"  # verses are being written and posted
    VOTING = "voting"  # the verses are done; the audience votes until the deadline
    CLOSED = "closed"  # the vote was counted (and rated, if anyone voted)
    NO_CONTEST = "no_contest"  # a model, the channel or the bot failed; nothing is rated
    STOPPED = "stopped"  # someone stopped it
    INTERRUPTED = "interrupted"  # the bot restarted mid-battle

    @property
    def is_final(self) -> bool:
        return not MOVES[self]


MOVES: Mapping[BattleState, frozenset[BattleState]] = {
    BattleState.RUNNING: frozenset(
        {
            BattleState.VOTING,
            BattleState.NO_CONTEST,
            BattleState.STOPPED,
            BattleState.INTERRUPTED,
        }
    ),
    # A vote that cannot be counted at all (its task crashed) ends as a no contest.
    BattleState.VOTING: frozenset({BattleState.CLOSED, BattleState.NO_CONTEST}),
    BattleState.CLOSED: frozenset(),
    BattleState.NO_CONTEST: frozenset(),
    BattleState.STOPPED: frozenset(),
    BattleState.INTERRUPTED: frozenset(),
}

ENDED_WITHOUT_VOTE = (BattleState.NO_CONTEST, BattleState.STOPPED, BattleState.INTERRUPTED)


class IllegalMove(ValueError):
    """A state change the lifecycle does not allow; a bug in the caller, never user input."""


def check_move(current: BattleState, target: BattleState) -> None:
    if target not in MOVES[current]:
        raise IllegalMove(f"A battle cannot move from {current.value} to {target.value}.")
