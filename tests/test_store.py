"""The store against real SQLite files."""

import asyncio
import sqlite3

import pytest

from bot.engine.battle import FINAL_ROUND, Battle, Side
from bot.engine.votes import DEFAULT_EMOJI, Tally
from bot.errors import ConfigError
from bot.store import BattleState, NewBattle, open_store
from bot.store.migrations import MIGRATIONS


@pytest.fixture
def database_url(tmp_path):
    return f"sqlite:///{tmp_path}/nested/rapbattle.db"


@pytest.fixture
async def store(database_url):
    opened = await open_store(database_url)
    yield opened
    await opened.close()


def new_battle(guild=1, channel=10, starter=100, **options):
    return NewBattle(guild, channel, starter, Battle("m/a", "m/b", **options))


async def test_migrations_create_the_schema_once(store, database_url):
    assert await store.schema_version() == len(MIGRATIONS)
    await store.close()
    reopened = await open_store(database_url)
    try:
        assert await reopened.schema_version() == len(MIGRATIONS)
        assert await reopened.migrate() == len(MIGRATIONS)
    finally:
        await reopened.close()


async def test_a_battle_its_turns_and_its_vote_survive_a_reopen(store, database_url):
    created = await store.create_battle(new_battle(topic="cats", blind=True), now=1000.0)
    battle = created.battle
    for position, slot in enumerate(battle.plan()):
        text = FINAL_ROUND if slot.side is None else f"verse {position}\n\nwith  spaces"
        await store.add_turn(created.id, position, battle.turn(slot, text))
    assert await store.open_voting(created.id, 555, 2000.0, DEFAULT_EMOJI)
    tally = Tally({1: Side.A, 2: Side.A, 3: Side.B})
    assert await store.close_voting(created.id, tally, now=2001.0)
    await store.close()

    reopened = await open_store(database_url)
    try:
        stored = await reopened.battle(created.id)
        assert stored is not None
        assert stored.battle == battle and stored.state is BattleState.CLOSED
        assert (stored.votes_a, stored.votes_b) == (2, 1)
        assert stored.emoji == DEFAULT_EMOJI and stored.vote_message_id == 555
        turns = await reopened.turns(created.id)
        assert [t.text for t in turns][4] == FINAL_ROUND and turns[4].side is None
        assert turns[0].text == "verse 0\n\nwith  spaces" and turns[0].side is Side.A
        assert await reopened.ballots(created.id) == dict(tally.ballots)
    finally:
        await reopened.close()


async def test_a_vote_closes_exactly_once(store):
    created = await store.create_battle(new_battle(), now=1.0)
    assert await store.open_voting(created.id, 1, 2.0, DEFAULT_EMOJI)
    assert not await store.open_voting(created.id, 1, 2.0, DEFAULT_EMOJI)
    first, second = await asyncio.gather(
        store.close_voting(created.id, Tally({7: Side.B}), 3.0),
        store.close_voting(created.id, Tally({7: Side.B, 8: Side.A}), 3.0),
    )
    assert sorted([first, second]) == [False, True]
    assert len(await store.ballots(created.id)) in (1, 2)
    stored = await store.battle(created.id)
    assert stored.votes_a + stored.votes_b == len(await store.ballots(created.id))


async def test_state_changes_only_from_the_right_state(store):
    created = await store.create_battle(new_battle(), now=1.0)
    assert await store.end_battle(created.id, BattleState.INTERRUPTED, "restart")
    assert not await store.end_battle(created.id, BattleState.STOPPED, "again")
    assert not await store.open_voting(created.id, 1, 2.0, DEFAULT_EMOJI)
    stored = await store.battle(created.id)
    assert stored.state is BattleState.INTERRUPTED and stored.reason == "restart"
    with pytest.raises(ValueError):
        await store.end_battle(created.id, BattleState.CLOSED, None)


async def test_a_failed_change_leaves_nothing_behind(store):
    created = await store.create_battle(new_battle(), now=1.0)
    turn = created.battle.turn(created.battle.plan()[0], "once")
    await store.add_turn(created.id, 0, turn)
    with pytest.raises(sqlite3.IntegrityError):
        await store.add_turn(created.id, 0, turn)
    assert [t.text for t in await store.turns(created.id)] == ["once"]
    await store.add_turn(created.id, 1, turn)  # the connection is usable after the rollback


async def test_battles_by_state_and_last_start(store):
    one = await store.create_battle(new_battle(starter=5), now=10.0)
    two = await store.create_battle(new_battle(starter=5, channel=11), now=20.0)
    await store.create_battle(new_battle(guild=2, starter=5), now=30.0)
    await store.open_voting(two.id, 9, 99.0, DEFAULT_EMOJI)
    running = await store.battles_in([BattleState.RUNNING])
    assert [b.id for b in running if b.guild_id == 1] == [one.id]
    assert [b.id for b in await store.battles_in([BattleState.VOTING])] == [two.id]
    assert await store.last_start(1, 5) == 20.0
    assert await store.last_start(1, 6) is None


async def test_many_concurrent_writers_share_one_connection(store):
    created = await store.create_battle(new_battle(), now=1.0)
    turn = created.battle.turn(created.battle.plan()[0], "x")
    await asyncio.gather(*(store.add_turn(created.id, i, turn) for i in range(200)))
    assert len(await store.turns(created.id)) == 200


async def test_unsupported_database_urls_are_a_clear_error():
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        await open_store("mysql://localhost/db")
