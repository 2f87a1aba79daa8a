"""The vote audit's part of the store's contract, on SQLite, PostgreSQL (when TEST_DATABASE_URL
names one) and the in-memory store: set-aside votes kept at the close, picks read back, the daily
cap's count, and exclusions that move a member's past votes and the crowd board, logged."""

from __future__ import annotations

import pytest

from bot.engine.battle import Battle, Side
from bot.engine.leaderboard import ModelRecord
from bot.engine.server_settings import MAX_VOTES_PER_DAY, MIN_ACCOUNT_AGE_DAYS, ServerRules
from bot.engine.vote_audit import SetAsideReason, SetAsideVote, VotePick
from bot.engine.votes import DEFAULT_EMOJI, Tally
from bot.services.battles.audit import stored_set_aside_note
from bot.store import NewBattle, Store
from tests.test_store import open_backend  # noqa: F401 (the contract's backends)

GUILD, OTHER_GUILD = 1, 2
ADMIN, MALLORY = 900, 66


@pytest.fixture
async def store(open_backend):  # noqa: F811 (open_backend is the imported fixture)
    opened = await open_backend()
    yield opened
    await opened.close()


async def closed(
    store: Store,
    ballots: dict[int, Side],
    at: float,
    guild: int = GUILD,
    set_aside: tuple[SetAsideVote, ...] = (),
    models: tuple[str, str] = ("m/a", "m/b"),
) -> int:
    created = await store.create_battle(NewBattle(guild, 10, 100, Battle(*models)), at)
    await store.open_voting(created.id, 500 + created.id, at + 60, DEFAULT_EMOJI)
    house = sum(1 for vote in set_aside if vote.reason.is_house_rule)
    assert await store.close_voting(
        created.id, Tally(ballots), at + 60, set_aside=house, set_aside_votes=set_aside
    )
    return created.id


async def test_set_aside_votes_are_kept_with_their_reasons_and_read_back_as_picks(store):
    kept = (
        SetAsideVote(50, Side.A, SetAsideReason.BOT),
        SetAsideVote(7, None, SetAsideReason.BOTH_SIDES),
        SetAsideVote(8, Side.B, SetAsideReason.DAILY_CAP),
    )
    battle = await closed(store, {1: Side.A, 2: Side.A, 3: Side.B}, 1000.0, set_aside=kept)
    assert await store.set_aside_votes(battle) == sorted(kept, key=lambda v: v.user_id)
    assert (await store.battle(battle)).votes_set_aside == 1
    assert await store.ballots(battle) == {1: Side.A, 2: Side.A, 3: Side.B}

    later = await closed(store, {1: Side.B}, 2000.0)
    picks = await store.vote_picks(GUILD)
    assert [p.battle_id for p in picks] == [later] + [battle] * 6  # newest battle first
    assert picks[0] == VotePick(later, 1, Side.B, None, 0, 1, "m/a", "m/b")
    assert VotePick(battle, 8, Side.B, SetAsideReason.DAILY_CAP, 2, 1, "m/a", "m/b") in picks
    assert await store.vote_picks(GUILD, user_id=1) == [
        VotePick(later, 1, Side.B, None, 0, 1, "m/a", "m/b"),
        VotePick(battle, 1, Side.A, None, 2, 1, "m/a", "m/b"),
    ]
    assert await store.vote_picks(OTHER_GUILD) == []


async def test_the_daily_cap_counts_votes_counted_on_this_server_since_a_time(store):
    await closed(store, {1: Side.A, 2: Side.B}, 1000.0)  # closes at 1060
    await closed(store, {1: Side.A}, 5000.0)  # closes at 5060
    await closed(store, {1: Side.A}, 5000.0, guild=OTHER_GUILD)
    await closed(
        store, {3: Side.A}, 5000.0, set_aside=(SetAsideVote(1, Side.B, SetAsideReason.DAILY_CAP),)
    )
    assert await store.votes_counted_since(GUILD, [1, 2, 3, 4], 0.0) == {1: 2, 2: 1, 3: 1}
    assert await store.votes_counted_since(GUILD, [1, 2, 4], 2000.0) == {1: 1}
    assert await store.votes_counted_since(GUILD, [], 0.0) == {}


