"""A battle's sessions, each an object that owns its task: the battle in its place (title card,
verses, then the vote's opening), and the open vote (a live count, the recount, the results).

Whoever runs them (the arena) creates them and keeps its own books: the sessions ask it only
for what ``SessionOwner`` declares, and tell it what happened to them. They report their own
crashes where people look and leave the battle in a state that says what happened.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Coroutine, Mapping, Sequence
from typing import Protocol

from bot.engine.admission import InPlay
from bot.engine.battle import Turn
from bot.engine.content_filter import parse_level
from bot.engine.house_rules import (
    Pricing,
    identity_leak_reason,
)
from bot.engine.leaderboard import RatingChange, rating_changes
from bot.engine.lifecycle import BattleState
from bot.engine.server_settings import (
    AUDIO,
    CONTENT_FILTER,
    PACE,
    VOTE_SECONDS,
    ServerRules,
)
from bot.engine.spend import (
    CostEstimate,
)
from bot.engine.verdicts import Verdict
from bot.engine.vote_audit import set_aside_note
from bot.engine.votes import DEFAULT_EMOJI, LiveTally, Tally, Voter, side_for_emoji
from bot.observe import Ending, Observer, battle_context
from bot.services.battles.audit import counted_votes, stored_set_aside_note
from bot.services.battles.bout import Bout
from bot.services.battles.outcome import BattleOutcome
from bot.services.battles.recording import MeteredVerses, PersistingStage
from bot.services.battles.referee import Outcome, Performer, VerseSource
from bot.services.battles.standings import StandingsService
from bot.services.battles.undelivered import UndeliveredResults, results_refused
from bot.services.battles.withholding import WITHHELD_NOTICE, keep_withheld
from bot.services.judging.panel import JudgePanel
from bot.services.moderation.screen import ContentFilter
from bot.services.stage import Attachment, BattleStage, StageError, post_key
from bot.services.tracks.desk import TrackDesk
from bot.store import Store, StoredBattle

log = logging.getLogger(__name__)

SHUTDOWN_REASON = "the bot is restarting"
LOST_CHANNEL_REASON = "the bot lost permission to post in the channel"
VOTE_FAILED_REASON = "the vote failed on our side"
# The key of the one notice that says how a battle ended without a vote, whichever way it did.
ENDING = "ending"
# The results wait at most this long for a track still being made after the vote closes.
TRACK_WAIT_SECONDS = 60.0
TRACK_REFUSED_NOTE = "The battle's track could not be attached (I need Attach Files here)."


class SessionOwner(Protocol):
    """What a battle's sessions need from whoever runs them (the arena): what they read, and
    what they tell it happened, so that it keeps its registries and outcomes itself."""

    store: Store
    standings: StandingsService
    tracks: TrackDesk | None  # None: this process makes no battle tracks
    undelivered: UndeliveredResults  # results a channel refused, posted once it lets the bot in
    observe: Observer  # told how battles start, end and go (bot/observe.py)
    content_filter: ContentFilter | None  # None: verses are shown as written

    def clock(self) -> float: ...

    def gateway_epoch(self, guild_id: int) -> int:
        """How many gateway sessions the guild's shard has begun (see ``VoteSession.recount``)."""
        ...

    async def rules_for(self, guild_id: int) -> ServerRules: ...

    async def page_of(self, stored: StoredBattle) -> str | None:
        """The web page the results link to, if any."""
        ...

    def in_background(self, work: Coroutine[object, object, None], what: str = "") -> None:
        """Runs ``work`` beyond the session's own task; a failure is logged saying what it was."""
        ...

    # What happened, as the sessions tell it: the owner keeps its books by these.

    def verdict_under_way(self, battle_id: int, verdict: asyncio.Task[Verdict]) -> None:
        """The battle's panel started judging when its last verse was written."""
        ...

    def verdict_called_off(self, battle_id: int) -> None:
        """The battle ends without a counted vote: its judging (if any) stops."""
        ...

    def open_vote(self, stored: StoredBattle, *, listening_since: int | None = None) -> VoteSession:
        """The battle's vote is stored as open: it runs from now as a session of its own."""
        ...

    def battle_ended(self, session: BattleSession) -> None:
        """The battle's task is over (its vote, if any, runs on)."""
        ...

    def vote_closed(self, vote: VoteSession) -> None:
        """The vote's task is over: its reactions count no more."""
        ...

    async def settle(self, battle_id: int) -> None:
        """The battle's record is final without a counted vote."""
        ...

    async def vote_counted(self, stored: StoredBattle, tally: Tally) -> None:
        """The vote is counted and its results posted."""
        ...


