"""Cost you can see: usage kept with each verse, the title card's estimate, the daily budget,
and the spend lines; the arena with the in-memory store and recording stages."""

from __future__ import annotations

import asyncio
import datetime
import math
import random
from collections.abc import AsyncIterator, Callable, Sequence

import pytest

from bot.engine.battle import Battle
from bot.engine.house_rules import (
    Pricing,
    PromptSizes,
    battle_cost_upper_bound,
    check_daily_budget,
)
from bot.engine.pacing import Pace
from bot.engine.server_settings import ServerSettings
from bot.engine.spend import (
    CostEstimate,
    Spend,
    SpendReport,
    TokenUsage,
    WrittenVerse,
    budget_refusal,
    spend_fields,
    spend_line,
    usd,
)
from bot.engine.verdicts import judge_messages
from bot.errors import UserError
from bot.services.battles.arena import Arena, BattleRequest
from bot.services.battles.referee import MeteredVerseSource
from bot.services.battles.standings import StandingsService
from bot.services.judging.factory import PanelFactory
from bot.settings import Settings
from tests.fakes.memory_store import MemoryStore
from tests.fakes.stages import FakeStageFactory, PostKind
from tests.unit.test_jury_policy import Panel

GUILD, CHANNEL, OTHER_CHANNEL, ALICE = 1, 10, 11, 100
PRICES = {"m/a": Pricing(0.000001, 0.000002), "m/b": Pricing(0.000003, 0.000004)}
# 2026-11-30 10:00 UTC: the budget resets at 2026-12-01 00:00 UTC.
NOW = datetime.datetime(2026, 11, 30, 10, 0, tzinfo=datetime.UTC).timestamp()
NEXT_MIDNIGHT = int(datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC).timestamp())
PROMPTLY = 2.0


class MeteredVerses:
    """A MeteredVerseSource: each verse uses 10 prompt tokens per request made so far and 5
    completion tokens; model m/a's provider reports a cost, m/b's does not."""

    def __init__(self) -> None:
        self.requests = 0

    async def write_verse(
        self,
        model: str,
        messages: Sequence[object],
        on_progress: Callable[[int], None] | None = None,
    ) -> WrittenVerse:
        self.requests += 1
        cost = 0.01 * self.requests if model == "m/a" else None
        return WrittenVerse(
            f"{model} verse {self.requests}", TokenUsage(10 * self.requests, 5, cost)
        )

    async def generate_verse(
        self,
        model: str,
        messages: Sequence[object],
        on_progress: Callable[[int], None] | None = None,
    ) -> str:
        return (await self.write_verse(model, messages, on_progress)).text


class PlainVerses:
    """A VerseSource that reports no usage at all."""

    async def generate_verse(
        self,
        model: str,
        messages: Sequence[object],
        on_progress: Callable[[int], None] | None = None,
    ) -> str:
        return f"{model} verse"


def make_arena(
    store: MemoryStore, stages: FakeStageFactory, verses: object, **options: object
) -> Arena:
    settings = Settings(
        battle_rounds=1,
        battle_pace=Pace(0.0),
        vote_seconds=0,
        battle_cooldown_seconds=0,
        llm_max_tokens=700,
    )
    return Arena(
        settings,
        store,
        verses,  # type: ignore[arg-type]
        StandingsService(store),
        stages,
        clock=lambda: NOW,
        rng=random.Random(1),
        **options,  # type: ignore[arg-type]
    )


@pytest.fixture
async def arena() -> AsyncIterator[Arena]:
    made = make_arena(MemoryStore(), FakeStageFactory(), MeteredVerses())
    yield made
    await made.shutdown()


def request(channel: int = CHANNEL, pricing=PRICES, judged: bool = False) -> BattleRequest:
    return BattleRequest(GUILD, channel, ALICE, f"<@{ALICE}>", pricing=pricing, judges=judged)


BATTLE = Battle("m/a", "m/b", rounds=1)


def upper_bound(judges: Sequence[Pricing] = ()) -> float:
    return battle_cost_upper_bound(
        BATTLE, PromptSizes.for_battle(BATTLE, clean=True), 700, PRICES, judges
    )


