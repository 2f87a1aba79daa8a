"""What the arena needs from wherever a battle is shown, and how such places are made.

Discord channels, threads, webhooks and test fakes all implement ``BattleStage``; the arena gets
them from a ``StageFactory`` and never imports a chat library.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from bot.engine.battle import Battle, Side
from bot.engine.leaderboard import RatingChange
from bot.engine.spend import CostEstimate
from bot.engine.verdicts import Verdict
from bot.engine.votes import LiveTally, Tally
from bot.services.battles.referee import Stage


class StageError(Exception):
    """The stage refused or failed a post; ``lost_access`` when the bot may no longer post there
    (a permission taken away, the channel deleted), so retrying now is pointless; ``gone`` when
    the place itself is gone (deleted), so retrying ever is."""

    def __init__(self, message: str, *, lost_access: bool = False, gone: bool = False) -> None:
        super().__init__(message)
        self.lost_access = lost_access or gone
        self.gone = gone


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file posted with a message, such as the battle's audio track with its results."""

    filename: str
    data: bytes


class BattleStage(Stage, Protocol):
    """Everything a battle shows, from its title card to its results. Failures raise StageError."""

    @property
    def place_id(self) -> int:
        """Where the battle goes on: the channel, or a thread opened from the title card."""
        ...

    async def post_title_card(
        self,
        battle: Battle,
        starter_mention: str,
        estimate: CostEstimate | None = None,
        *,
        label: str | None = None,
    ) -> None:
        """The battle's title card: with ``estimate`` it shows what the battle may cost, and
        ``label`` says where it stands, e.g. in a tournament."""
        ...

    async def post_vote(
        self,
        battle: Battle,
        emoji: Mapping[Side, str],
        closes_at: float,
        *,
        key: str | None = None,
    ) -> int:
        """Posts the vote (with both reactions added) and returns its message id. Posted again
        under the same ``key`` (see ``post_key``), it is the first post that is shown and
        returned, not a second one."""
        ...

    async def recount(
        self, vote_message_id: int, emoji: Mapping[Side, str], live: LiveTally | None = None
    ) -> Tally:
        """The vote counted again from the stage's own record of reactions.

        ``live`` is a count kept from events with none missed (no gateway session lost since the
        vote opened): when it matches the message's reaction counts it is the answer, and the
        reaction lists need not be paged through.
        """
        ...

    async def post_results(
        self,
        battle: Battle,
        emoji: Mapping[Side, str],
        tally: Tally,
        changes: Sequence[RatingChange] = (),
        *,
        notes: Sequence[str] = (),
        link: str | None = None,
        attachment: Attachment | None = None,
        key: str | None = None,
    ) -> int:
        """Posts the results and returns their message id. ``notes``: what the house rules did
        to this vote (not rated and why, votes set aside and why), one line each;
        ``attachment``: the battle's track, when the server asks for one; ``key``: as for
        ``post_vote``."""
        ...

    async def post_notice(self, text: str, *, key: str | None = None) -> None: ...

    async def post_verdict(
        self, battle: Battle, verdict: Verdict, crowd: Tally | None, *, key: str | None = None
    ) -> int:
        """Posts the judges' verdict (after the vote closed, beside the results) beside the
        crowd's count, and returns its message id."""
        ...


def post_key(kind: str, record_id: int, created_at: float, what: str) -> str:
    """The name of one post for good, such as a battle's results: a restart that posts it again
    (it died between the post and the store's record of it) passes the same key, and the stage
    shows the first post instead of a second. The record's start time keeps keys apart between
    databases that reuse ids."""
    return f"{kind}:{record_id}:{created_at:.0f}:{what}"


@dataclass(frozen=True, slots=True)
class Card:
    """A titled board of text that a stage posts and may edit later, such as a tournament's
    bracket: named fields in order, each a block of lines."""

    title: str
    description: str = ""
    fields: tuple[tuple[str, str], ...] = ()


class TournamentStage(Protocol):
    """What a tournament shows besides its battles: cards it edits as it goes, a thread of its
    own, notices. Failures raise StageError."""

    async def post_card(self, card: Card, *, key: str | None = None) -> int:
        """Posts the card and returns its message id."""
        ...

    async def edit_card(self, message_id: int, card: Card) -> None: ...

    async def open_thread_from(self, message_id: int, name: str) -> int:
        """Opens a public thread from one of this channel's messages; returns the thread's id."""
        ...

    async def post_notice(self, text: str, *, key: str | None = None) -> None: ...


class TournamentStageFactory(Protocol):
    def stage_for(
        self, channel_id: int, *, webhook: bool = False, thread: bool = False
    ) -> TournamentStage: ...


class StageFactory(Protocol):
    def stage_for(
        self, channel_id: int, *, webhook: bool = False, thread: bool = False
    ) -> BattleStage:
        """A stage in a channel (or thread). ``webhook``: the MCs post under their own names;
        ``thread``: the battle goes on in a thread opened from its title card."""
        ...