class BattleSession:
    """One battle in one channel: verses, then the vote. Await ``outcome()`` for its result."""

    def __init__(
        self,
        owner: SessionOwner,
        stored: StoredBattle,
        stage: BattleStage,
        models: VerseSource,
        rules: ServerRules,
        starter_mention: str,
        outcome: asyncio.Future[BattleOutcome],
        jury: JudgePanel | None = None,
        *,
        label: str | None = None,
        pricing: Mapping[str, Pricing] | None = None,
        estimate: CostEstimate | None = None,
        performer: Performer | None = None,
    ) -> None:
        """``performer``: the battle is also performed live (bot/services/live/), on a stage
        that plays each turn as it is posted."""
        self.owner = owner
        self.label = label
        self.stored = stored
        self.guild_id = stored.guild_id
        self.starter_id = stored.starter_id
        self.stage = stage
        self.place_id = stored.channel_id  # its thread's id, once the thread is open
        self.rules = rules
        self._starter_mention = starter_mention
        self._outcome = outcome
        self.estimate = estimate or CostEstimate(None)
        meter = MeteredVerses(models, pricing or {}, owner.observe)
        self._meter = meter
        content_filter = owner.content_filter
        self.bout: Bout[Verdict] = Bout(
            stored.battle,
            meter,
            PersistingStage(stage, owner.store, stored.id, meter, owner.observe),
            rules[PACE],
            jury,
            performer,
            # Each verse screened at the server's level before anyone sees it.
            content_filter.at(parse_level(rules[CONTENT_FILTER])) if content_filter else None,
        )
        self.task: asyncio.Task[None] | None = None
        self._interrupted = False
        self._stop_requested = False

    @property
    def holds(self) -> InPlay:
        """What the battle holds while it runs, as admission counts it: its place, its
        starter's cooldown and its whole cost bound (against its server's budget)."""
        bound = self.estimate.upper_bound_usd
        return InPlay(self.guild_id, self.starter_id, self.place_id, self.stored.created_at, bound)

    def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name=f"battle {self.stored.id}")
        self.task.add_done_callback(self._finished)

    async def outcome(self) -> BattleOutcome:
        """The battle's result: after its vote closes, or when it ends without one."""
        return await asyncio.shield(self._outcome)

    def stop(self, reason: str) -> None:
        self._stop_requested = True
        self.bout.stop(reason)

    def interrupt(self) -> None:
        self._interrupted = True
        self.bout.stop(SHUTDOWN_REASON)

    async def _run(self) -> None:
        battle_context(self.guild_id, self.stored.id)  # this task's log lines name the battle
        try:
            await self._battle()
        except StageError as error:
            if not error.lost_access:
                raise
            # Someone took the bot's permissions away mid-battle: nothing more can be shown.
            log.warning("Battle %s lost its channel: %s", self.stored.id, error)
            await self._end(BattleState.NO_CONTEST, LOST_CHANNEL_REASON)

    async def _battle(self) -> None:
        battle = self.stored.battle
        await self.stage.post_title_card(
            battle, self._starter_mention, self.estimate, label=self.label
        )
        if self.stage.place_id != self.stored.channel_id:
            self.place_id = self.stage.place_id
            await self.owner.store.set_thread(self.stored.id, self.place_id)
        bouted = await self.bout.run()
        result = bouted.verses
        if bouted.verdict is not None:
            self.owner.verdict_under_way(self.stored.id, bouted.verdict)
        if result.outcome is Outcome.COMPLETED:
            await check_identity_leaks(self.owner.store, self.stored, result.turns)
            await self._open_vote()
        elif result.withheld is not None:
            # Its line is already posted in the verse's place; the verse is kept for the admins.
            usage, now = self._meter.next_usage(), self.owner.clock()  # the verse's, as next
            if await keep_withheld(self.owner.store, self.stored, result.withheld, usage, now):
                self.owner.observe.battle_finished(Ending.NO_CONTEST)
            await self.owner.settle(self.stored.id)
            await self.stage.post_notice(WITHHELD_NOTICE)
        elif result.outcome is Outcome.NO_CONTEST:
            notice = f"⚠️ No contest, nothing is rated: {result.reason}"
            await self._end_saying(BattleState.NO_CONTEST, result.reason, notice)
        elif self._interrupted:
            notice = interrupted_notice(self.stored.id, result.reason)
            await self._end_saying(BattleState.INTERRUPTED, result.reason, notice)
        else:
            notice = f"⏹️ Battle {result.reason}. No contest."
            await self._end_saying(BattleState.STOPPED, result.reason, notice)

    async def _open_vote(self) -> None:
        store = self.owner.store
        closes_at = self.owner.clock() + self.rules[VOTE_SECONDS]
        message_id = await self.stage.post_vote(
            self.stored.battle, self.rules.emoji, closes_at, key=battle_post(self.stored, "vote")
        )
        epoch = self.owner.gateway_epoch(self.guild_id)
        await store.open_voting(self.stored.id, message_id, closes_at, self.rules.emoji)
        stored = await store.battle(self.stored.id)
        assert stored is not None
        vote = self.owner.open_vote(stored, listening_since=epoch)
        if self._stop_requested:
            # Stopped after the last verse, while the vote was being posted: the stop came too
            # late for the verses, so it closes the vote, as a stop during the vote does.
            vote.close_now()

    async def _end_saying(self, state: BattleState, reason: str | None, notice: str) -> None:
        """Says how the battle ended, then records it. Killed in between, the restart records it
        as interrupted, and its own notice, posted under the same key, is not a second one."""
        try:
            await quietly(self.stage.post_notice(notice, key=battle_post(self.stored, ENDING)))
        finally:  # even a bug while telling the channel ends the battle
            await self._end(state, reason)

    async def _end(self, state: BattleState, reason: str | None) -> None:
        if await self.owner.store.end_battle(self.stored.id, state, reason):
            self.owner.observe.battle_finished(Ending.without_vote(state))
        await self.owner.settle(self.stored.id)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self.owner.battle_ended(self)
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            log.error(
                "Battle %s (guild %s, channel %s) crashed",
                self.stored.id,
                self.stored.guild_id,
                self.stored.channel_id,
                exc_info=error,
            )
            self.owner.in_background(
                self._report_crash(), f"report crash of battle {self.stored.id}"
            )

    async def _report_crash(self) -> None:
        notice = "⚠️ Something went wrong on our side. No contest."
        await self._end_saying(BattleState.NO_CONTEST, "internal error", notice)


