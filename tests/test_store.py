"""The store's contract, on every backend: SQLite files, PostgreSQL when TEST_DATABASE_URL names
one, and the in-memory store of tests/fakes, which must keep the same rules for the tests built
on it.

Each PostgreSQL test gets a schema of its own (rapbattle_test_<pid>_<random>), dropped afterwards,
so runs sharing a server never see each other's rows. Without TEST_DATABASE_URL, or when the
server cannot be reached, those tests are skipped with the reason.

Tests of the SQL itself (migrations, dialects, several processes on one database, URLs) take the
``database_url`` fixture, which only the SQL backends provide; the in-memory store has none of
those things, so they have no "memory" variant.
"""

import asyncio
import re
import sys
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from bot.engine.battle import FINAL_ROUND, Battle, Side
from bot.engine.judge_stats import JudgeBallotRow
from bot.engine.leaderboard import Board, ModelRecord
from bot.engine.lifecycle import ENDED_WITHOUT_VOTE, MOVES
from bot.engine.pacing import Pace
from bot.engine.ratings import collapse
from bot.engine.schedules import MAX_SCHEDULES, BattlePlan, ScheduleKind, TournamentPlan
from bot.engine.seasons import Season, SeasonLength
from bot.engine.server_settings import (
    AUDIO,
    CLEAN,
    DAILY_BUDGET_USD,
    SEASON,
    ServerRules,
    ServerSettings,
)
from bot.engine.spend import Spend, TokenUsage
from bot.engine.tournament import TournamentFormat, elimination_round
from bot.engine.verdicts import Ballot, Verdict
from bot.engine.votes import DEFAULT_EMOJI, Tally
from bot.errors import ConfigError
from bot.services.battles.standings import StandingsService
from bot.store import BattleState, IntegrityError, NewBattle, Store, open_store
from bot.store import sql as store_sql
from bot.store.base import NewSchedule
from bot.store.migrations import DIALECT_TYPES, MIGRATIONS, migration_scripts
from bot.store.sql import SQLStore
from bot.store.tournaments import NewTournament, StoredMatch, TournamentState
from bot.store.verdicts import VerdictState, VerdictStatus
from tests.fakes.memory_store import MemoryStore, MemoryTables
from tests.fakes.postgres import postgres_schema

SQL_BACKENDS = ["sqlite", "postgres"]
ALL_BACKENDS = [*SQL_BACKENDS, "memory"]

# Opens a store over the backend a test was given; each call is a new connection (a "reopen").
Opener = Callable[[], Awaitable[Store]]


async def _sql_url(backend: str, tmp_path) -> AsyncIterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path}/nested/rapbattle.db"
        return
    async with postgres_schema() as url:
        yield url


@pytest.fixture(params=SQL_BACKENDS)
async def database_url(request, tmp_path) -> AsyncIterator[str]:
    """For tests of the SQL itself: the SQL backends only."""
    async for url in _sql_url(request.param, tmp_path):
        yield url


@pytest.fixture(params=ALL_BACKENDS)
async def open_backend(request, tmp_path) -> AsyncIterator[Opener]:
    """For the store's contract: every backend, the in-memory one included."""
    if request.param == "memory":
        tables = MemoryTables()

        async def open_memory() -> Store:
            return MemoryStore(tables)

        yield open_memory
        return
    async for url in _sql_url(request.param, tmp_path):

        async def open_sql(url: str = url) -> Store:
            return await open_store(url)

        yield open_sql


@pytest.fixture
async def store(open_backend):
    opened = await open_backend()
    yield opened
    await opened.close()


async def insert_ballot(store: Store, battle_id: int, user_id: int, side: Side) -> None:
    """One ballot stored on its own, outside any public method (a state only a bug could make)."""
    if isinstance(store, MemoryStore):
        store.insert_ballot(battle_id, user_id, side)
        return
    assert isinstance(store, SQLStore)
    async with store._change() as db:
        await db.execute(
            "INSERT INTO ballots (battle_id, user_id, side) VALUES (?, ?, ?)",
            (battle_id, user_id, side.value),
        )


def new_battle(guild=1, channel=10, starter=100, **options):
    return NewBattle(guild, channel, starter, Battle("m/a", "m/b", **options))


async def test_migrations_create_the_schema_once(database_url):
    store = await open_store(database_url)
    assert await store.schema_version() == len(MIGRATIONS)
    await store.close()
    reopened = await open_store(database_url)
    try:
        assert await reopened.schema_version() == len(MIGRATIONS)
        assert await reopened.migrate() == len(MIGRATIONS)
    finally:
        await reopened.close()


async def test_processes_starting_at_once_apply_each_migration_once(database_url):
    stores = await asyncio.gather(*(open_store(database_url) for _ in range(4)))
    try:
        assert [await s.schema_version() for s in stores] == [len(MIGRATIONS)] * 4
        rows = await stores[0]._fetch("SELECT version FROM schema_migrations ORDER BY version")
        assert rows == [(v,) for v in range(1, len(MIGRATIONS) + 1)]
    finally:
        for opened in stores:
            await opened.close()


def test_the_dialects_differ_only_in_the_id_and_bytes_columns():
    sqlite, postgres = migration_scripts("sqlite"), migration_scripts("postgres")
    assert "id INTEGER PRIMARY KEY," in sqlite[0]
    assert "id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY," in postgres[0]
    assert "ogg BLOB NOT NULL" in sqlite[10] and "ogg BYTEA NOT NULL" in postgres[10]
    # Spelled back, each is the one list of migrations (battles' and tournaments' ids, tracks).
    for dialect, scripts in {"sqlite": sqlite, "postgres": postgres}.items():
        spelled = DIALECT_TYPES[dialect]
        key, blob = spelled["id_primary_key"], spelled["blob"]
        assert [
            s.replace(key, "{id_primary_key}").replace(f"ogg {blob} ", "ogg {blob} ")
            for s in scripts
        ] == list(MIGRATIONS)


async def test_a_battle_its_turns_and_its_vote_survive_a_reopen(store, open_backend):
    created = await store.create_battle(new_battle(topic="cats", blind=True), now=1000.0)
    battle = created.battle
    for position, slot in enumerate(battle.plan()):
        text = FINAL_ROUND if slot.side is None else f"verse {position}\n\nwith  spaces"
        await store.add_turn(created.id, position, battle.turn(slot, text))
    assert await store.open_voting(created.id, 555, 2000.0, DEFAULT_EMOJI)
    tally = Tally({1: Side.A, 2: Side.A, 3: Side.B})
    assert await store.close_voting(created.id, tally, now=2001.0)
    await store.close()

    reopened = await open_backend()
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
    records = await store.model_records(1)
    assert records["m/a"].battles == records["m/b"].battles == 1


