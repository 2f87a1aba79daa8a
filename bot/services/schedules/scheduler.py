"""The scheduler: one task that starts each server's scheduled battles and tournaments when due.

Schedules live in the store (bot/store/base.py), so they outlive the process. The task wakes when
the next schedule of this process's servers is due (or every ``poll_seconds``, or at once when a
schedule is added), claims each due run by moving its next run past now in the store (so that a
run is never made twice, and runs missed while the bot was down make one run, not one per missed
interval), and starts it through the arena or the tournaments like any other. A run the arena
refuses (the server's cap, a busy channel, the budget, a missing permission) is skipped with one
short notice in the channel; a schedule whose channel is gone is dropped.

It knows nothing of Discord: its owner tells it what it needs of a channel (``PlaceLookup``) and
hands it a matchmaker for the models a battle schedule leaves out. Its clock and its sleep are
injectable, so tests drive it with a fake clock.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from bot.engine.battle import Battle, normalize_topic
from bot.engine.house_rules import Pricing, clean_mode_applies
from bot.engine.schedules import (
    MAX_SCHEDULES,
    BattlePlan,
    ScheduleKind,
    SchedulePlan,
    TournamentPlan,
    describe_every,
    following_run,
    is_due,
    parse_every,
)
from bot.engine.server_settings import BLIND_DEFAULT, CLEAN, ROUNDS, THREADS, ServerRules
from bot.errors import UserError
from bot.services.battles.arena import Arena, BattleRequest
from bot.services.battles.matchmaker import MATCHED_LABEL
from bot.services.stage import StageError, StageFactory
from bot.services.tournaments.sessions import (
    SeedOrder,
    TournamentRequest,
    Tournaments,
    check_roster,
    tournament_threading,
)
from bot.store import Store
from bot.store.base import NewSchedule, StoredSchedule

log = logging.getLogger(__name__)

# The longest the task sleeps between looks at the store, whatever is due.
POLL_SECONDS = 60.0
COMMAND = {ScheduleKind.BATTLE: "/battle-schedule", ScheduleKind.TOURNAMENT: "/tournament-schedule"}


class Missing(enum.Enum):
    """Why a schedule's channel is not there at a run."""

    GONE = "gone"  # deleted (its server is in reach, the channel is not): the schedule is dropped
    UNREACHABLE = "unreachable"  # its server is out of reach for now: this run is skipped


@dataclass(frozen=True, slots=True)
class Place:
    """A schedule's channel as the bot finds it at a run."""

    # Permissions a battle needs there that the bot lacks, by their names ...
    missing_permissions: tuple[str, ...] = ()
    # ... and those it lacks to open threads there.
    missing_thread_permissions: tuple[str, ...] = ()
    verses_by_webhook: bool = False  # the MCs may post through the channel's webhook
    age_restricted: bool = False


# A channel by its server and id, as the owner (the bot) sees it now.
PlaceLookup = Callable[[int, int], Place | Missing]


class Matchmaker(Protocol):
    """Picks a battle's two models on a server (``fixed``: one of them is given)."""

    async def __call__(
        self, guild_id: int, channel_id: int, rules: ServerRules, fixed: str | None = None
    ) -> tuple[str, str]: ...