class VoteSession:
    """An open vote: a live count from reaction events, then a recount and the results."""

    def __init__(
        self,
        owner: SessionOwner,
        stored: StoredBattle,
        stage: BattleStage,
        listening_since: int | None = None,
    ) -> None:
        self.owner = owner
        self.stored = stored
        self._listening_since = listening_since
        self.place_id = stored.place_id
        self.starter_id = stored.starter_id
        self.emoji = stored.emoji or DEFAULT_EMOJI
        self.live = LiveTally()
        self.stage = stage
        self._close_now = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name=f"vote {self.stored.id}")
        self.task.add_done_callback(self._finished)

    def close_now(self) -> None:
        self._close_now.set()

    def reaction(self, emoji: str, voter: Voter, added: bool) -> None:
        side = side_for_emoji(emoji, self.emoji)
        if side is None:
            return
        if added:
            self.live.add(side, voter)
        else:
            self.live.remove(side, voter.user_id)

    async def _run(self) -> None:
        assert self.stored.vote_closes_at is not None
        battle_context(self.stored.guild_id, self.stored.id)  # this task's log lines name it
        owner = self.owner
        if (desk := await self._track_desk()) is not None:
            desk.start(self.stored)  # made while the vote is open
        wait = self.stored.vote_closes_at - owner.clock()
        if wait > 0:
            try:
                await asyncio.wait_for(self._close_now.wait(), wait)
            except TimeoutError:
                pass
        battle, guild_id = self.stored.battle, self.stored.guild_id
        # The server's rules (exclusions, fresh accounts, the daily cap) apply to the count
        # however it was made (recount or live); what they set aside is kept for the audit.
        rules, reactions = await owner.rules_for(guild_id), await self.recount()
        counted, vote_rules = await counted_votes(
            owner.store, guild_id, reactions, owner.clock(), rules
        )
        final = counted.tally
        standings = owner.standings
        rated = final.total > 0 and self.stored.rated
        before = await standings.standings(guild_id) if rated else []
        if await owner.store.close_voting(
            self.stored.id,
            final,
            owner.clock(),
            set_aside=counted.set_aside,
            set_aside_votes=counted.set_aside_votes,
        ):
            owner.observe.votes_counted(final.total, counted.by_reason())
            owner.observe.battle_finished(_ending(final))
            changes = []
            if rated:
                after = await standings.standings(guild_id)
                changes = rating_changes([battle.model_a, battle.model_b], before, after)
            await self.post_results(final, changes, set_aside_note(counted, vote_rules))
            await owner.vote_counted(self.stored, final)

    async def recount(self) -> Tally:
        """Counts from the stage's reaction lists, so votes cast while disconnected count too;
        the live count stands in when the stage cannot be read."""
        assert self.stored.vote_message_id is not None
        epoch = self.owner.gateway_epoch(self.stored.guild_id)
        complete = self._listening_since is not None and epoch == self._listening_since
        try:
            return await self.stage.recount(
                self.stored.vote_message_id, self.emoji, self.live if complete else None
            )
        except StageError as error:
            log.warning(
                "Recount of battle %s failed, using the live count: %s", self.stored.id, error
            )
            return self.live.current()

    async def post_results(
        self,
        final: Tally,
        changes: Sequence[RatingChange] = (),
        set_aside_note: str | None = None,
    ) -> None:
        """Posts the results; when the channel refuses, they wait for the bot's access to come
        back (or are given up on, see ``results_refused``). ``set_aside_note``: what the
        results say of the votes set aside (None: from what the store kept)."""
        if set_aside_note is None:
            rules = await self.owner.rules_for(self.stored.guild_id)
            set_aside_note = await stored_set_aside_note(self.owner.store, self.stored, rules)
        notes, attachment = self._notes(set_aside_note), None
        if (desk := await self._track_desk()) is not None:
            track = await desk.attachment(self.stored, wait=TRACK_WAIT_SECONDS)
            notes += (track.note,) if track.note else ()
            attachment = Attachment(track.filename, track.data) if track.data else None
        link = await self.owner.page_of(self.stored)
        results = self.stored.battle, self.emoji, final, changes
        # Posted again after a restart that came before set_results_message: shown once.
        key = battle_post(self.stored, "results")
        try:
            try:
                message_id = await self.stage.post_results(
                    *results, notes=notes, link=link, attachment=attachment, key=key
                )
            except StageError as refused:
                if attachment is None:
                    raise
                # The file was refused (Attach Files taken away, say): never the results too.
                log.warning("Battle %s's track was refused: %s", self.stored.id, refused)
                notes += (TRACK_REFUSED_NOTE,)
                message_id = await self.stage.post_results(
                    *results, notes=notes, link=link, key=key
                )
        except StageError as error:
            # Kept to be tried again once the bot may post there, or given up on (gone, or a
            # week old): bot/services/battles/undelivered.py.
            store, now = self.owner.store, self.owner.clock()
            if await results_refused(store, self.stored, self.place_id, error, now):
                self.owner.undelivered.refused(self.stored.guild_id)
            return
        await self.owner.store.set_results_message(self.stored.id, message_id)

    async def _track_desk(self) -> TrackDesk | None:
        """The desk making this battle's track, when the server asks for tracks."""
        desk = self.owner.tracks
        if desk is None or not (await self.owner.rules_for(self.stored.guild_id))[AUDIO]:
            return None
        return desk

    def _notes(self, set_aside_note: str | None) -> tuple[str, ...]:
        """What the results say about the house rules that touched this vote."""
        notes = []
        if self.stored.unrated_reason is not None:
            notes.append(f"Not rated: {self.stored.unrated_reason}.")
        if set_aside_note:
            notes.append(set_aside_note)
        return tuple(notes)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self.owner.vote_closed(self)
        if task.cancelled() or task.exception() is None:
            return
        log.error(
            "Vote of battle %s (guild %s, channel %s) crashed",
            self.stored.id,
            self.stored.guild_id,
            self.place_id,
            exc_info=task.exception(),
        )
        self.owner.in_background(self._report_crash(), f"report crash of vote {self.stored.id}")

    async def _report_crash(self) -> None:
        """A vote that could not be counted ends as a no contest, and its channel is told."""
        self.owner.verdict_called_off(self.stored.id)  # A no contest is not judged.
        if await self.owner.store.abandon_vote(self.stored.id, VOTE_FAILED_REASON):
            self.owner.observe.battle_finished(Ending.VOTE_FAILED)
            await quietly(
                self.stage.post_notice(
                    f"⚠️ The vote on battle #{self.stored.id} failed on our side; "
                    "its votes were not counted. No contest.",
                    key=battle_post(self.stored, ENDING),
                )
            )
        await self.owner.settle(self.stored.id)