async def test_votes_closing_at_once_on_battles_sharing_models_all_count(store):
    # a-b, b-c and c-a closing together would deadlock on Postgres if each locked its two
    # model rows in its own order.
    pairs = [("m/a", "m/b"), ("m/b", "m/c"), ("m/c", "m/a")] * 5
    created = [
        await store.create_battle(NewBattle(1, i, 100, Battle(a, b)), now=1.0)
        for i, (a, b) in enumerate(pairs)
    ]
    for stored in created:
        await store.open_voting(stored.id, 1, 2.0, DEFAULT_EMOJI)
    closed = await asyncio.gather(
        *(store.close_voting(s.id, Tally({1: Side.A}), 3.0) for s in created)
    )
    assert all(closed)
    records = await store.model_records(1)
    assert {model: r.battles for model, r in records.items()} == {"m/a": 10, "m/b": 10, "m/c": 10}
    assert sum(r.wins for r in records.values()) == len(pairs)


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
    with pytest.raises(IntegrityError):
        await store.add_turn(created.id, 0, turn)
    assert [t.text for t in await store.turns(created.id)] == ["once"]
    await store.add_turn(created.id, 1, turn)  # the connection is usable after the rollback


async def test_a_failed_close_keeps_no_ballot_and_leaves_the_vote_open(store):
    created = await store.create_battle(new_battle(), now=1.0)
    await store.open_voting(created.id, 1, 2.0, DEFAULT_EMOJI)
    # A ballot already there makes the close's own insert fail after the state has changed.
    await insert_ballot(store, created.id, 7, Side.A)
    with pytest.raises(IntegrityError):
        await store.close_voting(created.id, Tally({7: Side.A, 8: Side.B}), 3.0)
    assert (await store.battle(created.id)).state is BattleState.VOTING
    assert await store.ballots(created.id) == {7: Side.A}
    assert await store.model_records(1) == {}


async def test_battles_by_state_and_last_start(store):
    one = await store.create_battle(new_battle(starter=5), now=10.0)
    two = await store.create_battle(new_battle(starter=5, channel=11), now=20.0)
    await store.create_battle(new_battle(guild=2, starter=5), now=30.0)
    await store.open_voting(two.id, 9, 99.0, DEFAULT_EMOJI)
    running = await store.battles_in([BattleState.RUNNING])
    assert [b.id for b in running if b.guild_id == 1] == [one.id]
    assert [b.id for b in await store.battles_in([BattleState.VOTING])] == [two.id]
    assert await store.battles_in([]) == []
    assert await store.last_start(1, 5) == 20.0
    assert await store.last_start(1, 6) is None


async def test_many_concurrent_writers(store):
    created = await store.create_battle(new_battle(), now=1.0)
    turn = created.battle.turn(created.battle.plan()[0], "x")
    await asyncio.gather(*(store.add_turn(created.id, i, turn) for i in range(200)))
    assert len(await store.turns(created.id)) == 200


async def test_unsupported_database_urls_are_a_clear_error():
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        await open_store("mysql://localhost/db")


async def test_postgres_without_asyncpg_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "asyncpg", None)  # makes `import asyncpg` fail
    with pytest.raises(ConfigError, match=r"install rapbattle\[postgres\]"):
        await open_store("postgresql://localhost/db")


async def test_a_postgres_schema_that_does_not_exist_is_a_clear_error():
    async with postgres_schema() as url:
        missing = re.sub(r"schema=\w+$", "schema=rapbattle_test_missing", url)
        with pytest.raises(ConfigError, match=r"rapbattle_test_missing.*does not exist"):
            await open_store(missing)
        with pytest.raises(ConfigError, match="plain lower-case name"):
            await open_store(re.sub(r"schema=\w+$", "schema=Bad%3BName", url))


async def test_a_postgres_schema_can_also_be_chosen_with_libpq_options():
    async with postgres_schema() as url:
        store = await open_store(url.replace("schema=", "options=-csearch_path%3D"))
        try:
            created = await store.create_battle(new_battle(), now=1.0)
        finally:
            await store.close()
        reopened = await open_store(url)
        try:
            assert (await reopened.battle(created.id)).battle == created.battle
        finally:
            await reopened.close()


async def test_server_settings_round_trip_and_default(store):
    assert await store.server_settings(7) == ServerSettings()
    settings = ServerSettings(
        rounds=5,
        pace=Pace(2.5),
        vote_seconds=120,
        cooldown_seconds=0.0,
        max_battles=2,
        emoji_a="🔥",
        emoji_b="<:pog:123456789012345678>",
        allowed_models=("a/x", "b/y"),
        blind_default=True,
        global_opt_out=True,
    )
    await store.save_server_settings(7, settings)
    assert await store.server_settings(7) == settings
    await store.save_server_settings(7, ServerSettings(rounds=2))
    assert await store.server_settings(7) == ServerSettings(rounds=2)


async def close_one(store, guild, model_a, model_b, ballots):
    created = await store.create_battle(
        NewBattle(guild, 10, 100, Battle(model_a, model_b, 1)), now=1.0
    )
    await store.open_voting(created.id, created.id, 2.0, DEFAULT_EMOJI)
    await store.close_voting(created.id, Tally(ballots), 3.0)
    return created


async def test_aggregates_by_server_and_globally_without_opted_out_servers(store):
    assert await store.ratings_version(1) == 0 and await store.ratings_version(None) == 0
    await close_one(store, 1, "m/b", "m/a", {1: Side.A, 2: Side.A, 3: Side.B})
    await close_one(store, 2, "m/a", "m/b", {1: Side.A})
    await close_one(store, 2, "m/a", "m/b", {})  # no votes: recorded, not rated
    [pair] = await store.pair_records(1)
    assert (pair.model_a, pair.model_b, pair.battles) == ("m/a", "m/b", 1)
    assert pair.score_a == pytest.approx(1 / 3)  # stored in name order: m/a had 1 of 3
    [both] = await store.pair_records(None)
    assert both.battles == 2 and both.score_a == pytest.approx(1 / 3 + 1)
    records = await store.model_records(None)
    assert (records["m/b"].wins, records["m/b"].losses, records["m/b"].votes) == (1, 1, 2)
    version = await store.ratings_version(None)
    assert version == 2 and await store.ratings_version(1) == 1

    await store.save_server_settings(2, ServerSettings(global_opt_out=True))
    assert await store.ratings_version(None) > version
    [only_first] = await store.pair_records(None)
    assert only_first.battles == 1
    assert (await store.model_records(None))["m/a"].wins == 0


async def test_closing_adds_each_squared_score_to_the_pair(store):
    await close_one(store, 1, "m/b", "m/a", {1: Side.A, 2: Side.A, 3: Side.B})
    await close_one(store, 1, "m/a", "m/b", {1: Side.A, 2: Side.B})
    await close_one(store, 2, "m/a", "m/b", {1: Side.A})
    await close_one(store, 2, "m/a", "m/a", {1: Side.A})  # a model against itself: not rated
    [pair] = await store.pair_records(1)
    # In name order, m/a scored 1/3, then 1/2.
    assert pair.score_a == pytest.approx(1 / 3 + 1 / 2)
    assert pair.score_sq == pytest.approx(1 / 9 + 1 / 4)
    [both] = await store.pair_records(None)
    assert both.score_sq == pytest.approx(1 / 9 + 1 / 4 + 1)


