"""Stages that record what they are shown: the referee's (with timestamps), and a whole battle's
(title card to results) per channel, for tests of the arena without a Discord double."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import itertools
import time
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field

from bot.engine.battle import Battle, Side, Turn
from bot.engine.leaderboard import RatingChange
from bot.engine.spend import CostEstimate
from bot.engine.verdicts import Verdict
from bot.engine.votes import LiveTally, Tally, Voter
from bot.engine.votes import tally as count_reactions
from bot.services.stage import Attachment, Card, StageError


@dataclass
class RecordingStage:
    posts: list[tuple[float, Turn]] = field(default_factory=list)
    writing_shown: list[str] = field(default_factory=list)
    # (when the pause began, the seconds it announced, when it ended)
    pauses: list[tuple[float, float, float]] = field(default_factory=list)

    @property
    def turns(self) -> list[Turn]:
        return [turn for _, turn in self.posts]

    async def post_verse(self, battle: Battle, turn: Turn) -> None:
        self.posts.append((time.monotonic(), turn))

    async def announce(self, battle: Battle, turn: Turn) -> None:
        self.posts.append((time.monotonic(), turn))

    @contextlib.asynccontextmanager
    async def writing(
        self, battle: Battle, turn: Turn, progress: Callable[[], int]
    ) -> AsyncIterator[None]:
        self.writing_shown.append(turn.speaker)
        yield

    @contextlib.asynccontextmanager
    async def pausing(self, battle: Battle, seconds: float) -> AsyncIterator[None]:
        began = time.monotonic()
        try:
            yield
        finally:
            self.pauses.append((began, seconds, time.monotonic()))


class PostKind(enum.Enum):
    """Everything a BattleStage can be asked to do, as the recording names it."""

    TITLE_CARD = "title card"
    VERSE = "verse"
    ANNOUNCEMENT = "announcement"
    WRITING = "writing"
    VOTE = "vote"
    RECOUNT = "recount"
    RESULTS = "results"
    NOTICE = "notice"
    VERDICT = "verdict"
    CARD = "card"
    CARD_EDIT = "card edit"
    THREAD = "thread"


@dataclass(frozen=True, slots=True)
class Post:
    """One thing a stage showed: what kind, its text or data, and its message id if it has one."""

    kind: PostKind
    content: object = None
    message_id: int | None = None


@dataclass
class _Failure:
    kinds: frozenset[PostKind] | None  # None: every kind
    error: Exception
    armed: bool  # False until the first post of a trigger kind is attempted
    trigger: PostKind | None


class RecordingBattleStage:
    """A BattleStage in memory: one channel's posts, its vote messages and their reactions.

    Tests set the reactions a ``recount`` reads (``react``), and can make the channel refuse
    (``refuse``) or fail in another way (``fail``) from now or from a given kind of post on, as a
    server admin taking the bot's permissions away would.
    """

    def __init__(
        self,
        channel_id: int,
        next_message_id: Callable[[], int],
        crowd: Callable[[Battle], Mapping[Side, Sequence[Voter]]] | None = None,
    ) -> None:
        self.channel_id = channel_id
        # How the audience reacts on each vote, by battle, when next_vote_reactions is not set.
        self.crowd = crowd
        self.cost_estimate: CostEstimate | None = None  # as the title card showed it
        self.posts: list[Post] = []
        self.refused: list[PostKind] = []  # what the channel would not show, in order
        self.reactions: dict[int, dict[Side, list[Voter]]] = {}  # by vote message id
        # What the audience will have reacted on the next vote by the time it is counted.
        self.next_vote_reactions: dict[Side, list[Voter]] = {}
        self.title_labels: list[str | None] = []  # each title card's label, in order
        self.result_notes: list[tuple[str, ...]] = []  # each results post's house-rule notes
        self.result_links: list[str | None] = []  # each results post's link to the web arena
        self.result_attachments: list[Attachment | None] = []  # each results post's file
        self._next_message_id = next_message_id
        self._failures: list[_Failure] = []
        self._changed = asyncio.Event()
        # Posts made under a key (a Discord nonce), as Discord keeps them: the same key again
        # shows the first post, not a second.
        self.keyed: dict[str, int] = {}

    # Telling the stage what happens

    def refuse(self, from_kind: PostKind | None = None) -> None:
        """From now (or from the first ``from_kind`` post on), everything raises
        StageError(lost_access=True): the bot may no longer post in this channel."""
        self.fail(StageError("Missing Permissions", lost_access=True), from_kind=from_kind)

    def fail(
        self,
        error: Exception,
        from_kind: PostKind | None = None,
        kinds: Collection[PostKind] | None = None,
    ) -> None:
        """Raises ``error`` for posts of ``kinds`` (every kind by default), from now or from the
        first ``from_kind`` post on."""
        self._failures.append(
            _Failure(
                frozenset(kinds) if kinds is not None else None,
                error,
                armed=from_kind is None,
                trigger=from_kind,
            )
        )

    def react(self, message_id: int, side: Side, voter: Voter) -> None:
        """A reaction on a vote message, as its reaction list will show at the recount."""
        self.reactions.setdefault(message_id, {Side.A: [], Side.B: []})[side].append(voter)

    # What the stage was asked to show

    def of_kind(self, kind: PostKind) -> list[Post]:
        return [post for post in self.posts if post.kind is kind]

    @property
    def notices(self) -> list[str]:
        return [str(post.content) for post in self.of_kind(PostKind.NOTICE)]

    async def wait_for(self, kind: PostKind, count: int = 1, timeout: float = 2.0) -> Post:
        """The ``count``-th post of ``kind`` once it is shown; fails the test after ``timeout``."""
        async with asyncio.timeout(timeout):
            while len(self.of_kind(kind)) < count:
                self._changed.clear()
                await self._changed.wait()
        return self.of_kind(kind)[count - 1]

    # The BattleStage protocol

    async def post_title_card(
        self,
        battle: Battle,
        starter_mention: str,
        estimate: CostEstimate | None = None,
        *,
        label: str | None = None,
    ) -> None:
        self.cost_estimate = estimate
        self._show(PostKind.TITLE_CARD, (battle, starter_mention))
        self.title_labels.append(label)

    async def post_verse(self, battle: Battle, turn: Turn) -> None:
        self._show(PostKind.VERSE, turn)

    async def announce(self, battle: Battle, turn: Turn) -> None:
        self._show(PostKind.ANNOUNCEMENT, turn)

    @contextlib.asynccontextmanager
    async def writing(
        self, battle: Battle, turn: Turn, progress: Callable[[], int]
    ) -> AsyncIterator[None]:
        self._show(PostKind.WRITING, turn.speaker)
        yield

    async def post_vote(
        self,
        battle: Battle,
        emoji: Mapping[Side, str],
        closes_at: float,
        *,
        key: str | None = None,
    ) -> int:
        if key in self.keyed:
            return self.keyed[key]
        message_id = self._show(PostKind.VOTE, (dict(emoji), closes_at), has_message=True)
        self._keep(key, message_id)
        reactions = self.next_vote_reactions
        if not reactions and self.crowd is not None:
            reactions = dict(self.crowd(battle))
        self.reactions[message_id] = {side: list(reactions.get(side, ())) for side in Side}
        self.next_vote_reactions = {}
        return message_id

    @contextlib.asynccontextmanager
    async def pausing(self, battle: Battle, seconds: float) -> AsyncIterator[None]:
        yield

    @property
    def place_id(self) -> int:
        return self.channel_id

    async def recount(
        self, vote_message_id: int, emoji: Mapping[Side, str], live: LiveTally | None = None
    ) -> Tally:
        self._show(PostKind.RECOUNT, vote_message_id)
        if vote_message_id not in self.reactions:
            raise StageError("Unknown Message", lost_access=True)  # as Discord's 404
        return count_reactions(self.reactions[vote_message_id])

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
        if key in self.keyed:
            return self.keyed[key]
        message_id = self._show(PostKind.RESULTS, (tally, tuple(changes)), has_message=True)
        self._keep(key, message_id)
        self.result_notes.append(tuple(notes))
        self.result_links.append(link)
        self.result_attachments.append(attachment)
        return message_id

    async def post_notice(self, text: str, *, key: str | None = None) -> None:
        if key not in self.keyed:
            self._keep(key, self._show(PostKind.NOTICE, text))

    async def post_verdict(
        self, battle: Battle, verdict: Verdict, crowd: Tally | None, *, key: str | None = None
    ) -> int:
        if key in self.keyed:
            return self.keyed[key]
        message_id = self._show(PostKind.VERDICT, (verdict, crowd), has_message=True)
        self._keep(key, message_id)
        return message_id

    def _keep(self, key: str | None, message_id: int) -> None:
        if key is not None:
            self.keyed[key] = message_id

    # The TournamentStage protocol

    async def post_card(self, card: Card, *, key: str | None = None) -> int:
        if key in self.keyed:
            return self.keyed[key]
        message_id = self._show(PostKind.CARD, card, has_message=True)
        self._keep(key, message_id)
        return message_id

    async def edit_card(self, message_id: int, card: Card) -> None:
        self._show(PostKind.CARD_EDIT, (message_id, card))

    async def open_thread_from(self, message_id: int, name: str) -> int:
        """A thread's id is its starter message's, as on Discord."""
        self._show(PostKind.THREAD, (message_id, name))
        return message_id

    def card(self, message_id: int) -> Card:
        """A card as it shows now: as posted, then as last edited."""
        shown = [p.content for p in self.of_kind(PostKind.CARD) if p.message_id == message_id]
        edits = [
            card for mid, card in map(_edit, self.of_kind(PostKind.CARD_EDIT)) if mid == message_id
        ]
        assert shown, f"no card {message_id} here"
        return (shown + edits)[-1]  # type: ignore[return-value]

    def _show(self, kind: PostKind, content: object, has_message: bool = False) -> int:
        """Records a post, or raises the failure the test asked for; returns its message id."""
        for failure in self._failures:
            failure.armed = failure.armed or failure.trigger is kind
            if failure.armed and (failure.kinds is None or kind in failure.kinds):
                self.refused.append(kind)
                raise failure.error
        message_id = self._next_message_id()
        self.posts.append(Post(kind, content, message_id if has_message else None))
        self._changed.set()
        return message_id


def _edit(post: Post) -> tuple[int, Card]:
    return post.content  # type: ignore[return-value]


class FakeStageFactory:
    """One RecordingBattleStage per channel, kept, so that what a test tells a channel lasts;
    message ids are unique across channels, as Discord's are."""

    def __init__(self) -> None:
        self.stages: dict[int, RecordingBattleStage] = {}
        self._message_ids = itertools.count(1000)
        # How the audience reacts on every vote in every channel (None: nobody reacts).
        self.crowd: Callable[[Battle], Mapping[Side, Sequence[Voter]]] | None = None

    def stage_for(
        self, channel_id: int, *, webhook: bool = False, thread: bool = False
    ) -> RecordingBattleStage:
        stage = self.stages.get(channel_id)
        if stage is None:
            stage = RecordingBattleStage(
                channel_id, lambda: next(self._message_ids), self._crowd_reaction
            )
            self.stages[channel_id] = stage
        return stage

    def _crowd_reaction(self, battle: Battle) -> Mapping[Side, Sequence[Voter]]:
        return self.crowd(battle) if self.crowd is not None else {}
