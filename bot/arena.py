"""The arena: every battle and vote this process runs, each an object that owns its task."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass

import discord

from bot.engine.battle import Battle, Side, Turn
from bot.engine.leaderboard import RatingChange, rating_changes
from bot.engine.server_settings import ServerRules
from bot.engine.votes import DEFAULT_EMOJI, LiveTally, Tally, Voter, side_for_emoji, tally
from bot.errors import UserError
from bot.llm import LLMClient
from bot.referee import Outcome, Referee
from bot.settings import Settings
from bot.stages.discord import DiscordStage
from bot.standings import StandingsService
from bot.store import BattleState, NewBattle, Store, StoredBattle

log = logging.getLogger(__name__)

INTERRUPTED_REASON = "the bot restarted mid-battle"
SHUTDOWN_REASON = "the bot is restarting"
LOST_CHANNEL_REASON = "the bot lost permission to post in the channel"
# How long a stopping bot lets battles finish the post under way and record how they ended.
SHUTDOWN_GRACE_SECONDS = 10.0
REQUIRED_PERMISSIONS = (
    ("view_channel", "View Channel"),
    ("send_messages", "Send Messages"),
    ("embed_links", "Embed Links"),
    ("add_reactions", "Add Reactions"),
    ("read_message_history", "Read Message History"),
)


def default_rules(settings: Settings) -> ServerRules:
    """The process-wide defaults a server starts from."""
    return ServerRules(
        rounds=settings.battle_rounds,
        pace=settings.battle_pace,
        vote_seconds=settings.vote_seconds,
        cooldown_seconds=settings.battle_cooldown_seconds,
        max_battles=settings.max_battles_per_server,
        emoji=DEFAULT_EMOJI,
    )


@dataclass(frozen=True, slots=True)
class BattleRequest:
    guild_id: int
    channel: discord.abc.Messageable
    channel_id: int
    starter: discord.abc.User
    bot_permissions: discord.Permissions


def missing_permissions(permissions: discord.Permissions) -> list[str]:
    return [
        label for attribute, label in REQUIRED_PERMISSIONS if not getattr(permissions, attribute)
    ]


class Arena:
    """Starts battles after the checks, runs their votes, and picks up after a restart."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        llm: LLMClient,
        standings: StandingsService,
        channel_for: Callable[[int], discord.abc.Messageable],
        owns_guild: Callable[[int], bool] = lambda guild_id: True,
        *,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.defaults = default_rules(settings)
        self.store = store
        self.llm = llm
        self.standings = standings
        self.channel_for = channel_for
        self.owns_guild = owns_guild
        self.clock = clock
        self._rng = rng or random.Random()
        self.battles: dict[int, BattleSession] = {}  # by channel id, while verses are posted
        self.votes: dict[int, VoteSession] = {}  # by vote message id, while voting is open
        self._background: set[asyncio.Task[None]] = set()
        self._starting: dict[int, tuple[int, int]] = {}  # channel id: (guild id, starter id)

    async def rules_for(self, guild_id: int) -> ServerRules:
        return (await self.store.server_settings(guild_id)).apply_to(self.defaults)

    async def start(self, request: BattleRequest, battle: Battle) -> BattleSession:
        """Checks that the battle may start here and now, then starts it."""
        rules = await self.rules_for(request.guild_id)
        missing = missing_permissions(request.bot_permissions)
        if missing:
            raise UserError(f"I need these permissions in this channel: {', '.join(missing)}.")
        rules.check_allowed(battle.model_a)
        rules.check_allowed(battle.model_b)
        if request.channel_id in self.battles or request.channel_id in self._starting:
            raise UserError("A battle is already running in this channel. Wait for it to end.")
        running_here = sum(1 for s in self.battles.values() if s.guild_id == request.guild_id)
        running_here += sum(1 for g, _ in self._starting.values() if g == request.guild_id)
        if running_here >= rules.max_battles:
            raise UserError(
                f"This server already has {running_here} battles running, the most it allows. "
                "Try again when one ends."
            )
        # Held from here until the battle is registered, so that two /battle commands arriving
        # together cannot both pass the checks above while the store is being asked.
        self._starting[request.channel_id] = (request.guild_id, request.starter.id)
        try:
            return await self._start(request, battle, rules)
        finally:
            del self._starting[request.channel_id]

    async def _start(
        self, request: BattleRequest, battle: Battle, rules: ServerRules
    ) -> BattleSession:
        await self._check_cooldown(request, rules)
        swapped = battle.blind and self._rng.random() < 0.5
        if swapped:
            battle = Battle(battle.model_b, battle.model_a, battle.rounds, battle.topic, True)
        stored = await self.store.create_battle(
            NewBattle(request.guild_id, request.channel_id, request.starter.id, battle, swapped),
            now=self.clock(),
        )
        session = BattleSession(self, stored, request.channel, rules, request.starter.mention)
        self.battles[request.channel_id] = session
        session.start()
        return session

    async def _check_cooldown(self, request: BattleRequest, rules: ServerRules) -> None:
        starting_elsewhere = sum(
            1 for key in self._starting.values() if key == (request.guild_id, request.starter.id)
        )
        if rules.cooldown_seconds > 0 and starting_elsewhere > 1:
            raise UserError("You are already starting a battle. Wait a moment.")
        last = await self.store.last_start(request.guild_id, request.starter.id)
        if last is None:
            return
        wait = last + rules.cooldown_seconds - self.clock()
        if wait > 0:
            raise UserError(f"You can start another battle <t:{int(self.clock() + wait) + 1}:R>.")

    def stop(self, channel_id: int, by: discord.abc.User, may_manage: bool) -> str:
        """Stops the battle in a channel, or closes its open vote early."""
        session = self.battles.get(channel_id)
        vote = next((v for v in self.votes.values() if v.channel_id == channel_id), None)
        target = session or vote
        if target is None:
            raise UserError("No battle is running in this channel.")
        if by.id != target.starter_id and not may_manage:
            raise UserError("Only the battle's starter or someone with Manage Server can stop it.")
        if session is not None:
            session.stop(f"stopped by {by.display_name}")
            return "Stopping the battle."
        assert vote is not None
        vote.close_now()
        return "Closing the vote now."

    async def recover(self) -> None:
        """After a restart: battles cut off mid-verse end, and open votes close on time."""
        for stored in await self._own_battles(BattleState.RUNNING):
            if await self.store.end_battle(stored.id, BattleState.INTERRUPTED, INTERRUPTED_REASON):
                stage = DiscordStage(self.channel_for(stored.channel_id))
                await _quietly(
                    stage.post_notice(
                        f"Battle #{stored.id} was interrupted: {INTERRUPTED_REASON}. No contest."
                    )
                )
        for stored in await self._own_battles(BattleState.VOTING):
            self.open_vote(stored)
        for stored in await self.store.unannounced_results():
            if self.owns_guild(stored.guild_id):
                await VoteSession(self, stored).post_results(
                    Tally(await self.store.ballots(stored.id))
                )

    async def _own_battles(self, state: BattleState) -> list[StoredBattle]:
        """Battles in ``state`` on this process's guilds: other processes mind their own."""
        return [b for b in await self.store.battles_in([state]) if self.owns_guild(b.guild_id)]

    def open_vote(self, stored: StoredBattle) -> VoteSession:
        vote = VoteSession(self, stored)
        assert stored.vote_message_id is not None
        self.votes[stored.vote_message_id] = vote
        vote.start()
        return vote

    def reaction(self, message_id: int, emoji: str, voter: Voter, added: bool) -> None:
        vote = self.votes.get(message_id)
        if vote is not None:
            vote.reaction(emoji, voter, added)

    def in_background(self, work: Coroutine[object, object, None]) -> None:
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def shutdown(self) -> None:
        """Ends battles cleanly as interrupted, then cancels the rest: open votes are stored
        and close after the next start."""
        battles = [s.task for s in self.battles.values() if s.task is not None]
        for session in list(self.battles.values()):
            session.interrupt()
        if battles:
            await asyncio.wait(battles, timeout=SHUTDOWN_GRACE_SECONDS)
        tasks = battles + [v.task for v in self.votes.values() if v.task is not None]
        tasks += list(self._background)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class _PersistingStage:
    """Stores each turn right after it is posted, so a restart loses nothing that was shown."""

    def __init__(self, inner: DiscordStage, store: Store, battle_id: int) -> None:
        self._inner = inner
        self._store = store
        self._battle_id = battle_id
        self._position = 0
        self.writing = inner.writing
        self.pausing = inner.pausing

    async def post_verse(self, battle: Battle, turn: Turn) -> None:
        await self._inner.post_verse(battle, turn)
        await self._keep(turn)

    async def announce(self, battle: Battle, turn: Turn) -> None:
        await self._inner.announce(battle, turn)
        await self._keep(turn)

    async def _keep(self, turn: Turn) -> None:
        await self._store.add_turn(self._battle_id, self._position, turn)
        self._position += 1


