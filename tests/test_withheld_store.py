"""The content filter's part of the store's contract, on SQLite, PostgreSQL (when
TEST_DATABASE_URL names one) and the in-memory store: a withheld verse kept as its battle ends
as a no contest, in one move, read back for the admins, counted by model, and paid for."""

from __future__ import annotations

import pytest

from bot.engine.battle import Battle, Side
from bot.engine.content_filter import Category
from bot.engine.spend import Spend, TokenUsage
from bot.store import BattleState, NewBattle, Store, StoredWithheldVerse
from tests.test_store import open_backend  # noqa: F401 (the contract's backends)

GUILD, OTHER_GUILD = 1, 2
REASON = "MC B's verse was withheld by the content filter (slur)"


@pytest.fixture
async def store(open_backend):  # noqa: F811 (open_backend is the imported fixture)
    opened = await open_backend()
    yield opened
    await opened.close()


async def running(store: Store, guild: int = GUILD, models=("m/a", "m/b")) -> int:
    created = await store.create_battle(NewBattle(guild, 10, 100, Battle(*models)), 1.0)
    return created.id


def verse(battle_id: int, model: str = "m/b", usage: TokenUsage | None = None):
    return StoredWithheldVerse(
        battle_id, Side.B, model, 2, Category.SLUR, "the verse as written", 5.0, usage
    )


async def test_a_withheld_verse_ends_its_battle_and_is_kept(store):
    battle_id = await running(store)
    kept = verse(battle_id, usage=TokenUsage(12, 30, 0.25))
    assert await store.withhold_verse(kept, REASON)
    stored = await store.battle(battle_id)
    assert (stored.state, stored.reason) == (BattleState.NO_CONTEST, REASON)
    assert await store.withheld_verses(battle_id) == [kept]
    assert await store.turns(battle_id) == []  # never a turn: the pages never show it
    # It was paid for: spend counts it like a verse.
    assert await store.spend(GUILD) == Spend(12, 30, 0.25, 1, 0)


async def test_a_battle_that_already_ended_keeps_its_ending_and_no_verse(store):
    battle_id = await running(store)
    assert await store.end_battle(battle_id, BattleState.STOPPED, "stopped by alice")
    assert not await store.withhold_verse(verse(battle_id), REASON)
    assert (await store.battle(battle_id)).state is BattleState.STOPPED
    assert await store.withheld_verses(battle_id) == []


async def test_withheld_counts_by_model_per_server_and_everywhere(store):
    for guild, model in ((GUILD, "m/b"), (GUILD, "m/b"), (GUILD, "m/c"), (OTHER_GUILD, "m/b")):
        battle_id = await running(store, guild, ("m/a", model))
        assert await store.withhold_verse(verse(battle_id, model), REASON)
    assert await store.withheld_counts(GUILD) == {"m/b": 2, "m/c": 1}
    assert await store.withheld_counts(OTHER_GUILD) == {"m/b": 1}
    assert await store.withheld_counts(None) == {"m/b": 3, "m/c": 1}
    assert await store.withheld_counts(99) == {}