async def test_the_title_card_shows_the_upper_bound_and_the_verses_keep_their_usage(arena):
    session = await arena.start(request(), BATTLE)
    await session.outcome()
    stage = arena.stages.stage_for(CHANNEL)
    assert stage.posts[0].kind is PostKind.TITLE_CARD
    assert stage.cost_estimate == CostEstimate(upper_bound())
    assert stage.cost_estimate.shown == f"at most {usd(upper_bound())}"
    # m/a's provider said what it cost; m/b's did not, so its price comes from the catalog.
    assert await arena.store.turn_usage(session.stored.id) == [
        TokenUsage(10, 5, 0.01),
        TokenUsage(20, 5, pytest.approx(20 * 0.000003 + 5 * 0.000004)),
    ]
    spent = await arena.store.spend(GUILD)
    assert spent.cost_usd == pytest.approx(0.01 + 20 * 0.000003 + 5 * 0.000004)
    assert spent.tokens == 40


JUDGE_PRICE = Pricing(0.00001, 0.00003)


def judged_arena(judge_prices: dict[str, Pricing]) -> Arena:
    """An arena seating two judges, priced from ``judge_prices`` as the catalog would."""

    async def resolve(name: str) -> str:
        return name

    store = MemoryStore()
    return make_arena(
        store,
        FakeStageFactory(),
        MeteredVerses(),
        judges=PanelFactory(Panel(), resolve, ("j1/judge", "j2/judge")),
        prices=lambda *ids: {i: judge_prices[i] for i in ids if i in judge_prices},
    )


async def test_a_judged_battle_adds_its_seated_judges_to_the_estimate():
    both = {"j1/judge": JUDGE_PRICE, "j2/judge": JUDGE_PRICE}
    arena = judged_arena(both)
    try:
        session = await arena.start(request(judged=True), BATTLE)
        instructions = len(judge_messages("", None)[0]["content"])
        sizes = PromptSizes.for_battle(BATTLE, clean=True, judge_prompt=instructions)
        expected = battle_cost_upper_bound(BATTLE, sizes, 700, PRICES, [JUDGE_PRICE] * 2)
        assert session.estimate == CostEstimate(expected)
        assert session.estimate.upper_bound_usd > upper_bound()
    finally:
        await arena.shutdown()


async def test_a_model_without_a_price_makes_the_cost_unknown(arena):
    session = await arena.start(request(pricing={"m/a": PRICES["m/a"]}), BATTLE)
    await session.outcome()
    assert arena.stages.stage_for(CHANNEL).cost_estimate == CostEstimate(None)
    assert CostEstimate(None).shown == "cost unknown"


async def test_a_judge_without_a_price_makes_the_cost_unknown():
    arena = judged_arena({"j1/judge": JUDGE_PRICE})
    try:
        session = await arena.start(request(judged=True), BATTLE)
        assert session.estimate == CostEstimate(None)
    finally:
        await arena.shutdown()


async def test_a_source_without_usage_still_battles_and_keeps_none():
    store, stages = MemoryStore(), FakeStageFactory()
    arena = make_arena(store, stages, PlainVerses())
    assert not isinstance(PlainVerses(), MeteredVerseSource)
    try:
        session = await arena.start(request(), BATTLE)
        await session.outcome()
        assert await store.turn_usage(session.stored.id) == [None, None]
        assert await store.spend(GUILD) == Spend()
    finally:
        await arena.shutdown()


async def test_the_budget_refuses_a_battle_that_could_go_over_and_says_when_it_resets(arena):
    bound = upper_bound()
    spent_by_first = 0.01 + 20 * 0.000003 + 5 * 0.000004
    budget = math.ceil(bound * 100) / 100  # Room for one battle, not two.
    assert bound <= budget < spent_by_first + bound
    await arena.store.save_server_settings(GUILD, ServerSettings(daily_budget_usd=budget))
    first = await arena.start(request(), BATTLE)
    await first.outcome()
    with pytest.raises(UserError) as refused:
        await arena.start(request(OTHER_CHANNEL), BATTLE)
    message = str(refused.value)
    assert f"<t:{NEXT_MIDNIGHT}:R>" in message
    assert f"up to {usd(bound)}" in message
    assert f"of its {usd(budget)} daily budget" in message
    assert OTHER_CHANNEL not in arena.stages.stages