def _ending(final: Tally) -> Ending:
    """How a counted vote ended the battle."""
    if final.total == 0:
        return Ending.NO_VOTES
    return Ending.DRAW if final.winner is None else Ending.WON


async def check_identity_leaks(store: Store, stored: StoredBattle, turns: Sequence[Turn]) -> None:
    """A blind battle whose verse named its own model or vendor is voted as usual, but its
    votes are kept unrated (Arena's rule): the audience may have known who was who."""
    verses = [(turn.side, turn.text) for turn in turns if turn.side is not None]
    if (reason := identity_leak_reason(stored.battle, verses)) is not None:
        await store.set_unrated(stored.id, reason)


def interrupted_notice(battle_id: int, reason: str | None) -> str:
    """What a channel is told of a battle cut off (by a restart, at the shutdown or after it)."""
    return f"Battle #{battle_id} was interrupted: {reason}. No contest."


def battle_post(stored: StoredBattle, what: str) -> str:
    """The key of one of a battle's posts (see ``bot.services.stage.post_key``)."""
    return post_key("battle", stored.id, stored.created_at, what)


async def quietly(post: Awaitable[object]) -> None:
    """Posts a notice where failing to post must not stop the caller (e.g. a deleted channel)."""
    try:
        await post
    except StageError as error:
        log.warning("Could not post a notice: %s", error)
