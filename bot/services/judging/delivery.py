"""The judges in Discord: which panel judges a server's battle, and each verdict's way from the
judges to the channel.

The panel starts the moment the last verse is written (the battle's ``Bout`` runs it) and works
while the crowd votes. Its verdict is stored only once the vote has closed, in one transaction
with the judges' board, and posted after the results, so the panel never sways the crowd. Each
battle's verdict is judged at most once and delivered at most once in this process; after a
restart a pending verdict is judged again from the stored turns, and a stored one is posted.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Mapping

from bot.engine.house_rules import Pricing, spend_from_usage
from bot.engine.server_settings import ServerRules
from bot.engine.verdicts import Ballot, Verdict
from bot.engine.votes import Tally
from bot.observe import NO_OBSERVER, Observer
from bot.services.battles.referee import cancel_and_wait
from bot.services.battles.undelivered import give_up_reason
from bot.services.judging.factory import PanelFactory
from bot.services.judging.panel import JudgePanel
from bot.services.stage import StageError, StageFactory, post_key
from bot.store import Store, StoredBattle
from bot.store.verdicts import VerdictState

log = logging.getLogger(__name__)

JUDGING_FAILED_REASON = "the judging failed on our side"


class VerdictDesk:
    """Every judged battle's verdict in this process, from the judges to the channel."""

    def __init__(
        self,
        judges: PanelFactory,
        store: Store,
        stages: StageFactory,
        rules_for: Callable[[int], Awaitable[ServerRules]],
        prices: Callable[..., Mapping[str, Pricing]] = lambda *model_ids: {},
        observe: Observer = NO_OBSERVER,
    ) -> None:
        self.judges = judges
        self._observe = observe  # what the judges cost
        self._prices = prices  # the catalog's known prices, to put a cost on each judge
        self._store = store
        self._stages = stages
        self._rules_for = rules_for
        self._judging: dict[int, asyncio.Task[Verdict]] = {}  # by battle id
        self._delivering: dict[int, asyncio.Task[Verdict | None]] = {}

    async def panel(self, rules: ServerRules) -> JudgePanel:
        return await self.judges.for_server(rules)

    def _priced(self, verdict: Verdict) -> Verdict:
        """Each judge's cost at the catalog's prices (None where the catalog has no price)."""
        prices = self._prices(*(ballot.judge for ballot in verdict.ballots))
        ballots = tuple(
            dataclasses.replace(
                ballot,
                cost_usd=spend_from_usage(ballot.prompt_tokens, ballot.completion_tokens, price),
            )
            if (price := prices.get(ballot.judge)) is not None
            else ballot
            for ballot in verdict.ballots
        )
        return dataclasses.replace(verdict, ballots=ballots)

    def judging(self, battle_id: int, verdict: asyncio.Task[Verdict]) -> None:
        """The panel a battle's bout started is at work; its verdict is delivered later."""
        self._judging[battle_id] = verdict

    def forget(self, battle_id: int) -> None:
        """The battle ended without a counted vote: its judging (if any) stops."""
        task = self._judging.pop(battle_id, None)
        if task is not None:
            task.cancel()

    def kept(self, panel: JudgePanel, battle_id: int) -> JudgePanel:
        """The panel judging a battle, each judge's answer kept the moment it comes in, so that
        a restart during the vote asks only the judges who had not answered."""
        return panel.reporting_to(lambda ballot: self._keep(battle_id, ballot))

    async def _keep(self, battle_id: int, ballot: Ballot) -> None:
        try:
            await self._store.keep_judge_answer(battle_id, ballot)
        except Exception:  # Only a restart would ask this judge again: the verdict goes on.
            log.exception("Keeping judge %s's answer on battle %s failed", ballot.judge, battle_id)

    async def is_judged(self, battle_id: int) -> bool:
        return await self._store.verdict_status(battle_id) is not None

    async def judge_again(self, stored: StoredBattle) -> None:
        """After a restart, a battle still voting has its pending verdict judged at once."""
        status = await self._store.verdict_status(stored.id)
        if status is None or status.state is not VerdictState.PENDING:
            return
        self._judging_of(stored)

    def _judging_of(self, stored: StoredBattle) -> asyncio.Task[Verdict]:
        task = self._judging.get(stored.id)
        if task is None:
            task = asyncio.create_task(self._judge(stored), name=f"judging {stored.id}")
            self._judging[stored.id] = task
        return task

    async def _judge(self, stored: StoredBattle) -> Verdict:
        """The panel of the battle's server reads its stored turns; the judges who answered
        before a restart are not asked again."""
        panel = await self.judges.for_server(await self._rules_for(stored.guild_id))
        answered = await self._store.judge_answers(stored.id)
        turns = await self._store.turns(stored.id)
        return await self.kept(panel, stored.id).judge(stored.battle, turns, answered=answered)

    async def deliver(self, stored: StoredBattle) -> Verdict | None:
        """After the vote has closed (and its results were posted): the verdict, stored and
        posted once. None when the battle has none (not judged, or the judging failed)."""
        task = self._delivering.get(stored.id)
        if task is None:
            task = asyncio.create_task(self._deliver(stored), name=f"verdict {stored.id}")
            self._delivering[stored.id] = task
            task.add_done_callback(lambda _: self._delivering.pop(stored.id, None))
        return await asyncio.shield(task)

    async def _deliver(self, stored: StoredBattle) -> Verdict | None:
        store = self._store
        try:
            status = await store.verdict_status(stored.id)
            if status is not None and status.state is VerdictState.PENDING:
                try:
                    verdict = await self._judging_of(stored)
                except Exception:
                    log.exception("Judging battle %s failed", stored.id)
                    await store.verdict_failed(stored.id, JUDGING_FAILED_REASON)
                    return None
                priced = self._priced(verdict)
                await store.store_verdict(stored.id, priced)
                for ballot in priced.ballots:
                    self._observe.spent("judge", ballot.cost_usd or 0.0)
                status = await store.verdict_status(stored.id)
        finally:
            self._judging.pop(stored.id, None)
        if status is None or not status.state.has_ballots:
            return None
        verdict = await store.stored_verdict(stored.id)
        assert verdict is not None
        if status.state is VerdictState.STORED:
            await self._post(stored, verdict)
        return verdict

    async def _post(self, stored: StoredBattle, verdict: Verdict) -> None:
        """Beside the results. When the channel refuses, the verdict waits to be posted at the
        next start (or after its results, when they waited too), and is given up on as results
        are (bot/services/battles/undelivered.py)."""
        current = await self._store.battle(stored.id) or stored
        crowd = Tally(await self._store.ballots(stored.id))
        stage = self._stages.stage_for(current.place_id)
        try:
            # Posted again after a restart that came before its record: shown once.
            key = post_key("battle", stored.id, stored.created_at, "verdict")
            message_id = await stage.post_verdict(current.battle, verdict, crowd, key=key)
        except StageError as error:
            log.warning("The verdict on battle %s could not be posted: %s", stored.id, error)
            given_up = give_up_reason(error, current.vote_closes_at, time.time())
            if given_up or (error.lost_access and current.reason is not None):
                await self._store.verdict_undeliverable(stored.id, str(error)[:500])
            return
        await self._store.set_verdict_message(stored.id, message_id)

    async def close(self) -> None:
        """Stops every judging and delivery under way; a restart takes them up again."""
        for task in [*self._delivering.values(), *self._judging.values()]:
            await cancel_and_wait(task)
        self._delivering.clear()
        self._judging.clear()
