"""What the battles tell whoever watches them run: the observer port, and the battle a log line
belongs to.

The services and the model gateway report what happened through ``Observer`` (a battle started,
a verse took so long, a provider failed with a status, ...) and never learn who listens: the bot
hands them its Prometheus metrics (bot/ops/metrics.py), everything else gets ``NO_OBSERVER``.
Every argument is a number or a bounded name (a model id from the catalog, a status, an
``Ending``): never a user id or free text, so an adapter may use any of them as a label.

The battle a piece of work belongs to is kept in a context variable, set at the top of each
battle's and vote's task (``battle_context``); tasks started from there inherit it, so every log
line a battle causes can say which server and battle it was (bot/ops/logs.py).
"""

from __future__ import annotations

import contextvars
import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from bot.engine.lifecycle import BattleState


class Ending(enum.Enum):
    """How a battle ended, as the metrics count it: a counted vote's result, or the state a
    battle ended in without one."""

    WON = "won"
    DRAW = "draw"
    NO_VOTES = "no_votes"
    NO_CONTEST = "no_contest"
    STOPPED = "stopped"
    INTERRUPTED = "interrupted"
    VOTE_FAILED = "vote_failed"

    @classmethod
    def without_vote(cls, state: BattleState) -> Ending:
        """The ending of a battle that stopped in ``state`` before any vote."""
        return {
            BattleState.STOPPED: cls.STOPPED,
            BattleState.INTERRUPTED: cls.INTERRUPTED,
        }.get(state, cls.NO_CONTEST)


class Observer(Protocol):
    """What happened, as it happens. Implementations must be cheap and never raise."""

    def battle_started(self) -> None: ...

    def battle_finished(self, ending: Ending) -> None: ...

    def verse_written(self, model: str, seconds: float) -> None:
        """A verse arrived whole, ``seconds`` after it was asked for (retries included)."""
        ...

    def verse_posted(self, seconds: float) -> None:
        """A verse was shown: its stage took ``seconds`` to post it (rate limits included)."""
        ...

    def model_failed(self, model: str, status: int | None) -> None:
        """One attempt at a model failed; ``status`` is the provider's HTTP status, or None
        (a timeout, a dropped connection, a garbled answer)."""
        ...

    def votes_counted(self, counted: int, set_aside: Mapping[str, int]) -> None:
        """A vote closed with ``counted`` votes, and these set aside, by reason."""
        ...

    def spent(self, kind: str, usd: float) -> None:
        """Money spent on models: ``kind`` is "verse" or "judge"."""
        ...

    def judged(self, judge: str, seconds: float) -> None:
        """A judge gave its ballot (or abstained) ``seconds`` after it was asked."""
        ...

    def moderation_checked(self, seconds: float) -> None:
        """A verse went through the content filter in ``seconds``."""
        ...


class NoObserver:
    """Nobody watching: every report is dropped."""

    def battle_started(self) -> None:
        pass

    def battle_finished(self, ending: Ending) -> None:
        pass

    def verse_written(self, model: str, seconds: float) -> None:
        pass

    def verse_posted(self, seconds: float) -> None:
        pass

    def model_failed(self, model: str, status: int | None) -> None:
        pass

    def votes_counted(self, counted: int, set_aside: Mapping[str, int]) -> None:
        pass

    def spent(self, kind: str, usd: float) -> None:
        pass

    def judged(self, judge: str, seconds: float) -> None:
        pass

    def moderation_checked(self, seconds: float) -> None:
        pass


NO_OBSERVER: Observer = NoObserver()


@dataclass(frozen=True, slots=True)
class BattleContext:
    """The server and battle a piece of work belongs to, for its log lines."""

    guild_id: int
    battle_id: int


# Read by the JSON log format; set only inside a battle's or vote's own task (its own copy of
# the context), so it never leaks between battles.
_CURRENT_BATTLE: contextvars.ContextVar[BattleContext | None] = contextvars.ContextVar(
    "current_battle", default=None
)


def battle_context(guild_id: int, battle_id: int) -> None:
    """Marks the running task (and the tasks it starts from now on) as this battle's work."""
    _CURRENT_BATTLE.set(BattleContext(guild_id, battle_id))


def current_battle() -> BattleContext | None:
    return _CURRENT_BATTLE.get()
