"""`rapbattle migrate` and `rapbattle copy-db`, as processes, against SQLite files and PostgreSQL.

The PostgreSQL tests use a schema of their own on TEST_DATABASE_URL and are skipped without it.
"""

import asyncio
import os
import sqlite3
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.cli.copy_db import copy_store, verify_copy
from bot.engine.battle import Battle, Side
from bot.engine.content_filter import Category
from bot.engine.pacing import Pace
from bot.engine.schedules import BattlePlan
from bot.engine.server_settings import ServerSettings
from bot.engine.spend import TokenUsage
from bot.engine.tournament import Pairing, TournamentFormat
from bot.engine.verdicts import Ballot, Verdict
from bot.engine.vote_audit import SetAsideReason, SetAsideVote
from bot.engine.votes import DEFAULT_EMOJI, Tally
from bot.store import BattleState, NewBattle, open_store
from bot.store.base import NewSchedule, StoredWithheldVerse
from bot.store.copy_queries import COPIED_TABLES, DestinationNotEmpty
from bot.store.migrations import MIGRATIONS
from bot.store.sql import SQLStore
from bot.store.tournaments import NewTournament
from tests.test_store import postgres_schema

RAPBATTLE = str(Path(sys.executable).with_name("rapbattle"))
OPTED_OUT = 2  # the server that keeps its results off the global leaderboard