async def test_excluding_a_voter_moves_their_past_votes_and_the_board_and_is_logged(store):
    first = await closed(store, {MALLORY: Side.B, 1: Side.A}, 1000.0)  # a draw, 1-1
    second = await closed(store, {MALLORY: Side.B, 1: Side.B, 2: Side.A}, 2000.0)  # B 2-1
    await closed(store, {MALLORY: Side.B}, 3000.0, guild=OTHER_GUILD)
    assert (await store.model_records(GUILD))["m/b"] == ModelRecord(1, 0, 1, 2, 3)
    version = await store.ratings_version(GUILD)

    change = await store.set_voter_excluded(GUILD, MALLORY, True, ADMIN, 4000.0)
    assert change is not None and change.votes_moved == 2 and change.excluded
    assert await store.set_voter_excluded(GUILD, MALLORY, True, ADMIN, 4001.0) is None
    assert await store.excluded_voters(GUILD) == {MALLORY}
    assert await store.excluded_voters(OTHER_GUILD) == frozenset()
    one, two = await store.battle(first), await store.battle(second)
    assert (one.votes_a, one.votes_b, one.votes_set_aside) == (1, 0, 1)
    assert (two.votes_a, two.votes_b, two.votes_set_aside) == (1, 1, 1)
    assert MALLORY not in await store.ballots(first)
    assert SetAsideVote(MALLORY, Side.B, SetAsideReason.EXCLUDED) in await store.set_aside_votes(
        second
    )
    # The first battle now goes to A, 1-0; the second is a draw, 1-1.
    records = await store.model_records(GUILD)
    assert records == {"m/a": ModelRecord(1, 0, 1, 2, 2), "m/b": ModelRecord(0, 1, 1, 2, 1)}
    [pair] = await store.pair_records(GUILD)
    assert (pair.battles, pair.score_a, pair.score_sq) == (2, 1.5, 1.25)
    assert await store.ratings_version(GUILD) > version
    assert (await store.model_records(OTHER_GUILD))["m/b"].votes == 1  # another server's

    back = await store.set_voter_excluded(GUILD, MALLORY, False, ADMIN + 1, 5000.0)
    assert back is not None and back.votes_moved == 2 and not back.excluded
    assert await store.excluded_voters(GUILD) == frozenset()
    assert await store.ballots(second) == {MALLORY: Side.B, 1: Side.B, 2: Side.A}
    assert (await store.model_records(GUILD))["m/b"] == ModelRecord(1, 0, 1, 2, 3)
    [pair] = await store.pair_records(GUILD)
    assert pair.battles == 2 and abs(pair.score_a - (0.5 + 1 / 3)) < 1e-9
    log = await store.voter_changes(GUILD)
    assert [(c.user_id, c.excluded, c.changed_by, c.changed_at, c.votes_moved) for c in log] == [
        (MALLORY, True, ADMIN, 4000.0, 2),
        (MALLORY, False, ADMIN + 1, 5000.0, 2),
    ]
    assert await store.voter_changes(GUILD, user_id=1) == []


async def test_a_battle_left_without_votes_leaves_the_board(store):
    only = await closed(store, {MALLORY: Side.A}, 1000.0, models=("m/x", "m/y"))
    assert set(await store.model_records(GUILD)) == {"m/x", "m/y"}
    await store.set_voter_excluded(GUILD, MALLORY, True, ADMIN, 2000.0)
    assert await store.model_records(GUILD) == {}
    assert await store.pair_records(GUILD) == []
    stored = await store.battle(only)
    assert (stored.votes_a, stored.votes_b) == (0, 0)
    await store.set_voter_excluded(GUILD, MALLORY, False, ADMIN, 3000.0)
    assert (await store.model_records(GUILD))["m/x"] == ModelRecord(1, 0, 0, 1, 1)


async def test_an_unrated_battle_moves_its_votes_but_not_the_board(store):
    created = await store.create_battle(NewBattle(GUILD, 10, 100, Battle("m/a", "m/b")), 1.0)
    await store.set_unrated(created.id, "a verse named its model")
    await store.open_voting(created.id, 5, 60.0, DEFAULT_EMOJI)
    await store.close_voting(created.id, Tally({MALLORY: Side.A}), 61.0)
    version = await store.ratings_version(GUILD)
    await store.set_voter_excluded(GUILD, MALLORY, True, ADMIN, 100.0)
    assert (await store.battle(created.id)).votes_a == 0
    assert await store.model_records(GUILD) == {}
    assert await store.ratings_version(GUILD) == version


async def test_results_posted_after_a_restart_say_why_votes_were_set_aside(store):
    rules = ServerRules.defaults({MIN_ACCOUNT_AGE_DAYS: 2, MAX_VOTES_PER_DAY: 3})
    kept = (
        SetAsideVote(7, Side.A, SetAsideReason.DAILY_CAP),
        SetAsideVote(8, Side.B, SetAsideReason.ACCOUNT_AGE),
        SetAsideVote(50, Side.B, SetAsideReason.BOT),
    )
    battle = await store.battle(await closed(store, {1: Side.A}, 1000.0, set_aside=kept))
    assert await stored_set_aside_note(store, battle, rules) == (
        "2 votes were set aside: 1 from accounts younger than 2 days, "
        "1 past the daily cap of 3 votes a member."
    )
    # Closed before reasons were kept: only the count is known.
    legacy = await store.create_battle(NewBattle(GUILD, 10, 100, Battle("m/a", "m/b")), 1.0)
    await store.open_voting(legacy.id, 9, 60.0, DEFAULT_EMOJI)
    await store.close_voting(legacy.id, Tally({1: Side.A}), 61.0, set_aside=2)
    assert (await stored_set_aside_note(store, await store.battle(legacy.id), rules)).startswith(
        "2 votes were set aside: they came from accounts younger than this server allows"
    )
    nothing = await store.battle(await closed(store, {1: Side.A}, 2000.0))
    assert await stored_set_aside_note(store, nothing, rules) is None