# Closed battles as schema 3 stored them: (guild, model_a, model_b, state, votes_a, votes_b).
# "B/upper" sorts before "a/lower" in Python (and so in pair_stats), not under every collation.
_VERSION_3_BATTLES = [
    (1, "m/a", "m/b", "closed", 2, 1),
    (1, "m/b", "m/a", "closed", 3, 1),
    (1, "m/b", "m/a", "closed", 0, 4),
    (1, "m/a", "m/c", "closed", 5, 5),
    (1, "m/a", "m/b", "closed", 0, 0),  # no votes: not rated
    (1, "m/a", "m/a", "closed", 3, 0),  # a model against itself: not rated
    (1, "m/a", "m/b", "voting", None, None),
    (1, "m/a", "m/b", "stopped", None, None),
    (2, "m/b", "m/a", "closed", 1, 2),
    (2, "a/lower", "B/upper", "closed", 4, 1),
    (2, "B/upper", "a/lower", "closed", 1, 1),
]


async def test_migration_4_backfills_squared_scores_from_the_stored_votes(
    database_url, monkeypatch
):
    every_script = migration_scripts
    monkeypatch.setattr(store_sql, "migration_scripts", lambda dialect: every_script(dialect)[:3])
    old = await open_store(database_url)
    try:
        assert await old.schema_version() == 3
        rated = {
            guild: [
                (a, b, votes_a / (votes_a + votes_b))
                for g, a, b, state, votes_a, votes_b in _VERSION_3_BATTLES
                if g == guild and state == "closed" and votes_a + votes_b and a != b
            ]
            for guild in (1, 2)
        }
        async with old._change() as db:
            await db.executemany(
                "INSERT INTO battles (guild_id, channel_id, starter_id, model_a, model_b, rounds,"
                " blind, sides_swapped, state, created_at, votes_a, votes_b)"
                " VALUES (?, 10, 100, ?, ?, 1, ?, ?, ?, 1.0, ?, ?)",
                [
                    (guild, a, b, False, False, state, votes_a, votes_b)
                    for guild, a, b, state, votes_a, votes_b in _VERSION_3_BATTLES
                ],
            )
            # The aggregates schema 3 kept as it closed those battles: counts and score sums.
            await db.executemany(
                "INSERT INTO pair_stats (guild_id, model_a, model_b, battles, score_a)"
                " VALUES (?, ?, ?, ?, ?)",
                [
                    (guild, pair.model_a, pair.model_b, pair.battles, pair.score_a)
                    for guild, rows in rated.items()
                    for pair in collapse(rows)
                ],
            )
            # A pair with aggregates but no battles left to backfill from keeps 0.
            await db.execute(
                "INSERT INTO pair_stats (guild_id, model_a, model_b, battles, score_a)"
                " VALUES (3, 'm/x', 'm/y', 1, 1.0)"
            )
    finally:
        await old.close()
    monkeypatch.undo()

    migrated = await open_store(database_url)
    try:
        assert await migrated.schema_version() == len(MIGRATIONS) >= 4
        for guild, rows in rated.items():
            expected = collapse(rows)
            stored = sorted(await migrated.pair_records(guild), key=lambda r: r.model_a + r.model_b)
            assert [(r.model_a, r.model_b, r.battles) for r in stored] == [
                (r.model_a, r.model_b, r.battles) for r in expected
            ]
            for got, want in zip(stored, expected, strict=True):
                assert got.score_a == pytest.approx(want.score_a)
                assert got.score_sq == pytest.approx(want.score_sq), (guild, got)
        [untouched] = await migrated.pair_records(3)
        assert untouched.score_sq == 0
        # m/a vs m/b on server 1, as m/a saw it: 2/3, then 1/4 and 1 from m/b's side.
        [first] = [r for r in await migrated.pair_records(1) if r.model_b == "m/b"]
        assert first.score_sq == pytest.approx(4 / 9 + 1 / 16 + 1)
        # Closing after the migration adds to the backfilled sums.
        await close_one(migrated, 1, "m/a", "m/b", {1: Side.A, 2: Side.B})
        [after] = [r for r in await migrated.pair_records(1) if r.model_b == "m/b"]
        assert after.score_sq == pytest.approx(4 / 9 + 1 / 16 + 1 + 1 / 4)
    finally:
        await migrated.close()


async def test_recent_battles_newest_first_and_by_model(store):
    first = await close_one(store, 1, "m/a", "m/b", {})
    second = await close_one(store, 1, "m/c", "m/a", {})
    await close_one(store, 2, "m/a", "m/b", {})
    assert [b.id for b in await store.recent_battles(1)] == [second.id, first.id]
    assert [b.id for b in await store.recent_battles(1, "m/b")] == [first.id]
    assert [b.id for b in await store.recent_battles(1, limit=1)] == [second.id]


async def test_last_battle_in_a_channel_is_its_newest_whatever_its_state(store):
    assert await store.last_battle_in(1, 10) is None
    await close_one(store, 1, "m/a", "m/b", {})
    newest = await store.create_battle(NewBattle(1, 10, 100, Battle("m/c", "m/a", 1)), now=4.0)
    await store.end_battle(newest.id, BattleState.NO_CONTEST, "a model failed")
    await store.create_battle(NewBattle(1, 11, 100, Battle("m/d", "m/e", 1)), now=5.0)
    await store.create_battle(NewBattle(2, 10, 100, Battle("m/f", "m/g", 1)), now=6.0)
    last = await store.last_battle_in(1, 10)
    assert last is not None and last.id == newest.id
    assert (last.battle.model_a, last.battle.model_b) == ("m/c", "m/a")
    assert await store.last_battle_in(1, 12) is None


async def test_closed_battles_whose_results_never_got_out_are_found(store):
    announced = await close_one(store, 1, "m/a", "m/b", {1: Side.A})
    unannounced = await close_one(store, 1, "m/a", "m/b", {1: Side.B})
    await store.set_results_message(announced.id, 999)
    assert [b.id for b in await store.unannounced_results()] == [unannounced.id]


async def reach(store, state: BattleState):
    """A new battle brought to ``state`` through the store's own moves."""
    created = await store.create_battle(new_battle(), now=1.0)
    if state is BattleState.RUNNING:
        return created
    if state in ENDED_WITHOUT_VOTE:
        assert await store.end_battle(created.id, state, "ended")
        return created
    assert await store.open_voting(created.id, created.id, 2.0, DEFAULT_EMOJI)
    if state is BattleState.CLOSED:
        assert await store.close_voting(created.id, Tally({1: Side.A}), 3.0)
    elif state is BattleState.NO_CONTEST:
        assert await store.abandon_vote(created.id, "crashed")
    return created


async def test_every_move_the_store_makes_is_one_the_lifecycle_allows(store):
    # Each of the store's moves starts from one state; from any other it changes nothing.
    moves = {
        BattleState.VOTING: (
            BattleState.RUNNING,
            lambda b: store.open_voting(b.id, 9, 5.0, DEFAULT_EMOJI),
        ),
        BattleState.CLOSED: (
            BattleState.VOTING,
            lambda b: store.close_voting(b.id, Tally({2: Side.B}), 5.0),
        ),
        BattleState.NO_CONTEST: (BattleState.VOTING, lambda b: store.abandon_vote(b.id, "x")),
        BattleState.STOPPED: (
            BattleState.RUNNING,
            lambda b: store.end_battle(b.id, BattleState.STOPPED, "x"),
        ),
    }
    for current in [BattleState.RUNNING, BattleState.VOTING, BattleState.CLOSED]:
        for target, (source, move) in moves.items():
            battle = await reach(store, current)
            before = await store.battle(battle.id)
            allowed = current is source and target in MOVES[current]
            assert await move(battle) is allowed, (current, target)
            after = await store.battle(battle.id)
            assert after.state is (target if allowed else current)
            if not allowed:
                assert after == before
    ended = await reach(store, BattleState.INTERRUPTED)
    for target, (_, move) in moves.items():
        assert not await move(ended), target


