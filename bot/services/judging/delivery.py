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
from collections.abc import Awaitable, Callable, Mapping

from bot.engine.house_rules import Pricing, spend_from_usage
from bot.engine.server_settings import ServerRules
from bot.engine.verdicts import Verdict
from bot.engine.votes import Tally
from bot.services.battles.referee import cancel_and_wait
from bot.services.judging.factory import PanelFactory
from bot.services.judging.panel import JudgePanel
from bot.services.stage import StageError, StageFactory
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
    ) -> None:
        self.judges = judges
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
        """The panel of the battle's server reads its stored turns."""
        panel = await self.judges.for_server(await self._rules_for(stored.guild_id))
        return await panel.judge(stored.battle, await self._store.turns(stored.id))

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
                await store.store_verdict(stored.id, self._priced(verdict))
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
        """Beside the results; when the channel refuses, says so in the store and stops trying."""
        current = await self._store.battle(stored.id) or stored
        crowd = Tally(await self._store.ballots(stored.id))
        stage = self._stages.stage_for(current.place_id)
        try:
            message_id = await stage.post_verdict(current.battle, verdict, crowd)
        except StageError as error:
            log.warning("The verdict on battle %s could not be posted: %s", stored.id, error)
            if error.lost_access:
                await self._store.verdict_undeliverable(stored.id, str(error)[:500])
            return
        await self._store.set_verdict_message(stored.id, message_id)

    async def close(self) -> None:
        """Stops every judging and delivery under way; a restart takes them up again."""
        for task in [*self._delivering.values(), *self._judging.values()]:
            await cancel_and_wait(task)
        self._delivering.clear()
        self._judging.clear()