async def test_a_running_battle_holds_its_whole_bound_against_the_budget(arena):
    bound = upper_bound()
    budget = round(bound * 1.5, 2)
    await arena.store.save_server_settings(GUILD, ServerSettings(daily_budget_usd=budget))
    first = await arena.start(request(), BATTLE)  # Still running: nothing spent yet.
    with pytest.raises(UserError, match="resets <t:"):
        await arena.start(request(OTHER_CHANNEL), BATTLE)
    await first.outcome()


async def test_with_a_budget_an_unpriced_battle_is_refused(arena):
    await arena.store.save_server_settings(GUILD, ServerSettings(daily_budget_usd=100))
    with pytest.raises(UserError, match="no listed price"):
        await arena.start(request(pricing={}), BATTLE)


def test_budget_decision_and_message():
    now = datetime.datetime(2026, 11, 30, 23, 59, tzinfo=datetime.UTC)
    decision = check_daily_budget(0.98, 0.05, 1.0, now)
    assert not decision.allowed
    assert budget_refusal(decision) == (
        "This battle could cost up to $0.05, and this server has $0.02 left of its $1.00 "
        "daily budget (spent or held by running battles today, UTC). "
        f"The budget resets <t:{NEXT_MIDNIGHT}:R>."
    )
    assert check_daily_budget(0.95, 0.05, 1.0, now).allowed


def test_usage_adds_up_and_is_priced_only_when_the_provider_did_not_say():
    assert TokenUsage.total(None, None) is None
    assert TokenUsage.total(TokenUsage(1, 2, 0.5), None) == TokenUsage(1, 2, 0.5)
    assert TokenUsage.total(TokenUsage(1, 2, 0.5), TokenUsage(3, 4, 0.25)) == TokenUsage(4, 6, 0.75)
    assert TokenUsage.total(TokenUsage(1, 2, 0.5), TokenUsage(3, 4)) == TokenUsage(4, 6, None)
    assert TokenUsage(1, 2, 0.5).priced(Pricing(1, 1)) == TokenUsage(1, 2, 0.5)
    assert TokenUsage(1, 2).priced(Pricing(1, 10)) == TokenUsage(1, 2, 21)
    assert TokenUsage(1, 2).priced(None) == TokenUsage(1, 2, None)


def test_spend_lines_for_battle_stats():
    spend = Spend(1_200, 345, 0.0042, 3, 0)
    assert spend_line(spend) == "$0.0042 · 1,545 tokens (1,200 in, 345 out)"
    assert "2 requests of unknown price not included" in spend_line(Spend(1, 1, 2.5, 3, 2))
    report = SpendReport(spend, spend + spend, Spend(), Spend(10, 0, 12.345, 1, 0))
    fields = spend_fields(report)
    assert [name for name, _ in fields] == ["Spend on this server", "Spend on every server"]
    assert fields[0][1].splitlines() == [
        "Today (UTC): $0.0042 · 1,545 tokens (1,200 in, 345 out)",
        "All time: $0.0084 · 3,090 tokens (2,400 in, 690 out)",
    ]
    assert fields[1][1].splitlines()[1] == "All time: $12.35 · 10 tokens (10 in, 0 out)"


async def test_two_battles_starting_at_once_cannot_share_one_margin(arena):
    dear = {model: Pricing(p.prompt * 100, p.completion * 100) for model, p in PRICES.items()}
    bound = battle_cost_upper_bound(BATTLE, PromptSizes.for_battle(BATTLE, clean=True), 700, dear)
    budget = math.ceil(bound * 1.5 * 100) / 100  # Room for one bound, not two.
    assert budget < 2 * bound
    await arena.store.save_server_settings(GUILD, ServerSettings(daily_budget_usd=budget))
    started = await asyncio.gather(
        arena.start(request(pricing=dear), BATTLE),
        arena.start(request(OTHER_CHANNEL, pricing=dear), BATTLE),
        return_exceptions=True,
    )
    refused = [result for result in started if isinstance(result, UserError)]
    assert len(refused) == 1 and "resets <t:" in str(refused[0])
    [session] = [result for result in started if not isinstance(result, BaseException)]
    await session.outcome()