class BattleSession:
    """One battle in one channel: verses, then the vote."""

    def __init__(
        self,
        arena: Arena,
        stored: StoredBattle,
        channel: discord.abc.Messageable,
        rules: ServerRules,
        starter_mention: str,
    ) -> None:
        self.arena = arena
        self.stored = stored
        self.guild_id = stored.guild_id
        self.starter_id = stored.starter_id
        self.stage = DiscordStage(channel)
        self.rules = rules
        self._starter_mention = starter_mention
        self.referee = Referee(
            stored.battle,
            arena.llm,
            _PersistingStage(self.stage, arena.store, stored.id),
            rules.pace,
        )
        self.task: asyncio.Task[None] | None = None
        self._interrupted = False

    def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name=f"battle {self.stored.id}")
        self.task.add_done_callback(self._finished)

    def stop(self, reason: str) -> None:
        self.referee.stop(reason)

    def interrupt(self) -> None:
        self._interrupted = True
        self.referee.stop(SHUTDOWN_REASON)

    async def _run(self) -> None:
        try:
            await self._battle()
        except discord.Forbidden as error:
            # Someone took the bot's permissions away mid-battle: nothing more can be shown.
            log.warning("Battle %s lost its channel: %s", self.stored.id, error)
            await self.arena.store.end_battle(
                self.stored.id, BattleState.NO_CONTEST, LOST_CHANNEL_REASON
            )

    async def _battle(self) -> None:
        battle = self.stored.battle
        await self.stage.post_title_card(battle, self._starter_mention)
        result = await self.referee.run()
        store = self.arena.store
        if result.outcome is Outcome.COMPLETED:
            closes_at = self.arena.clock() + self.rules.vote_seconds
            message = await self.stage.post_vote(battle, self.rules.emoji, closes_at)
            await store.open_voting(self.stored.id, message.id, closes_at, self.rules.emoji)
            stored = await store.battle(self.stored.id)
            assert stored is not None
            self.arena.open_vote(stored)
        elif result.outcome is Outcome.NO_CONTEST:
            await store.end_battle(self.stored.id, BattleState.NO_CONTEST, result.reason)
            await self.stage.post_notice(f"⚠️ No contest, nothing is rated: {result.reason}")
        elif self._interrupted:
            await store.end_battle(self.stored.id, BattleState.INTERRUPTED, result.reason)
            await _quietly(
                self.stage.post_notice(
                    f"Battle #{self.stored.id} was interrupted: {result.reason}. No contest."
                )
            )
        else:
            await store.end_battle(self.stored.id, BattleState.STOPPED, result.reason)
            await self.stage.post_notice(f"⏹️ Battle {result.reason}. No contest.")

    def _finished(self, task: asyncio.Task[None]) -> None:
        self.arena.battles.pop(self.stored.channel_id, None)
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            log.error("Battle %s crashed", self.stored.id, exc_info=error)
            self.arena.in_background(self._report_crash())

    async def _report_crash(self) -> None:
        await self.arena.store.end_battle(self.stored.id, BattleState.NO_CONTEST, "internal error")
        await _quietly(self.stage.post_notice("⚠️ Something went wrong on our side. No contest."))