class Schedules:
    """Every schedule of this process's servers, and the one task that runs them."""

    def __init__(
        self,
        store: Store,
        arena: Arena,
        tournaments: Tournaments,
        stages: StageFactory,
        places: PlaceLookup,
        *,
        matchmaker: Matchmaker | None = None,
        prices: Callable[..., Mapping[str, Pricing]] = lambda *model_ids: {},
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        self.store = store
        self.arena = arena
        self.tournaments = tournaments
        self.stages = stages
        self.places = places
        self.matchmaker = matchmaker
        self.prices = prices
        self.clock = clock
        self.sleep = sleep
        self.poll_seconds = poll_seconds
        self.task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._adding = asyncio.Lock()  # one add at a time: the cap is counted, then kept

    # What the commands ask

    async def add(
        self, guild_id: int, channel_id: int, created_by: int, every: str, plan: SchedulePlan
    ) -> StoredSchedule:
        """Keeps a schedule whose first run is one interval from now."""
        every_seconds = parse_every(every)
        await self._check(guild_id, plan)
        now = self.clock()
        first_run = now + every_seconds
        new = NewSchedule(guild_id, channel_id, created_by, every_seconds, plan, first_run)
        async with self._adding:
            stored = await self.store.add_schedule(new, now, MAX_SCHEDULES)
        if stored is None:
            raise UserError(
                f"This server already has {MAX_SCHEDULES} schedules, the most it may keep: "
                "remove one first."
            )
        self._wake.set()
        return stored

    async def listed(self, guild_id: int, kind: ScheduleKind) -> list[StoredSchedule]:
        return [s for s in await self.store.schedules(guild_id) if s.kind is kind]

    async def remove(self, guild_id: int, schedule_id: int, kind: ScheduleKind) -> str:
        mine = {s.id for s in await self.listed(guild_id, kind)}
        if schedule_id not in mine or not await self.store.remove_schedule(guild_id, schedule_id):
            raise UserError(
                f"This server has no {kind.value} schedule #{schedule_id}: "
                f"`{COMMAND[kind]} list` shows them."
            )
        self._wake.set()
        return f"Schedule #{schedule_id} is removed."

    async def _check(self, guild_id: int, plan: SchedulePlan) -> None:
        rules = await self.arena.rules_for(guild_id)
        if isinstance(plan, TournamentPlan):
            check_roster(plan.models)
            for model in plan.models:
                rules.check_allowed(model)
            return
        normalize_topic(plan.topic)
        for model in (plan.model_a, plan.model_b):
            if model is not None:
                rules.check_allowed(model)
        if (plan.model_a is None or plan.model_b is None) and self.matchmaker is None:
            raise UserError("This bot cannot pick models by itself yet: give both models.")

    # The task

    def start(self) -> None:
        """Starts the task (after the arena's recovery: it knows what runs where)."""
        if self.task is None:
            self.task = asyncio.create_task(self._run(), name="schedules")

    async def shutdown(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
            self.task = None

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                wait = await self.run_due()
            except Exception:
                log.exception("Looking for due schedules failed")
                wait = self.poll_seconds
            await self._nap(wait)

    async def _nap(self, seconds: float) -> None:
        """Sleeps ``seconds``, or less if a schedule is added or removed meanwhile."""
        sleeper = asyncio.ensure_future(self.sleep(seconds))
        woken = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({sleeper, woken}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, woken):
                task.cancel()
            await asyncio.gather(sleeper, woken, return_exceptions=True)

    async def run_due(self) -> float:
        """Runs every schedule of this process's servers that is due; returns the seconds until
        the next one is (at most ``poll_seconds``)."""
        now = self.clock()
        wait = self.poll_seconds
        for schedule in await self.store.schedules():
            if not self.arena.owns_guild(schedule.guild_id):
                continue
            if not is_due(schedule.next_run_at, now):
                wait = min(wait, schedule.next_run_at - now)
                continue
            following = following_run(schedule.next_run_at, schedule.every_seconds, now)
            if not await self.store.advance_schedule(schedule.id, schedule.next_run_at, following):
                continue  # removed meanwhile, or its run already claimed
            wait = min(wait, following - now)
            try:
                await self._run_once(dataclasses.replace(schedule, next_run_at=following))
            except Exception:
                log.exception("Schedule %s (guild %s) failed", schedule.id, schedule.guild_id)
        return max(wait, 0.0)

    async def _run_once(self, schedule: StoredSchedule) -> None:
        place = self.places(schedule.guild_id, schedule.channel_id)
        if place is Missing.GONE:
            await self._drop(schedule, "its channel is gone")
            return
        if place is Missing.UNREACHABLE:
            log.info("Schedule %s skipped a run: its server is out of reach", schedule.id)
            return
        try:
            if isinstance(schedule.plan, BattlePlan):
                await self._start_battle(schedule, schedule.plan, place)
            else:
                await self._start_tournament(schedule, schedule.plan, place)
        except UserError as refusal:
            await self._notice(
                schedule,
                f"⏰ Skipped a run of schedule #{schedule.id} ({schedule.kind.value} every "
                f"{describe_every(schedule.every_seconds)}): {refusal} "
                f"Next try <t:{int(schedule.next_run_at)}:R>.",
            )

    async def _start_battle(self, schedule: StoredSchedule, plan: BattlePlan, place: Place) -> None:
        rules = await self.arena.rules_for(schedule.guild_id)
        missing = place.missing_permissions
        if rules[THREADS]:
            missing += place.missing_thread_permissions
        model_a, model_b = await self._models(schedule, plan, rules)
        label = f"Scheduled battle, every {describe_every(schedule.every_seconds)}"
        if plan.model_a is None or plan.model_b is None:
            label += f" · {MATCHED_LABEL.lower()}"
        battle = Battle(
            model_a,
            model_b,
            plan.rounds or rules[ROUNDS],
            plan.topic,
            rules[BLIND_DEFAULT] if plan.blind is None else plan.blind,
            clean=clean_mode_applies(rules[CLEAN], place.age_restricted),
        )
        request = BattleRequest(
            guild_id=schedule.guild_id,
            channel_id=schedule.channel_id,
            starter_id=schedule.created_by,
            starter_mention=f"<@{schedule.created_by}>",
            missing_permissions=missing,
            verses_by_webhook=place.verses_by_webhook,
            label=label,
            judges=plan.judges,
            pricing=self.prices(model_a, model_b),
            scheduled=True,
        )
        await self.arena.start(request, battle)

    async def _models(
        self, schedule: StoredSchedule, plan: BattlePlan, rules: ServerRules
    ) -> tuple[str, str]:
        """The plan's models; those it leaves out are matchmade now (a given one keeps its side)."""
        if plan.model_a is not None and plan.model_b is not None:
            return plan.model_a, plan.model_b
        if self.matchmaker is None:
            raise UserError("This bot cannot pick models by itself: give the schedule both.")
        fixed = plan.model_a or plan.model_b
        first, second = await self.matchmaker(
            schedule.guild_id, schedule.channel_id, rules, fixed=fixed
        )
        if plan.model_b is not None and plan.model_b in (first, second):
            other = second if first == plan.model_b else first
            return other, plan.model_b
        return first, second

    async def _start_tournament(
        self, schedule: StoredSchedule, plan: TournamentPlan, place: Place
    ) -> None:
        rules = await self.arena.rules_for(schedule.guild_id)
        threaded = tournament_threading(
            place.missing_permissions, place.missing_thread_permissions, rules
        )
        await self.tournaments.start(
            TournamentRequest(
                guild_id=schedule.guild_id,
                channel_id=schedule.channel_id,
                starter_id=schedule.created_by,
                models=plan.models,
                tournament_format=plan.tournament_format,
                seed=SeedOrder(plan.seed),
                judges=plan.judges,
                threaded=threaded,
                battle_rounds=rules[ROUNDS],
            )
        )

    async def _notice(self, schedule: StoredSchedule, text: str) -> None:
        try:
            await self.stages.stage_for(schedule.channel_id).post_notice(text)
        except StageError as error:
            if error.lost_access:
                await self._drop(schedule, f"its channel refused: {error}")
            else:
                log.warning("Schedule %s could not post its notice: %s", schedule.id, error)

    async def _drop(self, schedule: StoredSchedule, why: str) -> None:
        if await self.store.remove_schedule(schedule.guild_id, schedule.id):
            log.info("Schedule %s (guild %s) dropped: %s", schedule.id, schedule.guild_id, why)


def schedule_lines(schedules: Sequence[StoredSchedule], kind: ScheduleKind) -> str:
    """The lines of ``list``: each schedule's id, what it runs, where, and its next run."""
    if not schedules:
        return f"No {kind.value} schedules on this server. Add one with `{COMMAND[kind]} add`."
    return "\n".join(
        f"`#{s.id}` every {describe_every(s.every_seconds)} · {s.plan.describe()} · "
        f"in <#{s.channel_id}> · next <t:{int(s.next_run_at)}:R>"
        for s in schedules
    )
