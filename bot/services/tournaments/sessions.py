"""Tournaments in Discord: a seeded roster played out as ordinary battles, one after another.

A ``TournamentSession`` owns its task. It runs the one tournament runner
(bot/services/tournaments/runner.py) with the arena's match player and keeps the rounds in the
store and on the bracket embed. Everything it has done lives in the store
(bot/store/tournaments.py), so after a restart it goes on with the next unplayed match, plays an
interrupted one again, and posts nothing twice. Like the arena it imports no ``discord``: it posts
through stages.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bot.engine.progression import DISCORD_ROSTER, Finished, Progression
from bot.engine.progression import check_roster as check_any_roster
from bot.engine.server_settings import THREADS, ServerRules
from bot.engine.tournament import RoundPlan, TournamentFormat
from bot.errors import UserError
from bot.services.battles.arena import Arena
from bot.services.battles.sessions import LOST_CHANNEL_REASON
from bot.services.stage import (
    Card,
    StageError,
    TournamentStage,
    TournamentStageFactory,
    post_key,
)
from bot.services.tournaments.arena_player import ArenaMatchPlayer, TournamentEnded
from bot.services.tournaments.bracket import (
    announcement_card,
    bracket_card,
    champion_card,
    thread_name,
)
from bot.services.tournaments.record import progression_of
from bot.services.tournaments.runner import TournamentRunner
from bot.store.tournaments import (
    NewTournament,
    StoredMatch,
    StoredTournament,
    TournamentState,
    TournamentStore,
)

log = logging.getLogger(__name__)

# A match the arena refuses for now (the server's cap on battles, a busy channel, a cooldown) is
# asked for again this often, until it starts or the tournament is stopped.
START_RETRY_SECONDS = 15.0


class SeedOrder(enum.Enum):
    GIVEN = "given"  # the order the models were listed in
    RATING = "rating"  # this server's crowd leaderboard; unrated models after, as listed


def parse_models(text: str) -> tuple[str, ...]:
    """The comma-separated list of /tournament's ``models`` option, as typed."""
    return tuple(name.strip() for name in text.split(",") if name.strip())


def check_roster(models: Sequence[str]) -> None:
    """3 to 32 different models (the engine says why Discord differs from the terminal)."""
    check_any_roster(models, DISCORD_ROSTER, ", separated by commas")


def tournament_threading(
    missing: Sequence[str],
    thread_missing: Sequence[str],
    rules: ServerRules,
    *,
    in_thread: bool = False,
) -> bool:
    """Whether a tournament asked for here goes on in a thread of its own; raises UserError when
    it may not run here at all. ``missing``: what the bot lacks to post here; ``thread_missing``:
    what it lacks to open threads. Both /tournament and schedules ask this."""
    if missing:
        raise UserError(f"I need these permissions in this channel: {', '.join(missing)}.")
    if thread_missing and rules[THREADS]:
        # Each match would open its own thread from its title card, which it may not.
        raise UserError(
            "This server runs battles in threads, and I may not open threads here "
            f"(missing: {', '.join(thread_missing)})."
        )
    return not in_thread and not thread_missing


def seeded_by_rating(models: Sequence[str], leaderboard: Sequence[str]) -> tuple[str, ...]:
    """The models in leaderboard order, then those without a rating in the order given."""
    listed = set(models)
    rated = [model for model in leaderboard if model in listed]
    rated_set = set(rated)
    return tuple(rated + [model for model in models if model not in rated_set])


@dataclass(frozen=True, slots=True)
class TournamentRequest:
    """Who asks for a tournament where, as the command saw it (models already resolved)."""

    guild_id: int
    channel_id: int
    starter_id: int
    models: tuple[str, ...]
    tournament_format: TournamentFormat = TournamentFormat.SINGLE
    seed: SeedOrder = SeedOrder.GIVEN
    judges: bool | None = None  # None: the server's setting
    threaded: bool = True  # False when the bot may not open a thread here
    battle_rounds: int = 1