async def test_a_vote_that_cannot_be_counted_is_abandoned_once(store):
    running = await store.create_battle(new_battle(), now=1.0)
    assert not await store.abandon_vote(running.id, "crashed")  # no vote is open yet
    voting = await reach(store, BattleState.VOTING)
    assert await store.abandon_vote(voting.id, "the vote failed")
    assert not await store.abandon_vote(voting.id, "again")
    assert not await store.close_voting(voting.id, Tally({1: Side.A}), 4.0)
    stored = await store.battle(voting.id)
    assert (stored.state, stored.reason) == (BattleState.NO_CONTEST, "the vote failed")
    assert await store.ballots(voting.id) == {} and await store.model_records(1) == {}
    assert await store.unannounced_results() == []


async def test_undeliverable_results_are_kept_with_why_and_not_retried(store):
    refused = await reach(store, BattleState.CLOSED)
    announced = await reach(store, BattleState.CLOSED)
    waiting = await reach(store, BattleState.CLOSED)
    voting = await reach(store, BattleState.VOTING)
    await store.set_results_message(announced.id, 77)
    for battle in (refused, announced, voting):
        await store.results_undeliverable(battle.id, "the channel refused")
    assert (await store.battle(refused.id)).reason == "the channel refused"
    assert (await store.battle(announced.id)).reason is None  # its results did get out
    assert (await store.battle(voting.id)).reason is None  # no results to post yet
    assert [b.id for b in await store.unannounced_results()] == [waiting.id]


async def test_a_model_against_itself_is_recorded_but_not_rated(store):
    created = await close_one(store, 1, "m/a", "m/a", {1: Side.A, 2: Side.A})
    stored = await store.battle(created.id)
    assert (stored.state, stored.votes_a, stored.votes_b) == (BattleState.CLOSED, 2, 0)
    assert await store.pair_records(1) == [] and await store.model_records(1) == {}
    assert await store.ratings_version(1) == 0


async def test_a_turn_or_ballot_for_a_missing_battle_is_refused(store):
    battle = Battle("m/a", "m/b")
    with pytest.raises(IntegrityError):
        await store.add_turn(404, 0, battle.turn(battle.plan()[0], "nobody's"))
    assert await store.turns(404) == []


async def test_the_judges_board_is_empty_until_a_panel_rates(store):
    await close_one(store, 1, "m/a", "m/b", {1: Side.A})
    assert await store.pair_records(1, Board.JUDGES) == []
    assert await store.model_records(None, Board.JUDGES) == {}
    assert len(await store.pair_records(1, Board.CROWD)) == 1


# The judges (bot/store/verdicts.py)


def a_verdict(model_a, model_b, *picks, same_vendor=False):
    """A verdict with one judge per pick (None: that judge abstained)."""
    return Verdict(
        model_a,
        model_b,
        tuple(
            Ballot(
                f"j/{i}",
                pick,
                f"statement {i}",
                same_vendor=same_vendor,
                prompt_tokens=10,
                completion_tokens=i,
            )
            if pick is not None
            else Ballot.abstention(f"j/{i}", "no answer", tokens=(10, 0))
            for i, pick in enumerate(picks)
        ),
    )


async def judged_battle(store, guild, model_a, model_b, crowd, *, close=True):
    created = await store.create_battle(
        NewBattle(guild, 10, 100, Battle(model_a, model_b, 1)), now=1.0
    )
    await store.mark_judged(created.id)
    await store.open_voting(created.id, created.id, 2.0, DEFAULT_EMOJI)
    if close:
        await store.close_voting(created.id, Tally(crowd), 3.0)
    return created


async def test_a_judged_battle_keeps_its_verdict_once_the_vote_closed(store, open_backend):
    unjudged = await close_one(store, 1, "m/a", "m/b", {1: Side.A})
    assert await store.verdict_status(unjudged.id) is None
    battle = await judged_battle(store, 1, "m/a", "m/b", {1: Side.B}, close=False)
    assert await store.verdict_status(battle.id) == VerdictStatus(VerdictState.PENDING)
    verdict = a_verdict("m/a", "m/b", Side.A, Side.B, None, Side.A, same_vendor=True)
    # While the crowd votes, nothing the judges said is kept or rated.
    assert not await store.store_verdict(battle.id, verdict)
    assert await store.stored_verdict(battle.id) is None
    version = await store.ratings_version(1)
    await store.close_voting(battle.id, Tally({1: Side.B}), 3.0)
    assert await store.store_verdict(battle.id, verdict)
    assert not await store.store_verdict(battle.id, verdict)  # once
    assert await store.ratings_version(1) > version

    reopened = await open_backend()
    try:
        assert await reopened.stored_verdict(battle.id) == verdict
        assert await reopened.verdict_status(battle.id) == VerdictStatus(VerdictState.STORED)
        assert await reopened.unfinished_verdicts() == [(battle.id, VerdictState.STORED)]
        assert await reopened.set_verdict_message(battle.id, 555)
        assert not await reopened.set_verdict_message(battle.id, 556)
        assert await reopened.verdict_status(battle.id) == VerdictStatus(VerdictState.POSTED, 555)
        assert await reopened.unfinished_verdicts() == []
        assert await reopened.stored_verdict(battle.id) == verdict
    finally:
        await reopened.close()


async def test_each_verse_keeps_its_usage_and_spend_sums_it_by_server_and_day(store, open_backend):
    battle = Battle("m/a", "m/b", rounds=1)
    slots = battle.plan()
    yesterday = await store.create_battle(NewBattle(1, 10, 100, battle), now=1_000.0)
    today = await store.create_battle(NewBattle(1, 11, 100, battle), now=90_000.0)
    elsewhere = await store.create_battle(NewBattle(2, 12, 100, battle), now=90_000.0)
    await store.add_turn(yesterday.id, 0, battle.turn(slots[0], "a"), TokenUsage(100, 50, 0.25))
    await store.add_turn(today.id, 0, battle.turn(slots[0], "b"), TokenUsage(10, 5, 0.5))
    await store.add_turn(today.id, 1, battle.turn(slots[1], "c"), TokenUsage(20, 7, None))
    await store.add_turn(today.id, 2, battle.turn(slots[1], "unreported"))
    await store.add_turn(elsewhere.id, 0, battle.turn(slots[0], "d"), TokenUsage(1, 2, 1.0))

    reopened = await open_backend()
    try:
        assert await reopened.turn_usage(today.id) == [
            TokenUsage(10, 5, 0.5),
            TokenUsage(20, 7, None),
            None,
        ]
        assert await reopened.spend(1, since=86_400.0) == Spend(30, 12, 0.5, 2, 1)
        assert await reopened.spend(1) == Spend(130, 62, 0.75, 3, 1)
        report = await reopened.spend_report(1, today_starts_at=86_400.0)
        assert report.global_today == Spend(31, 14, 1.5, 3, 1)
        assert report.global_all_time == Spend(131, 64, 1.75, 4, 1)
        assert report.server_today == Spend(30, 12, 0.5, 2, 1)
        assert await reopened.spend(3) == Spend()
    finally:
        await reopened.close()


