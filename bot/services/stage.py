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
    (a permission taken away, the channel deleted), so retrying is pointless."""

    def __init__(self, message: str, *, lost_access: bool = False) -> None:
        super().__init__(message)
        self.lost_access = lost_access


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

    async def post_vote(self, battle: Battle, emoji: Mapping[Side, str], closes_at: float) -> int:
        """Posts the vote (with both reactions added) and returns its message id."""
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
    ) -> int:
        """Posts the results and returns their message id. ``notes``: what the house rules did
        to this vote (not rated and why, votes set aside and why), one line each;
        ``attachment``: the battle's track, when the server asks for one."""
        ...

    async def post_notice(self, text: str) -> None: ...

    async def post_verdict(self, battle: Battle, verdict: Verdict, crowd: Tally | None) -> int:
        """Posts the judges' verdict (after the vote closed, beside the results) beside the
        crowd's count, and returns its message id."""
        ...


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

    async def post_card(self, card: Card) -> int:
        """Posts the card and returns its message id."""
        ...

    async def edit_card(self, message_id: int, card: Card) -> None: ...

    async def open_thread_from(self, message_id: int, name: str) -> int:
        """Opens a public thread from one of this channel's messages; returns the thread's id."""
        ...

    async def post_notice(self, text: str) -> None: ...


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