class Tournaments:
    """Every tournament this process runs, at most one per server at a time."""

    def __init__(
        self,
        arena: Arena,
        store: TournamentStore,
        stages: TournamentStageFactory,
        *,
        retry_seconds: float = START_RETRY_SECONDS,
        may_use_webhooks: Callable[[int], bool] = lambda channel_id: False,
    ) -> None:
        self.arena = arena
        self.store = store
        self.stages = stages
        self.retry_seconds = retry_seconds
        # Whether the MCs may post through a webhook in a channel (or thread), asked per match:
        # permissions can change during a long tournament.
        self.may_use_webhooks = may_use_webhooks
        self.sessions: dict[int, TournamentSession] = {}  # by tournament id, while running
        self._starting: set[int] = set()  # guilds whose tournament is passing its checks

    async def start(self, request: TournamentRequest) -> TournamentSession:
        """Checks the roster and the server, stores the tournament, and starts it."""
        check_roster(request.models)
        if request.guild_id in self._starting:
            raise UserError("A tournament is already starting on this server.")
        self._starting.add(request.guild_id)
        try:
            running = await self.store.tournaments_in([TournamentState.RUNNING], request.guild_id)
            if running:
                raise UserError(
                    f"Tournament #{running[0].id} is still running on this server: one at a "
                    "time. /tournament-stop ends it."
                )
            rules = await self.arena.rules_for(request.guild_id)
            for model in request.models:
                rules.check_allowed(model)
            seeds = request.models
            if request.seed is SeedOrder.RATING:
                board = await self.arena.standings.standings(request.guild_id)
                seeds = seeded_by_rating(seeds, [row.model for row in board])
            stored = await self.store.create_tournament(
                NewTournament(
                    request.guild_id,
                    request.channel_id,
                    request.starter_id,
                    request.tournament_format,
                    seeds,
                    request.battle_rounds,
                    request.judges,
                    request.threaded,
                ),
                self.arena.clock(),
            )
        finally:
            self._starting.discard(request.guild_id)
        return self._run(stored)

    def _run(self, stored: StoredTournament) -> TournamentSession:
        """The tournament's one session, started unless it already runs: recovery may find a
        tournament that /tournament has just stored and is about to start."""
        session = self.sessions.get(stored.id)
        if session is None:
            session = TournamentSession(self, stored)
            self.sessions[stored.id] = session
            session.start()
        return session

    async def find(self, guild_id: int, channel_id: int) -> StoredTournament | None:
        """The tournament of this thread or channel (the latest), else the server's running one."""
        here = [
            t
            for t in await self.store.tournaments_in(list(TournamentState), guild_id)
            if channel_id in (t.channel_id, t.thread_id)
        ]
        if here:
            return here[-1]
        running = await self.store.tournaments_in([TournamentState.RUNNING], guild_id)
        return running[0] if running else None

    async def status(self, guild_id: int, channel_id: int) -> Card:
        found = await self.find(guild_id, channel_id)
        if found is None:
            raise UserError("No tournament here, and none is running on this server.")
        session = self.sessions.get(found.id)
        return bracket_card(found, session.playing if session else None)

    async def stop(self, guild_id: int, channel_id: int, by_name: str) -> str:
        """Ends the server's running tournament (the one of this thread or channel first)."""
        found = await self.find(guild_id, channel_id)
        if found is None or found.state is not TournamentState.RUNNING:
            running = await self.store.tournaments_in([TournamentState.RUNNING], guild_id)
            if not running:
                raise UserError("No tournament is running on this server.")
            found = running[0]
        session = self.sessions.get(found.id)
        reason = f"stopped by {by_name}"
        if session is not None:
            await session.stop(reason)
        elif not await self.store.stop_tournament(found.id, reason):
            raise UserError("That tournament has already ended.")
        return f"Tournament #{found.id} is stopped."

    async def recover(self) -> None:
        """After a restart (and after the arena's own recovery): running tournaments go on, and
        a champion crowned but never announced is announced."""
        pending = await self.store.tournaments_in([TournamentState.RUNNING])
        pending += await self.store.unannounced_champions()
        for stored in pending:
            if self.arena.owns_guild(stored.guild_id) and stored.id not in self.sessions:
                self._run(stored)

    async def shutdown(self) -> None:
        """Stops every session's task; the store keeps where each stood."""
        tasks = [s.task for s in self.sessions.values() if s.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.sessions.clear()


class TournamentSession:
    """One tournament: its announcement, thread and bracket, then its matches one by one.

    It is the runner's scoreboard (rounds go to the store, the bracket is edited) and the host of
    the arena's match player (what is under way, notices, the tournament's place)."""

    def __init__(self, tournaments: Tournaments, stored: StoredTournament) -> None:
        self.tournaments = tournaments
        self.arena = tournaments.arena
        self.store = tournaments.store
        self.stored = stored
        self.id = stored.id
        self.playing: StoredMatch | None = None
        self.player = ArenaMatchPlayer(self, self.arena, self.store, tournaments.retry_seconds)
        self.task: asyncio.Task[None] | None = None

    @property
    def starter_mention(self) -> str:
        return f"<@{self.stored.starter_id}>"

    def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name=f"tournament {self.id}")
        self.task.add_done_callback(self._finished)

    async def stop(self, reason: str) -> None:
        """Ends the tournament now: the match under way stops, the bracket says so."""
        if not await self.store.stop_tournament(self.id, reason):
            raise UserError("That tournament has already ended.")
        if self.task is not None and self.task is not asyncio.current_task():
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        battle = self.player.battle
        if battle is not None and battle.stored.id in self.arena.battles:
            battle.stop(f"stopped: the tournament was {reason}")
        self.playing = None
        await self.reload()
        await _quietly(self._edit_bracket())
        await _quietly(self._place().post_notice(f"⏹️ Tournament #{self.id} {reason}."))

    # -- the match player's host ---------------------------------------------------------------

    async def reload(self) -> StoredTournament:
        stored = await self.store.tournament(self.id)
        assert stored is not None
        self.stored = stored
        return stored

    async def now_playing(self, match: StoredMatch | None) -> None:
        self.playing = match
        if match is not None:
            await _quietly(self._edit_bracket())

    async def match_decided(self) -> None:
        await self.reload()
        await _quietly(self._edit_bracket())

    async def notice(self, text: str) -> None:
        await _quietly(self._place().post_notice(text))

    async def lost_place(self) -> None:
        reason = f"ended: {LOST_CHANNEL_REASON}"
        if await self.store.stop_tournament(self.id, reason):
            channel = self._stage(self.stored.channel_id)
            await _quietly(channel.post_notice(f"⏹️ Tournament #{self.id} {reason}."))

    def may_use_webhooks(self, channel_id: int) -> bool:
        return self.tournaments.may_use_webhooks(channel_id)

    # -- the runner's scoreboard ---------------------------------------------------------------

    async def round_planned(self, progression: Progression, number: int, plan: RoundPlan) -> None:
        await self.store.plan_round(self.id, number, plan.bye, plan.pairings)
        await self.reload()

    async def round_decided(self, progression: Progression, number: int) -> None:
        return None  # the bracket is edited after every match already

    async def finished(self, progression: Progression, result: Finished) -> None:
        await self.store.finish_tournament(self.id, result.champion)
        await self.reload()
        await _quietly(self._edit_bracket())
        if result.note is not None:
            await self.notice(result.note)

    # -- its task ------------------------------------------------------------------------------

    def _key(self, what: str) -> str:
        """Each card is posted once: a restart before its record posts it under the same key."""
        return post_key("tournament", self.id, self.stored.created_at, what)

    def _stage(self, channel_id: int) -> TournamentStage:
        return self.tournaments.stages.stage_for(channel_id)

    def _place(self) -> TournamentStage:
        return self._stage(self.stored.place_id)

    async def _run(self) -> None:
        stored = await self.reload()
        if stored.state is TournamentState.RUNNING:
            await self._set_up()
            runner = TournamentRunner(progression_of(self.stored), self.player, self)
            try:
                await runner.run()
            except TournamentEnded:
                return
        if self.stored.state is TournamentState.FINISHED and not self.stored.champion_announced:
            await self._announce_champion()

    async def _set_up(self) -> None:
        """The announcement, the thread and the bracket, each posted once (the store says which
        are already out)."""
        stored = self.stored
        channel = self._stage(stored.channel_id)
        announcement = stored.announcement_message_id
        if announcement is None:
            announcement = await channel.post_card(
                announcement_card(stored, self.starter_mention), key=self._key("announcement")
            )
            await self.store.set_tournament_announcement(self.id, announcement)
        if stored.threaded and stored.thread_id is None:
            try:
                thread_id = await channel.open_thread_from(announcement, thread_name(stored))
            except StageError as error:
                log.warning("Tournament %s could not open its thread: %s", self.id, error)
                await channel.post_notice(
                    "I could not open a thread for the tournament, so it goes on in this channel."
                )
            else:
                await self.store.set_tournament_thread(self.id, thread_id)
        stored = await self.reload()
        if stored.bracket_message_id is None:
            message_id = await self._place().post_card(
                bracket_card(stored), key=self._key("bracket")
            )
            await self.store.set_bracket_message(self.id, message_id)
            await self.reload()

    async def _edit_bracket(self) -> None:
        stored = self.stored
        if stored.bracket_message_id is not None:
            await self._place().edit_card(
                stored.bracket_message_id, bracket_card(stored, self.playing)
            )

    async def _announce_champion(self) -> None:
        stored = self.stored
        card = champion_card(stored)
        await _quietly(self._place().post_card(card, key=self._key("champion")))
        if stored.thread_id is not None:
            channel = self._stage(stored.channel_id)
            await _quietly(channel.post_card(card, key=self._key("champion")))
        await self.store.set_champion_announced(self.id)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self.tournaments.sessions.pop(self.id, None)
        if task.cancelled() or task.exception() is None:
            return
        log.error(
            "Tournament %s (guild %s) crashed",
            self.id,
            self.stored.guild_id,
            exc_info=task.exception(),
        )
        self.arena.in_background(self._report_crash(), f"report crash of tournament {self.id}")

    async def _report_crash(self) -> None:
        await _quietly(
            self._place().post_notice(
                f"⚠️ Tournament #{self.id} hit an error on our side and is paused; it goes on "
                "after the bot restarts, or /tournament-stop ends it."
            )
        )


async def _quietly(post: Any) -> None:
    """A post whose failure must not stop the tournament (the bracket, a note)."""
    try:
        await post
    except StageError as error:
        log.warning("Could not post for a tournament: %s", error)