async def test_unfinished_verdicts_are_those_of_battles_voting_or_closed(store):
    voting = await judged_battle(store, 1, "m/a", "m/b", {}, close=False)
    closed = await judged_battle(store, 1, "m/a", "m/b", {1: Side.A})
    stopped = await store.create_battle(new_battle(), now=1.0)
    await store.mark_judged(stopped.id)
    await store.end_battle(stopped.id, BattleState.STOPPED, "stopped")
    undeliverable = await judged_battle(store, 1, "m/a", "m/b", {1: Side.A})
    await store.store_verdict(undeliverable.id, a_verdict("m/a", "m/b", Side.A))
    failed = await judged_battle(store, 1, "m/a", "m/b", {1: Side.A})
    assert await store.unfinished_verdicts() == [
        (voting.id, VerdictState.PENDING),
        (closed.id, VerdictState.PENDING),
        (undeliverable.id, VerdictState.STORED),
        (failed.id, VerdictState.PENDING),
    ]
    assert await store.verdict_undeliverable(undeliverable.id, "Missing Access")
    assert not await store.verdict_undeliverable(undeliverable.id, "again")
    assert await store.verdict_failed(failed.id, "crashed")
    assert not await store.verdict_failed(closed.id + 100, "no such battle")
    assert await store.unfinished_verdicts() == [
        (voting.id, VerdictState.PENDING),
        (closed.id, VerdictState.PENDING),
    ]
    status = await store.verdict_status(undeliverable.id)
    assert status == VerdictStatus(VerdictState.UNDELIVERABLE, reason="Missing Access")
    # An undeliverable verdict is still the battle's verdict.
    assert await store.stored_verdict(undeliverable.id) is not None
    assert await store.stored_verdict(failed.id) is None


async def test_the_judges_board_rates_shares_of_the_judges(store):
    first = await judged_battle(store, 1, "m/b", "m/a", {1: Side.A})
    await store.store_verdict(first.id, a_verdict("m/b", "m/a", Side.A, Side.A, Side.B, None))
    second = await judged_battle(store, 2, "m/a", "m/b", {})
    await store.store_verdict(second.id, a_verdict("m/a", "m/b", Side.A, Side.B))  # split
    silent = await judged_battle(store, 2, "m/a", "m/b", {1: Side.A})
    await store.store_verdict(silent.id, a_verdict("m/a", "m/b", None, None))  # not rated
    mirror = await judged_battle(store, 2, "m/a", "m/a", {1: Side.A})
    await store.store_verdict(mirror.id, a_verdict("m/a", "m/a", Side.A))  # not rated

    [pair] = await store.pair_records(1, Board.JUDGES)
    # In name order: m/a had 1 of the 3 judges who picked.
    assert (pair.model_a, pair.model_b, pair.battles) == ("m/a", "m/b", 1)
    assert pair.score_a == pytest.approx(1 / 3) and pair.score_sq == pytest.approx(1 / 9)
    [both] = await store.pair_records(None, Board.JUDGES)
    assert both.battles == 2 and both.score_a == pytest.approx(1 / 3 + 1 / 2)
    assert both.score_sq == pytest.approx(1 / 9 + 1 / 4)
    records = await store.model_records(None, Board.JUDGES)
    assert records["m/b"] == ModelRecord(wins=1, losses=0, draws=1, battles=2, votes=3)
    assert records["m/a"] == ModelRecord(wins=0, losses=1, draws=1, battles=2, votes=2)
    # The crowd's board is its own.
    assert (await store.model_records(1))["m/b"].votes == 1

    await store.save_server_settings(2, ServerSettings(global_opt_out=True))
    [only_first] = await store.pair_records(None, Board.JUDGES)
    assert only_first.battles == 1


async def test_judge_ballot_rows_for_the_statistics(store):
    first = await judged_battle(store, 1, "m/a", "m/b", {1: Side.B, 2: Side.B})
    await store.store_verdict(first.id, a_verdict("m/a", "m/b", Side.B, None))
    await judged_battle(store, 1, "m/a", "m/b", {1: Side.A})  # pending: no rows
    elsewhere = await judged_battle(store, 2, "m/a", "m/b", {})
    await store.store_verdict(elsewhere.id, a_verdict("m/a", "m/b", Side.A))
    rows = await store.judge_ballot_rows(1)
    assert rows == [
        JudgeBallotRow(first.id, 0, 2, "j/0", Side.B, 10, 0),
        JudgeBallotRow(first.id, 0, 2, "j/1", None, 10, 0),
    ]
    assert len(await store.judge_ballot_rows(None)) == 3
    await store.save_server_settings(2, ServerSettings(global_opt_out=True))
    assert await store.judge_ballot_rows(None) == rows


# -- tournaments in Discord ----------------------------------------------------------------------


def new_tournament(guild=1, seeds=("m/a", "m/b", "m/c"), **options):
    return NewTournament(guild, 10, 100, TournamentFormat.SINGLE, tuple(seeds), 1, **options)


async def test_a_tournament_its_rounds_and_matches_survive_a_reopen(store, open_backend):
    created = await store.create_tournament(new_tournament(judges=True, threaded=False), 5.0)
    assert created.state is TournamentState.RUNNING and created.seeds == ("m/a", "m/b", "m/c")
    assert (created.judges, created.threaded, created.rounds) == (True, False, ())
    plan = elimination_round(created.seeds)
    assert await store.plan_round(created.id, 0, plan.bye, plan.pairings)
    assert not await store.plan_round(created.id, 0, None, plan.pairings)  # planned once
    battle = await store.create_battle(new_battle(), now=6.0)
    await store.set_match_battle(created.id, 0, 0, battle.id)
    await store.set_tournament_announcement(created.id, 501)
    await store.set_tournament_thread(created.id, 502)
    await store.set_bracket_message(created.id, 503)
    assert not await store.decide_match(created.id, 0, 0, "m/a")  # not in that match
    assert await store.decide_match(created.id, 0, 0, "m/c", (1, 1), "a draw")
    assert not await store.decide_match(created.id, 0, 0, "m/b")  # decided once
    await store.set_match_battle(created.id, 0, 0, 999_999)  # a decided match keeps its battle
    reopened = await open_backend()
    try:
        stored = await reopened.tournament(created.id)
    finally:
        await reopened.close()
    assert (stored.announcement_message_id, stored.thread_id, stored.bracket_message_id) == (
        501,
        502,
        503,
    )
    assert stored.place_id == 502
    [played] = stored.rounds
    assert (played.number, played.bye, played.decided) == (0, "m/a", True)
    assert played.matches == (StoredMatch(0, 0, "m/b", "m/c", battle.id, "m/c", 1, 1, "a draw"),)
    assert stored.match(0, 0).loser == "m/b"
    assert await store.tournament(created.id + 1) is None