async def rapbattle(*args: str, cwd: Path, database_url: str = "") -> tuple[int, str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    if database_url:
        env["DATABASE_URL"] = database_url
    process = await asyncio.create_subprocess_exec(
        RAPBATTLE,
        *args,
        cwd=cwd,  # away from the project's .env
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def closed_battle(store: SQLStore, guild: int, a: str, b: str, ballots: dict) -> int:
    created = await store.create_battle(NewBattle(guild, 10, 100, Battle(a, b)), now=5.0)
    for position, slot in enumerate(created.battle.plan()):
        await store.add_turn(created.id, position, created.battle.turn(slot, f"verse {position}"))
    await store.open_voting(created.id, 500 + created.id, 6.0, DEFAULT_EMOJI)
    await store.close_voting(created.id, Tally(ballots), now=7.0)
    await store.set_results_message(created.id, 900 + created.id)
    return created.id


async def judged_battle(store: SQLStore) -> None:
    """A battle the judges rated, its verdict posted (with an abstention and a same-vendor
    judge, so that every judges' column holds something)."""
    created = await store.create_battle(NewBattle(1, 10, 100, Battle("m/c", "m/d")), now=5.0)
    await store.mark_judged(created.id)
    await store.open_voting(created.id, 500 + created.id, 6.0, DEFAULT_EMOJI)
    await store.close_voting(created.id, Tally({1: Side.B}), now=7.0)
    ballots = (
        Ballot("m/judge", Side.A, "A had the bars.", same_vendor=True, prompt_tokens=9),
        Ballot.abstention("x/judge", "no answer", tokens=(8, 1)),
    )
    await store.store_verdict(created.id, Verdict("m/c", "m/d", ballots))
    await store.set_verdict_message(created.id, 1200 + created.id)


async def populate(path: Path) -> None:
    """A history in every state, on three servers, one of them opted out of the global board."""
    store = await open_store(f"sqlite:///{path}")
    try:
        await closed_battle(store, 1, "m/a", "m/b", {1: Side.A, 2: Side.A, 3: Side.B})
        await store.keep_track(1, b"OggS" + bytes(range(256)), 2.5, now=7.5)  # every byte value
        await closed_battle(store, 1, "m/b", "m/c", {1: Side.A, 2: Side.B})  # a draw
        await closed_battle(store, 1, "m/a", "m/a", {1: Side.B})  # self-play: not rated
        await closed_battle(store, 1, "m/c", "m/a", {})  # no votes: not rated
        await judged_battle(store)
        gone = await store.create_battle(NewBattle(1, 11, 101, Battle("m/a", "m/b")), now=8.0)
        await closed_battle(store, OPTED_OUT, "m/a", "m/b", {4: Side.B})
        await closed_battle(store, 3, "m/c", "m/d", {5: Side.A, 6: Side.A})
        for state in (BattleState.NO_CONTEST, BattleState.STOPPED, BattleState.INTERRUPTED):
            ended = await store.create_battle(NewBattle(3, 12, 102, Battle("m/a", "m/d")), now=9.0)
            await store.end_battle(ended.id, state, f"{state.value} for a test")
        voting = await store.create_battle(NewBattle(1, 13, 103, Battle("m/b", "m/d")), now=10.0)
        await store.open_voting(voting.id, 77, 99.0, {Side.A: "🔥", Side.B: "💧"})
        running = await store.create_battle(
            NewBattle(1, 14, 104, Battle("m/a", "m/c", 2, "cats", True), sides_swapped=True), 11.0
        )
        await store.add_turn(running.id, 0, running.battle.turn(running.battle.plan()[0], "hi"))
        # A tournament whose first match was that first battle.
        tournament = await store.create_tournament(
            NewTournament(1, 10, 100, TournamentFormat.SINGLE, ("m/a", "m/b", "m/c"), 1), 12.0
        )
        await store.plan_round(tournament.id, 0, "m/a", [Pairing(0, "m/b", "m/c")])
        await store.set_match_battle(tournament.id, 0, 0, 2)
        await store.decide_match(tournament.id, 0, 0, "m/b", (1, 1), "a draw")
        await store.add_schedule(NewSchedule(1, 10, 100, 3600, BattlePlan("m/a"), 20.0), 12.0, 10)
        # A judge's answer kept while its battle's crowd voted, and a public server's name.
        await store.keep_judge_answer(running.id, Ballot("j/one", Side.A, "kept", prompt_tokens=9))
        await store.name_server(1, "Rap Club", 12.0)
        # The vote audit's tables: a vote's reaction set aside, an exclusion and its log.
        audited = await store.create_battle(NewBattle(3, 14, 104, Battle("m/a", "m/d")), now=11.0)
        await store.open_voting(audited.id, 78, 12.0, DEFAULT_EMOJI)
        capped = SetAsideVote(5, Side.A, SetAsideReason.DAILY_CAP)
        await store.close_voting(audited.id, Tally({}), 12.0, set_aside=1, set_aside_votes=[capped])
        await store.set_voter_excluded(3, 4242, True, 1, 12.5)
        # The content filter's table: a withheld verse, its battle a no contest.
        held = await store.create_battle(NewBattle(3, 15, 105, Battle("m/a", "m/d")), now=11.5)
        verse = StoredWithheldVerse(
            held.id, Side.B, "m/d", 1, Category.HATE, "withheld", 11.6, TokenUsage(3, 4, 0.01)
        )
        await store.withhold_verse(verse, "m/d's verse was withheld by the content filter (hate)")
        await store.save_server_settings(OPTED_OUT, ServerSettings(global_opt_out=True))
        await store.save_server_settings(
            3,
            ServerSettings(
                rounds=2,
                pace=Pace(1.5),
                vote_seconds=120,
                cooldown_seconds=2.5,
                max_battles=4,
                emoji_a="🅰️",
                emoji_b="🅱️",
                allowed_models=("m/c", "m/d"),
                blind_default=True,
            ),
        )
    finally:
        await store.close()
    # A gap in the ids, as after a manual clean-up: the copy must keep ids, not renumber.
    with sqlite3.connect(path) as connection:
        connection.execute("DELETE FROM battles WHERE id = ?", (gone.id,))
    connection.close()


async def assert_same_history(source: SQLStore, copy: SQLStore) -> None:
    for table in COPIED_TABLES:
        assert await copy.table_rows(table) == await source.table_rows(table), table
    for guild in (1, OPTED_OUT, 3):
        assert await copy.server_settings(guild) == await source.server_settings(guild)
        assert await copy.model_records(guild) == await source.model_records(guild)
    assert await copy.model_records(None) == await source.model_records(None)
    # m/b's rated battles on server 1; its battle on the opted-out server stays off the board.
    assert (await copy.model_records(None))["m/b"].battles == 2


async def test_migrate_creates_a_fresh_sqlite_file(tmp_path):
    url = f"sqlite:///{tmp_path}/new/rapbattle.db"
    for _ in range(2):  # the second run finds nothing to do
        code, out, err = await rapbattle("migrate", cwd=tmp_path, database_url=url)
        assert (code, out, err) == (0, f"Schema version {len(MIGRATIONS)}.\n", "")
    assert (tmp_path / "new" / "rapbattle.db").is_file()


async def test_migrate_names_a_bad_database_url(tmp_path):
    code, out, err = await rapbattle("migrate", cwd=tmp_path, database_url="mysql://db")
    assert code == 1 and out == ""
    assert err.startswith("rapbattle: DATABASE_URL must start with sqlite:/// or postgresql://")


async def test_migrate_a_postgres_schema(tmp_path):
    async with postgres_schema() as url:
        for _ in range(2):
            code, out, err = await rapbattle("migrate", cwd=tmp_path, database_url=url)
            assert (code, out, err) == (0, f"Schema version {len(MIGRATIONS)}.\n", "")
        store = await open_store(url)
        try:
            assert await store.schema_version() == len(MIGRATIONS)
            assert set((await store.row_counts()).values()) == {0}
        finally:
            await store.close()


async def test_copy_db_from_sqlite_to_postgres_keeps_everything(tmp_path):
    await populate(tmp_path / "old.db")
    source_url = f"sqlite:///{tmp_path}/old.db"
    async with postgres_schema() as url:
        code, out, err = await rapbattle("copy-db", source_url, url, cwd=tmp_path)
        assert (code, err) == (0, "") and out.endswith("Copy verified.\n")
        assert "MISMATCH" not in out and "leaderboards: 4 of 4 the same" in out

        source, copy = await open_store(source_url), await open_store(url)
        try:
            assert 0 not in (await copy.row_counts()).values()  # every table has rows
            await assert_same_history(source, copy)
            report = await verify_copy(source, copy)
            assert report.ok and set(report.boards) == {
                "global",
                "server 1",
                "server 2",
                "server 3",
            }
            # The identity sequence was moved past the copied ids.
            last = max(row[0] for row in await source.table_rows("battles"))
            fresh = await copy.create_battle(NewBattle(1, 20, 105, Battle("m/a", "m/b")), 12.0)
            assert fresh.id == last + 1
            seeds = ("m/a", "m/b", "m/c")
            new = NewTournament(1, 10, 100, TournamentFormat.SWISS, seeds, 1, threaded=False)
            assert (await copy.create_tournament(new, 13.0)).id == 2
            assert (await copy.tournament(1)) == (await source.tournament(1))
            counts = await copy.row_counts()
        finally:
            await source.close()
            await copy.close()

        code, out, err = await rapbattle("copy-db", source_url, url, cwd=tmp_path)
        assert (code, out) == (1, "")
        assert err.startswith("rapbattle: The destination is not empty (battles")
        copy = await open_store(url)
        try:
            assert await copy.row_counts() == counts
        finally:
            await copy.close()


@pytest.fixture
async def sqlite_stores(tmp_path) -> AsyncIterator[tuple[SQLStore, SQLStore]]:
    """A populated SQLite store and an empty one."""
    await populate(tmp_path / "old.db")
    source = await open_store(f"sqlite:///{tmp_path}/old.db")
    copy = await open_store(f"sqlite:///{tmp_path}/copy.db")
    yield source, copy
    await source.close()
    await copy.close()


async def test_copy_between_sqlite_files_keeps_ids_and_refuses_a_second_time(sqlite_stores):
    source, copy = sqlite_stores
    report = await copy_store(source, copy)
    assert report.ok and report.lines()[-1] == "Copy verified."
    await assert_same_history(source, copy)
    ids = [row[0] for row in await copy.table_rows("battles")]
    assert ids != list(range(1, len(ids) + 1))  # the gap is kept
    fresh = await copy.create_battle(NewBattle(1, 20, 105, Battle("m/a", "m/b")), 12.0)
    assert fresh.id == max(ids) + 1

    counts = await copy.row_counts()
    with pytest.raises(DestinationNotEmpty, match="battles"):
        await copy_store(source, copy)
    assert await copy.row_counts() == counts


async def test_a_copy_that_differs_is_reported(sqlite_stores):
    source, copy = sqlite_stores
    await copy_store(source, copy)
    await closed_battle(copy, 3, "m/c", "m/d", {7: Side.B})
    report = await verify_copy(source, copy)
    assert not report.ok
    assert report.counts["battles"][1] == report.counts["battles"][0] + 1
    assert report.boards == {"global": False, "server 1": True, "server 2": True, "server 3": False}
    assert "battles" in next(line for line in report.lines() if "MISMATCH" in line)
    assert report.lines()[-1] == "The copy differs from the source."