class VoteSession:
    """An open vote: a live count from reaction events, then a recount and the results."""

    def __init__(self, arena: Arena, stored: StoredBattle) -> None:
        self.arena = arena
        self.stored = stored
        self.channel_id = stored.channel_id
        self.starter_id = stored.starter_id
        self.emoji = stored.emoji or DEFAULT_EMOJI
        self.live = LiveTally()
        self.stage = DiscordStage(arena.channel_for(stored.channel_id))
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
        wait = self.stored.vote_closes_at - self.arena.clock()
        if wait > 0:
            try:
                await asyncio.wait_for(self._close_now.wait(), wait)
            except TimeoutError:
                pass
        final = await self.recount()
        battle, guild_id = self.stored.battle, self.stored.guild_id
        before = await self.arena.standings.standings(guild_id) if final.total else []
        if await self.arena.store.close_voting(self.stored.id, final, self.arena.clock()):
            changes = []
            if final.total:
                after = await self.arena.standings.standings(guild_id)
                changes = rating_changes([battle.model_a, battle.model_b], before, after)
            await self.post_results(final, changes)

    async def recount(self) -> Tally:
        """Counts from Discord's reaction lists, so votes cast while disconnected count too."""
        assert self.stored.vote_message_id is not None
        channel = self.stage.channel
        try:
            message = await channel.fetch_message(self.stored.vote_message_id)
            reactions: dict[Side, list[Voter]] = {Side.A: [], Side.B: []}
            for reaction in message.reactions:
                side = side_for_emoji(str(reaction.emoji), self.emoji)
                if side is None:
                    continue
                async for user in reaction.users(limit=None):
                    reactions[side].append(Voter(user.id, user.bot))
            return tally(reactions)
        except discord.HTTPException as error:
            log.warning(
                "Recount of battle %s failed, using the live count: %s", self.stored.id, error
            )
            return self.live.current()

    async def post_results(self, final: Tally, changes: Sequence[RatingChange] = ()) -> None:
        message = await self.stage.post_results(self.stored.battle, self.emoji, final, changes)
        await self.arena.store.set_results_message(self.stored.id, message.id)

    def _finished(self, task: asyncio.Task[None]) -> None:
        if self.stored.vote_message_id is not None:
            self.arena.votes.pop(self.stored.vote_message_id, None)
        if not task.cancelled() and task.exception() is not None:
            log.error("Vote of battle %s crashed", self.stored.id, exc_info=task.exception())


async def _quietly(post: Awaitable[object]) -> None:
    """Posts a notice where failing to post must not stop the caller (e.g. a deleted channel)."""
    try:
        await post
    except discord.HTTPException as error:
        log.warning("Could not post a notice: %s", error)