async def test_a_tournament_ends_once_and_its_champion_is_announced_once(store):
    first = await store.create_tournament(new_tournament(guild=1), 1.0)
    second = await store.create_tournament(new_tournament(guild=2), 2.0)
    running = TournamentState.RUNNING
    assert [t.id for t in await store.tournaments_in([running])] == [first.id, second.id]
    assert [t.id for t in await store.tournaments_in([running], guild_id=2)] == [second.id]
    assert await store.finish_tournament(first.id, "m/a")
    assert not await store.stop_tournament(first.id, "too late")
    assert await store.stop_tournament(second.id, "stopped by a mod")
    assert not await store.finish_tournament(second.id, "m/b")
    assert await store.tournaments_in([running]) == []
    assert [t.id for t in await store.unannounced_champions()] == [first.id]
    await store.set_champion_announced(first.id)
    assert await store.unannounced_champions() == []
    finished, stopped = await store.tournament(first.id), await store.tournament(second.id)
    assert (finished.state, finished.champion, finished.champion_announced) == (
        TournamentState.FINISHED,
        "m/a",
        True,
    )
    assert (stopped.state, stopped.reason, stopped.champion) == (
        TournamentState.STOPPED,
        "stopped by a mod",
        None,
    )


async def test_only_public_servers_tournaments_are_public(store):
    public = await store.create_tournament(new_tournament(guild=1), 1.0)
    private = await store.create_tournament(new_tournament(guild=2), 1.0)
    unknown = await store.create_tournament(new_tournament(guild=3), 1.0)
    await store.save_server_settings(1, ServerSettings(public_page=True))
    await store.save_server_settings(2, ServerSettings(public_page=False))
    assert (await store.public_tournament(public.id)).id == public.id
    assert await store.public_tournament(private.id) is None
    assert await store.public_tournament(unknown.id) is None
    assert await store.public_tournament(unknown.id + 1) is None


async def test_a_blind_battle_that_leaked_keeps_its_votes_unrated(store):
    created = await store.create_battle(
        NewBattle(1, 10, 100, Battle("m/a", "m/b", 1, blind=True)), now=1.0
    )
    await store.set_unrated(created.id, "MC A said 'm'")
    await store.open_voting(created.id, 55, 2.0, DEFAULT_EMOJI)
    assert await store.close_voting(created.id, Tally({1: Side.A, 2: Side.A, 3: Side.B}), 3.0)
    stored = await store.battle(created.id)
    assert stored.unrated_reason == "MC A said 'm'" and not stored.rated
    assert (stored.state, stored.votes_a, stored.votes_b) == (BattleState.CLOSED, 2, 1)
    assert await store.ballots(created.id) == {1: Side.A, 2: Side.A, 3: Side.B}
    assert await store.pair_records(1) == [] and await store.model_records(None) == {}
    assert await store.ratings_version(1) == 0
    # The next battle of the same pair is rated as usual.
    await close_one(store, 1, "m/a", "m/b", {1: Side.B})
    [pair] = await store.pair_records(1)
    assert pair.battles == 1 and pair.score_a == 0


async def test_votes_set_aside_at_the_count_are_kept_as_a_number(store):
    created = await store.create_battle(NewBattle(1, 10, 100, Battle("m/a", "m/b", 1)), now=1.0)
    assert (await store.battle(created.id)).votes_set_aside is None
    await store.open_voting(created.id, 56, 2.0, DEFAULT_EMOJI)
    assert await store.close_voting(created.id, Tally({1: Side.A}), 3.0, set_aside=4)
    stored = await store.battle(created.id)
    assert (stored.votes_a, stored.votes_b, stored.votes_set_aside) == (1, 0, 4)
    assert stored.rated and (await store.pair_records(1))[0].battles == 1


async def test_house_rule_settings_round_trip(store):
    settings = ServerSettings(min_account_age_days=30, clean=False)
    await store.save_server_settings(9, settings)
    assert await store.server_settings(9) == settings
    assert (await store.server_settings(9)).chosen(CLEAN) is False
    await store.save_server_settings(9, ServerSettings(clean=True, min_account_age_days=0))
    assert await store.server_settings(9) == ServerSettings()


async def test_the_web_arena_leaves_unrated_battles_out_of_its_ratings(database_url):
    store = await open_store(database_url)
    try:
        created = await store.create_battle(
            NewBattle(1, 10, 100, Battle("m/a", "m/b", 1, blind=True)), now=1.0
        )
        await store.set_unrated(created.id, "MC A said 'm/a'")
        await store.open_voting(created.id, 57, 2.0, DEFAULT_EMOJI)
        await store.close_voting(created.id, Tally({1: Side.A}), 3.0)
        assert await store.head_to_head("m/a") == [] and await store.rated_span() is None
        await close_one(store, 1, "m/a", "m/b", {1: Side.A})
        [record] = await store.head_to_head("m/a")
        assert record.battles == 1 and await store.rated_span() == (3.0, 3.0)
    finally:
        await store.close()


async def test_a_daily_budget_is_kept_cleared_and_defaults_to_none(store):
    assert (await store.server_settings(1)).chosen(DAILY_BUDGET_USD) is None
    await store.save_server_settings(1, ServerSettings(daily_budget_usd=2.5))
    assert (await store.server_settings(1)).chosen(DAILY_BUDGET_USD) == 2.5
    await store.save_server_settings(1, ServerSettings())
    assert (await store.server_settings(1)).chosen(DAILY_BUDGET_USD) is None


async def test_spend_counts_the_judges_beside_the_verses(store):
    battle = await judged_battle(store, 1, "m/a", "m/b", {1: Side.A})
    priced = Ballot("j/0", Side.A, "a", prompt_tokens=100, completion_tokens=10, cost_usd=0.02)
    unpriced = Ballot.abstention("j/1", "no answer", tokens=(50, 0))
    assert await store.store_verdict(battle.id, Verdict("m/a", "m/b", (priced, unpriced)))
    spent = await store.spend(1)
    assert (spent.prompt_tokens, spent.completion_tokens) == (150, 10)
    assert spent.cost_usd == pytest.approx(0.02)
    assert (spent.requests, spent.unpriced) == (2, 1)
    assert (await store.stored_verdict(battle.id)).ballots[0].cost_usd == pytest.approx(0.02)


# Every byte value, so that neither backend treats the file as text.
OGG = b"OggS\x00\x02" + bytes(range(256)) * 40 + b"\x00\xff"


async def test_a_battle_keeps_its_first_track_across_a_reopen(store, open_backend):
    created = await store.create_battle(new_battle(), now=1.0)
    assert await store.track(created.id) is None
    await store.keep_track(created.id, OGG, 12.5, now=2.0)
    # Kept twice (two makers at once): the first stays.
    await store.keep_track(created.id, b"OggS another", 3.0, now=3.0)
    reopened = await open_backend()
    try:
        kept = await reopened.track(created.id)
        assert kept is not None and isinstance(kept.ogg, bytes)
        assert (kept.ogg, kept.seconds) == (OGG, 12.5)
    finally:
        await reopened.close()


async def test_a_track_for_a_missing_battle_is_refused(store):
    with pytest.raises(IntegrityError):
        await store.keep_track(404, OGG, 1.0, now=1.0)
    assert await store.track(404) is None


