"""The arena: every battle and vote this process runs, each an object that owns its task.

It speaks to wherever battles are shown only through the stages a ``StageFactory`` makes, so it
knows nothing of Discord, and one channel's failure never reaches another channel's battle.
Whether a battle may start is decided in bot/engine/admission.py: the arena gathers the facts,
asks once, and holds what an admitted battle holds until it runs. To its sessions it is the
``SessionOwner`` they declare.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import logging
import random
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field

from bot.engine.admission import (
    Admitted,
    Application,
    InPlay,
    Refused,
    Seating,
    admit,
    wants_judges,
)
from bot.engine.battle import Battle
from bot.engine.house_rules import Pricing, utc_day_start
from bot.engine.lifecycle import BattleState
from bot.engine.server_settings import (
    COOLDOWN_SECONDS,
    DAILY_BUDGET_USD,
    MAX_BATTLES,
    PACE,
    PUBLIC_PAGE,
    ROUNDS,
    THREADS,
    VOTE_SECONDS,
    ServerRules,
)
from bot.engine.spend import CostEstimate
from bot.engine.verdicts import Verdict
from bot.engine.votes import Tally, Voter
from bot.errors import UserError
from bot.observe import NO_OBSERVER, Observer
from bot.services.battles.outcome import BattleOutcome
from bot.services.battles.recovery import recover_running
from bot.services.battles.referee import VerseSource
from bot.services.battles.sessions import BattleSession, VoteSession
from bot.services.battles.standings import StandingsService
from bot.services.battles.undelivered import UndeliveredResults
from bot.services.judging.delivery import VerdictDesk
from bot.services.judging.factory import PanelFactory
from bot.services.judging.panel import JudgePanel
from bot.services.links import absolute, battle_path, server_path
from bot.services.live.shows import LiveShows
from bot.services.live.stage import LiveStage
from bot.services.moderation.screen import ContentFilter
from bot.services.stage import StageFactory
from bot.services.tracks.desk import TrackDesk
from bot.settings import Settings
from bot.store import NewBattle, Store, StoredBattle

log = logging.getLogger(__name__)

# How long a stopping bot lets battles finish the post under way and record how they ended.
SHUTDOWN_GRACE_SECONDS = 10.0


def default_rules(settings: Settings) -> ServerRules:
    """The process-wide defaults a server starts from."""
    return ServerRules.defaults(
        {
            ROUNDS: settings.battle_rounds,
            PACE: settings.battle_pace,
            VOTE_SECONDS: settings.vote_seconds,
            COOLDOWN_SECONDS: settings.battle_cooldown_seconds,
            MAX_BATTLES: settings.max_battles_per_server,
        }
    )


@dataclass(frozen=True, slots=True)
class BattleRequest:
    """Who asks for a battle where, as the command saw it."""

    guild_id: int
    channel_id: int
    starter_id: int
    starter_mention: str
    # Permissions the battle needs in the channel that the bot lacks, by their names.
    missing_permissions: tuple[str, ...] = ()
    # Whether the MCs may post through a channel webhook (the bot has Manage Webhooks).
    verses_by_webhook: bool = False
    # Shown on the title card, e.g. "round 1, match 2" for a tournament's match.
    label: str | None = None
    # Whether the judges' panel gives a verdict; None: as the server's `judges` setting says.
    judges: bool | None = None
    # The catalog's prices of the battle's models, by model id; a model missing from it has
    # no known price, and the title card then says "cost unknown".
    pricing: Mapping[str, Pricing] = field(default_factory=dict)
    # Started by a schedule (bot/services/schedules/), and so marked in the battle's history.
    scheduled: bool = False
    # A tournament's own match (bot/services/tournaments/): no starter's cooldown applies.
    tournament_match: bool = False
    # The voice or Stage channel the battle is performed in live (None: text only), and the
    # permissions a performance needs there that the bot lacks, by their names.
    voice_channel_id: int | None = None
    missing_voice_permissions: tuple[str, ...] = ()


class Arena:
    """Starts battles after the checks, runs their votes, and picks up after a restart."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        models: VerseSource,
        standings: StandingsService,
        stages: StageFactory,
        owns_guild: Callable[[int], bool] = lambda guild_id: True,
        gateway_epoch: Callable[[int], int] = lambda guild_id: 0,
        *,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        judges: PanelFactory | None = None,
        prices: Callable[..., Mapping[str, Pricing]] = lambda *model_ids: {},
        tracks: TrackDesk | None = None,
        observe: Observer = NO_OBSERVER,
        live: LiveShows | None = None,
        content_filter: ContentFilter | None = None,
    ) -> None:
        self.defaults = default_rules(settings)
        self.observe = observe  # told how battles go (the bot's metrics)
        self.content_filter = content_filter  # screens each verse (None: shown as written)
        self.public_url = settings.public_url
        self.max_tokens = settings.llm_max_tokens
        # The catalog's known prices of some model ids (a model without one is left out).
        self._prices = prices
        self.store = store
        self.models = models
        self.standings = standings
        self.stages = stages
        self.tracks = tracks  # battle tracks for servers with the audio setting on
        self.live = live  # battles performed in voice channels; None: this process performs none
        self.owns_guild = owns_guild
        # How many gateway sessions a guild's shard has begun: while it stands still, reaction
        # events reached the arena without a gap (a resume replays what was missed).
        self.gateway_epoch = gateway_epoch
        self.clock = clock
        self._rng = rng or random.Random()
        self.battles: dict[int, BattleSession] = {}  # by battle id, while verses are posted
        self.votes: dict[int, VoteSession] = {}  # by vote message id, while voting is open
        self._background: set[asyncio.Task[None]] = set()
        # Battles admitted and not yet registered, each under a token of its own: what each holds
        # (its place, its starter's turn, its cost bound) while it is stored and set up.
        self._starting: dict[object, InPlay] = {}
        self._outcomes: dict[int, asyncio.Future[BattleOutcome]] = {}  # by battle id
        # Battles created later than this are this process's own, never recovered by it.
        self._started_at = clock()
        # Judged battles' verdicts (bot/services/judging/delivery.py); None when this process seats
        # no judges.
        self.verdicts = (
            VerdictDesk(judges, store, stages, self.rules_for, prices, observe) if judges else None
        )
        # Results a channel refused, posted once the bot may post there again.
        self.undelivered = UndeliveredResults(
            store, owns_guild, self.votes, self.in_background,
            lambda stored: VoteSession(self, stored, self.stages.stage_for(stored.place_id)),
            deliver_verdict=self.verdicts.deliver if self.verdicts else None,
        )  # fmt: skip

    async def page_of(self, stored: StoredBattle) -> str | None:
        """The web arena's page for a battle when PUBLIC_URL is set: the battle's own page on a
        server that publishes its battles, else the public leaderboard."""
        if self.public_url is None:
            return None
        public = (await self.rules_for(stored.guild_id))[PUBLIC_PAGE]
        return absolute(self.public_url, battle_path(stored.id) if public else "/")

    async def board_page(self, guild_id: int | None) -> str | None:
        """The web arena's page for a leaderboard when PUBLIC_URL is set: a server's own page if
        it publishes one, else the global boards."""
        if self.public_url is None:
            return None
        if guild_id is not None and (await self.rules_for(guild_id))[PUBLIC_PAGE]:
            return absolute(self.public_url, server_path(guild_id))
        return absolute(self.public_url, "/")

    async def rules_for(self, guild_id: int) -> ServerRules:
        return (await self.store.server_settings(guild_id)).apply_to(self.defaults)

    async def start(self, request: BattleRequest, battle: Battle) -> BattleSession:
        """Checks that the battle may start here and now, then starts it."""
        rules = await self.rules_for(request.guild_id)
        swapped = battle.blind and self._rng.random() < 0.5
        if swapped:
            battle = dataclasses.replace(battle, model_a=battle.model_b, model_b=battle.model_a)
        jury, seating = await self._seating(request, rules, battle)
        admission = await self._admission(request, battle, rules, seating)
        # Held from the decision on, with nothing awaited in between: of two /battle commands
        # arriving together, the one decided second counts what the first holds.
        if isinstance(admission, Refused):
            raise UserError(admission.message)
        token = object()
        self._starting[token] = admission.hold
        try:
            return await self._start(request, battle, swapped, rules, jury, admission.estimate)
        finally:
            del self._starting[token]  # By now registered as running, or never to run.

    async def _admission(
        self, request: BattleRequest, battle: Battle, rules: ServerRules, jury: Seating | None
    ) -> Admitted | Refused:
        """Gathers what admission needs to know (bot/engine/admission.py) and asks it once."""
        now = self.clock()
        last_start = await self.store.last_start(request.guild_id, request.starter_id)
        spent_today = 0.0
        if rules[DAILY_BUDGET_USD] is not None:
            day = utc_day_start(datetime.datetime.fromtimestamp(now, datetime.UTC))
            spent_today = (await self.store.spend(request.guild_id, day.timestamp())).cost_usd
        return admit(
            Application(
                request.guild_id,
                request.channel_id,
                request.starter_id,
                battle,
                pricing=request.pricing,
                missing_permissions=request.missing_permissions,
                scheduled=request.scheduled,
                tournament_match=request.tournament_match,
                voice_channel_id=request.voice_channel_id,
                missing_voice_permissions=request.missing_voice_permissions,
            ),
            rules,
            [*(s.holds for s in self.battles.values()), *self._starting.values()],
            last_start=last_start,
            jury=jury,
            spent_today=spent_today,
            max_tokens=self.max_tokens,
            now=now,
            performing=self.live.performing() if self.live else (),
            max_voice_battles=self.live.most if self.live else 0,
        )

    async def _start(
        self,
        request: BattleRequest,
        battle: Battle,
        swapped: bool,
        rules: ServerRules,
        jury: JudgePanel | None,
        estimate: CostEstimate,
    ) -> BattleSession:
        stored = await self.store.create_battle(
            NewBattle(
                request.guild_id,
                request.channel_id,
                request.starter_id,
                battle,
                swapped,
                scheduled=request.scheduled,
            ),
            now=self.clock(),
        )
        if jury is not None and self.verdicts is not None:
            await self.store.mark_judged(stored.id)
            jury = self.verdicts.kept(jury, stored.id)  # each answer kept as it comes
        stage = self.stages.stage_for(
            request.channel_id, webhook=request.verses_by_webhook, thread=rules[THREADS]
        )
        show = None
        if self.live is not None and request.voice_channel_id is not None:
            show = self.live.open(stored.id, request.guild_id, request.voice_channel_id, battle)
            stage = LiveStage(stage, show)
        session = BattleSession(
            self,
            stored,
            stage,
            self.models,
            rules,
            request.starter_mention,
            # Kept from now on, so that a caller awaiting the outcome misses nothing.
            self.outcome(stored.id),
            jury,
            label=request.label,
            pricing=request.pricing,
            estimate=estimate,
            performer=show,
        )
        self.battles[stored.id] = session
        session.start()
        self.observe.battle_started()
        return session

    async def _seating(
        self, request: BattleRequest, rules: ServerRules, battle: Battle
    ) -> tuple[JudgePanel | None, Seating | None]:
        """The panel that judges this battle and what admission needs to know of it: the judges
        it seats and their prices, or why it cannot sit. (None, None) when it is not judged."""
        try:
            jury = await self._jury(request, rules)
        except UserError as refusal:
            return None, Seating(refusal=str(refusal))  # Told only if admission gets this far.
        if jury is None:
            return None, None
        judges = jury.seated(battle)
        return jury, Seating(judges, self._prices(*judges) if judges else {})

    async def _jury(self, request: BattleRequest, rules: ServerRules) -> JudgePanel | None:
        """The panel that judges this battle, or None when it is not judged."""
        if not wants_judges(rules, request.judges):
            return None
        if self.verdicts is None:
            raise UserError("This bot has no judges' panel.")
        return await self.verdicts.panel(rules)

    def stop(self, channel_id: int, by_id: int, by_name: str, may_manage: bool) -> str:
        """Stops the battle in a channel (or thread), or closes its open vote early."""
        session = next((s for s in self.battles.values() if s.place_id == channel_id), None)
        vote = next((v for v in self.votes.values() if v.place_id == channel_id), None)
        target = session or vote
        if target is None:
            raise UserError("No battle is running in this channel.")
        if by_id != target.starter_id and not may_manage:
            raise UserError("Only the battle's starter or someone with Manage Server can stop it.")
        # The vote first: for a moment after it opens, its battle's session is still registered.
        if vote is not None:
            vote.close_now()
            return "Closing the vote now."
        assert session is not None
        session.stop(f"stopped by {by_name}")
        if self.live is not None:
            self.live.hush(session.stored.id)  # no post waits for speech any more
        return "Stopping the battle."

    def outcome(self, battle_id: int) -> asyncio.Future[BattleOutcome]:
        """Resolves when the battle's record is final in this process: its vote counted, or it
        ended without one. Ask before it ends (a battle started here is followed from its start)."""
        future = self._outcomes.get(battle_id)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            self._outcomes[battle_id] = future
        return future

    async def settle(
        self, battle_id: int, tally: Tally | None = None, verdict: Verdict | None = None
    ) -> None:
        """Hands a battle's final record to whoever awaits its outcome."""
        if self.live is not None:  # a battle ended without results leaves its voice channel
            self.live.end(battle_id)
        future = self._outcomes.pop(battle_id, None)
        if future is None or future.done():
            return
        stored = await self.store.battle(battle_id)
        if stored is not None and not future.done():
            future.set_result(BattleOutcome(stored, tally, verdict))

    async def vote_counted(self, stored: StoredBattle, tally: Tally) -> None:
        """After the results: a judged battle's verdict is delivered (in the background, so the
        vote is done with) before its outcome settles; any other battle settles at once."""
        if self.verdicts is None or not await self.verdicts.is_judged(stored.id):
            await self.settle(stored.id, tally)
            return
        self.in_background(self._conclude_judged(stored, tally), f"verdict of battle {stored.id}")

    async def _conclude_judged(self, stored: StoredBattle, tally: Tally) -> None:
        assert self.verdicts is not None
        verdict = None
        try:
            verdict = await self.verdicts.deliver(stored)
        except Exception:
            log.exception("Delivering the verdict on battle %s failed", stored.id)
        await self.settle(stored.id, tally, verdict)

    async def recover(self) -> None:
        """After a restart: battles cut off mid-verse end, open votes close on time, and results
        that were never posted are posted. Each battle on its own: one channel's failure never
        keeps another's battle from being picked up."""
        # Read before any is recovered: a running battle whose verses were all shown is voted on.
        running = await self._own_battles(BattleState.RUNNING)
        voting = await self._own_battles(BattleState.VOTING)
        for stored in running:
            await _guarded(recover_running(self, stored), f"Recovering battle {stored.id}")
        for stored in voting:
            self.open_vote(stored)
        await self.undelivered.post(eligible=self._left_to_recover)
        if self.verdicts is not None:
            await self._recover_verdicts(self.verdicts)

    async def _recover_verdicts(self, verdicts: VerdictDesk) -> None:
        """Judged battles still voting are judged again now; closed ones get their verdict
        (judged again if it was pending) after the results posted above."""
        for battle_id, _ in await self.store.unfinished_verdicts():
            stored = await self.store.battle(battle_id)
            if stored is None or not self._left_to_recover(stored):
                continue
            if stored.state is BattleState.CLOSED:
                tally = Tally(await self.store.ballots(stored.id))
                self.in_background(
                    self._conclude_judged(stored, tally), f"verdict of battle {stored.id}"
                )
            else:
                await _guarded(verdicts.judge_again(stored), f"Judging battle {stored.id}")

    async def _own_battles(self, state: BattleState) -> list[StoredBattle]:
        """Battles in ``state`` left to this process to recover."""
        return [b for b in await self.store.battles_in([state]) if self._left_to_recover(b)]

    def _left_to_recover(self, stored: StoredBattle) -> bool:
        """A battle an earlier process left on one of this process's guilds. Other processes
        mind their own guilds, and a battle this process started (a /battle can arrive before
        recovery has run) is already in hand."""
        return self.owns_guild(stored.guild_id) and stored.created_at <= self._started_at

    def open_vote(self, stored: StoredBattle, *, listening_since: int | None = None) -> VoteSession:
        """Runs a stored open vote. ``listening_since`` is the gateway epoch at which this process
        started counting its reactions, when that was before anyone could react (a vote it just
        posted); a vote picked up after a restart missed events and is always recounted."""
        vote = VoteSession(self, stored, self.stages.stage_for(stored.place_id), listening_since)
        assert stored.vote_message_id is not None
        self.votes[stored.vote_message_id] = vote
        vote.start()
        return vote

    # What the sessions tell their owner (``SessionOwner``), kept in the arena's books.

    def battle_ended(self, session: BattleSession) -> None:
        self.battles.pop(session.stored.id, None)

    def vote_closed(self, vote: VoteSession) -> None:
        if vote.stored.vote_message_id is not None:
            self.votes.pop(vote.stored.vote_message_id, None)
        if self.live is not None:  # after its results, a live battle leaves its voice channel
            self.live.end(vote.stored.id)

    def verdict_under_way(self, battle_id: int, verdict: asyncio.Task[Verdict]) -> None:
        if self.verdicts is not None:
            self.verdicts.judging(battle_id, verdict)

    def verdict_called_off(self, battle_id: int) -> None:
        if self.verdicts is not None:
            self.verdicts.forget(battle_id)

    def reaction(self, message_id: int, emoji: str, voter: Voter, added: bool) -> None:
        vote = self.votes.get(message_id)
        if vote is not None:
            vote.reaction(emoji, voter, added)

    def in_background(self, work: Coroutine[object, object, None], what: str = "") -> None:
        """Runs ``work`` as a task the arena owns; a failure is logged saying what it was."""
        task = asyncio.create_task(work, name=what or None)
        self._background.add(task)
        task.add_done_callback(self._background_done)

    def _background_done(self, task: asyncio.Task[None]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("Background task %r failed", task.get_name(), exc_info=task.exception())

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
        if self.verdicts is not None:
            await self.verdicts.close()
        if self.live is not None:
            await self.live.close()
        for future in self._outcomes.values():
            future.cancel()
        self._outcomes.clear()


async def _guarded(work: Awaitable[object], what: str) -> None:
    """Runs one battle's piece of recovery; its failure is logged and stops nothing else."""
    try:
        await work
    except Exception:
        log.exception("%s failed", what)