async def test_the_audio_switch_is_off_by_default_and_kept(store):
    assert (await store.server_settings(3)).chosen(AUDIO) is None
    assert ServerRules.defaults()[AUDIO] is False
    await store.save_server_settings(3, ServerSettings(audio=True))
    assert (await store.server_settings(3)).chosen(AUDIO) is True
    await store.save_server_settings(3, ServerSettings(audio=False))
    assert await store.server_settings(3) == ServerSettings()


# Schedules (bot/store/schedule_queries.py): each server's, what they run, and their next run.

MATCHED = BattlePlan(rounds=2, topic="Winter", judges=True)
MONTHLY = TournamentPlan(("m/a", "m/b", "m/c"), TournamentFormat.SWISS, "rating", None)


def new_schedule(guild=1, plan=MATCHED, every=3600, next_run_at=5000.0, channel=10):
    return NewSchedule(guild, channel, 100, every, plan, next_run_at)


async def test_schedules_survive_a_reopen_with_their_plans(store, open_backend):
    battle = await store.add_schedule(new_schedule(), now=1000.0, limit=MAX_SCHEDULES)
    fixed = BattlePlan("m/a", "m/b", None, None, False, None)
    pair = await store.add_schedule(new_schedule(plan=fixed), now=1001.0, limit=MAX_SCHEDULES)
    monthly = await store.add_schedule(
        new_schedule(plan=MONTHLY, every=4 * 604800, channel=11), now=1002.0, limit=MAX_SCHEDULES
    )
    elsewhere = await store.add_schedule(new_schedule(guild=2), now=1003.0, limit=MAX_SCHEDULES)
    assert None not in (battle, pair, monthly, elsewhere)
    reopened = await open_backend()
    try:
        assert await reopened.schedules(1) == [battle, pair, monthly]
        assert await reopened.schedules() == [battle, pair, monthly, elsewhere]
        assert monthly.kind is ScheduleKind.TOURNAMENT and battle.kind is ScheduleKind.BATTLE
        assert (await reopened.schedules(1))[2].plan == MONTHLY
        assert (await reopened.schedules(2))[0].created_at == 1003.0
    finally:
        await reopened.close()


async def test_a_server_keeps_at_most_its_limit_of_schedules(store):
    for _ in range(3):
        assert await store.add_schedule(new_schedule(), now=1.0, limit=3) is not None
    assert await store.add_schedule(new_schedule(), now=1.0, limit=3) is None
    assert await store.add_schedule(new_schedule(guild=2), now=1.0, limit=3) is not None
    assert len(await store.schedules(1)) == 3
    first = (await store.schedules(1))[0]
    assert await store.remove_schedule(1, first.id)
    assert await store.add_schedule(new_schedule(), now=1.0, limit=3) is not None


async def test_a_schedule_is_removed_only_by_its_own_server_and_once(store):
    kept = await store.add_schedule(new_schedule(), now=1.0, limit=MAX_SCHEDULES)
    assert kept is not None
    assert not await store.remove_schedule(2, kept.id)
    assert await store.remove_schedule(1, kept.id)
    assert not await store.remove_schedule(1, kept.id)
    assert await store.schedules() == []


async def test_a_run_is_claimed_once_by_moving_the_next_run_on(store, open_backend):
    kept = await store.add_schedule(new_schedule(next_run_at=5000.5), now=1.0, limit=10)
    assert kept is not None
    assert await store.advance_schedule(kept.id, 5000.5, 8600.5)
    assert not await store.advance_schedule(kept.id, 5000.5, 8600.5)  # already claimed
    reopened = await open_backend()
    try:
        [moved] = await reopened.schedules(1)
        assert moved.next_run_at == 8600.5
    finally:
        await reopened.close()
    assert await store.remove_schedule(1, kept.id)
    assert not await store.advance_schedule(kept.id, 8600.5, 12200.5)  # removed


async def test_a_battle_started_by_a_schedule_is_marked_so(store, open_backend):
    by_hand = await store.create_battle(new_battle(), now=1.0)
    scheduled = await store.create_battle(
        NewBattle(1, 10, 100, Battle("m/a", "m/b", 1), scheduled=True), now=2.0
    )
    assert (by_hand.scheduled, scheduled.scheduled) == (False, True)
    reopened = await open_backend()
    try:
        assert [b.scheduled for b in await reopened.recent_battles(1)] == [True, False]
    finally:
        await reopened.close()


async def test_the_web_reads_say_whether_a_battle_was_scheduled(database_url):
    store = await open_store(database_url)
    try:
        await store.set_public_page(1, True)
        by_hand = await store.create_battle(new_battle(), now=1.0)
        scheduled = await store.create_battle(
            NewBattle(1, 10, 100, Battle("m/a", "m/b", 1), scheduled=True), now=2.0
        )
        for created in (by_hand, scheduled):
            await store.open_voting(created.id, created.id, 5.0, DEFAULT_EMOJI)
            await store.close_voting(created.id, Tally({7: Side.A}), 6.0)
        assert [b.scheduled for b in await store.public_closed_battles(0, 10)] == [False, True]
        shown = await store.public_battle(scheduled.id)
        assert shown is not None and shown.scheduled
    finally:
        await store.close()


# Seasons (bot/store/season_queries.py): a board over the battles started within a window.

DEC_1, JAN_1 = 1_796_083_200.0, 1_798_761_600.0  # 2026-12-01 and 2027-01-01, 00:00 UTC


async def battle_started_at(store, guild, model_a, model_b, ballots, started, closed=None):
    """A battle started at ``started`` whose vote closes (with ``ballots``) at ``closed``."""
    created = await store.create_battle(
        NewBattle(guild, 10, 100, Battle(model_a, model_b, 1)), now=started
    )
    await store.open_voting(created.id, created.id, started + 60, DEFAULT_EMOJI)
    await store.close_voting(created.id, Tally(ballots), closed or started + 120)
    return created


async def test_a_seasons_board_counts_the_battles_that_started_in_it(store):
    december, january = Season(2026, 12), Season(2027, 1)
    assert (december.start, january.start) == (DEC_1, JAN_1)
    await battle_started_at(store, 1, "m/b", "m/a", {1: Side.A, 2: Side.A, 3: Side.B}, DEC_1)
    # Started a minute before midnight on the last day; its vote closes after midnight.
    await battle_started_at(store, 1, "m/a", "m/b", {1: Side.A}, JAN_1 - 60, JAN_1 + 30)
    await battle_started_at(store, 1, "m/a", "m/c", {1: Side.B, 2: Side.A}, JAN_1)
    await battle_started_at(store, 1, "m/a", "m/c", {}, DEC_1 + 5)  # no votes: not rated
    await battle_started_at(store, 1, "m/a", "m/a", {1: Side.A}, DEC_1 + 6)  # itself: not rated
    await battle_started_at(store, 1, "m/a", "m/b", {1: Side.A}, DEC_1 - 1)  # November
    await battle_started_at(store, 2, "m/a", "m/b", {1: Side.B}, DEC_1 + 7)  # another server
    voting = await store.create_battle(new_battle(1), now=DEC_1 + 8)
    await store.open_voting(voting.id, 77, DEC_1 + 60, DEFAULT_EMOJI)  # still open: not rated
    leaked = await store.create_battle(new_battle(1, blind=True), now=DEC_1 + 9)
    await store.set_unrated(leaked.id, "MC A said 'm'")
    await store.open_voting(leaked.id, 78, DEC_1 + 60, DEFAULT_EMOJI)
    await store.close_voting(leaked.id, Tally({1: Side.A}), DEC_1 + 70)  # kept, not rated

    found = await store.season_records(1, december.start, december.end)
    [pair] = found.pairs
    # In name order: m/a had 1 of 3, then 1 of 1.
    assert (pair.model_a, pair.model_b, pair.battles) == ("m/a", "m/b", 2)
    assert pair.score_a == pytest.approx(1 / 3 + 1)
    assert pair.score_sq == pytest.approx(1 / 9 + 1)
    assert found.models == {
        "m/a": ModelRecord(wins=1, losses=1, draws=0, battles=2, votes=2),
        "m/b": ModelRecord(wins=1, losses=1, draws=0, battles=2, votes=2),
    }
    later = await store.season_records(1, january.start, january.end)
    assert [(p.model_a, p.model_b, p.battles, p.score_a) for p in later.pairs] == [
        ("m/a", "m/c", 1, 0.5)
    ]
    assert later.models["m/c"] == ModelRecord(wins=0, losses=0, draws=1, battles=1, votes=1)

    # The global board adds up the servers on it; an opted-out server drops out.
    [both] = (await store.season_records(None, december.start, december.end)).pairs
    assert both.battles == 3 and both.score_a == pytest.approx(1 / 3 + 1)
    await store.save_server_settings(2, ServerSettings(global_opt_out=True))
    [only_first] = (await store.season_records(None, december.start, december.end)).pairs
    assert only_first.battles == 2

    # A window holding every battle is the all-time board.
    everything = await store.season_records(1, 0.0, 2 * JAN_1)
    assert everything.models == await store.model_records(1)
    for season_pair, kept in zip(everything.pairs, await store.pair_records(1), strict=True):
        assert (season_pair.model_a, season_pair.model_b) == (kept.model_a, kept.model_b)
        assert season_pair.battles == kept.battles
        assert season_pair.score_a == pytest.approx(kept.score_a)
        assert season_pair.score_sq == pytest.approx(kept.score_sq)
    assert (await store.season_records(3, 0.0, 2 * JAN_1)).pairs == []


async def test_first_rated_start_finds_the_seasons_a_board_has(store):
    await battle_started_at(store, 1, "m/a", "m/b", {}, DEC_1 - 100)  # not rated
    await battle_started_at(store, 1, "m/a", "m/b", {1: Side.A}, DEC_1 + 50)
    await battle_started_at(store, 1, "m/a", "m/b", {1: Side.A}, JAN_1 + 10)
    await battle_started_at(store, 2, "m/a", "m/b", {1: Side.A}, DEC_1 - 10)
    assert await store.first_rated_start(1, float("-inf")) == DEC_1 + 50
    assert await store.first_rated_start(1, DEC_1 + 51) == JAN_1 + 10
    assert await store.first_rated_start(1, JAN_1 + 11) is None
    assert await store.first_rated_start(None, 0.0) == DEC_1 - 10
    assert await store.first_rated_start(1, 0.0, Board.JUDGES) is None


async def test_a_seasons_judges_board_counts_the_judges_who_picked(store):
    async def judged(guild, model_a, model_b, started, *picks):
        created = await store.create_battle(
            NewBattle(guild, 10, 100, Battle(model_a, model_b, 1)), now=started
        )
        await store.mark_judged(created.id)
        await store.open_voting(created.id, created.id, started + 1, DEFAULT_EMOJI)
        await store.close_voting(created.id, Tally({1: Side.A}), started + 2)
        await store.store_verdict(created.id, a_verdict(model_a, model_b, *picks))
        return created

    await judged(1, "m/b", "m/a", DEC_1, Side.A, Side.A, Side.B, None)
    await judged(1, "m/a", "m/b", DEC_1 + 1, Side.A, Side.B)  # split
    await judged(1, "m/a", "m/b", DEC_1 + 2, None, None)  # every judge abstained: not rated
    await judged(1, "m/a", "m/b", JAN_1, Side.A)  # January
    found = await store.season_records(1, DEC_1, JAN_1, Board.JUDGES)
    [pair] = found.pairs
    assert (pair.model_a, pair.model_b, pair.battles) == ("m/a", "m/b", 2)
    assert pair.score_a == pytest.approx(1 / 3 + 1 / 2)
    assert pair.score_sq == pytest.approx(1 / 9 + 1 / 4)
    assert found.models["m/b"] == ModelRecord(wins=1, losses=0, draws=1, battles=2, votes=3)
    assert found.models["m/a"] == ModelRecord(wins=0, losses=1, draws=1, battles=2, votes=2)
    everything = await store.season_records(None, 0.0, 2 * JAN_1, Board.JUDGES)
    assert everything.models == await store.model_records(None, Board.JUDGES)
    assert await store.first_rated_start(1, DEC_1 + 2, Board.JUDGES) == JAN_1


async def test_boards_per_season_through_the_standings_service(store):
    november, december = Season(2026, 11), Season(2026, 12)
    for offset in range(3):  # m/a wins November...
        await battle_started_at(store, 1, "m/a", "m/b", {1: Side.A}, november.start + offset)
    for offset in range(4):  # ...m/b wins December, its last vote closing in January.
        await battle_started_at(
            store, 1, "m/a", "m/b", {1: Side.B, 2: Side.B}, JAN_1 - 60 + offset, JAN_1 + 60
        )
    service = StandingsService(store)
    assert [row.model for row in await service.standings(1, Board.CROWD, november)] == [
        "m/a",
        "m/b",
    ]
    december_rows = await service.standings(1, Board.CROWD, december)
    assert [row.model for row in december_rows] == ["m/b", "m/a"]
    assert december_rows[0].record == ModelRecord(wins=4, battles=4, votes=8)
    assert await service.standings(1, Board.CROWD, Season(2027, 1)) == []
    assert len(await service.standings(1)) == 2  # all time
    assert (await service.standings(1))[0].record.battles == 7
    # The seasons the board has, newest first, as months or as quarters.
    assert await service.seasons(1, Board.CROWD, SeasonLength.MONTH) == [december, november]
    assert await service.seasons(1, Board.CROWD, SeasonLength.QUARTER) == [
        Season(2026, 4, SeasonLength.QUARTER)
    ]
    assert await service.seasons(2, Board.CROWD, SeasonLength.MONTH) == []
    # A new vote in the season moves its board.
    await battle_started_at(store, 1, "m/a", "m/b", {1: Side.A}, december.start + 5)
    assert (await service.standings(1, Board.CROWD, december))[0].record.battles == 5


async def test_the_season_setting_is_off_by_default_and_kept(store):
    assert (await store.server_settings(4)).apply_to(ServerRules.defaults())[SEASON] == "off"
    await store.save_server_settings(4, ServerSettings(season="quarter"))
    assert (await store.server_settings(4)).chosen(SEASON) == "quarter"
    await store.save_server_settings(4, ServerSettings(season="off"))
    assert (await store.server_settings(4)).chosen(SEASON) is None
