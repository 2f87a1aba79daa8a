"""Tournaments in Discord, with no Discord and no database: the real arena over the in-memory store,
stages that record each channel's posts, a crowd that reacts on every vote, and verses written on
the spot (or held, to stop or restart mid-match).

Who advances (the crowd, the judges on a draw, else the higher seed), the thread and the bracket,
stopping, and restarts that go on with the next unplayed match and post nothing twice.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import pytest

from bot.engine.battle import Battle, Side
from bot.engine.discord_limits import EMBED_FIELD_VALUE_CHARS as EMBED_FIELD_CHARS
from bot.engine.discord_limits import EMBED_FIELDS, EMBED_TOTAL_CHARS
from bot.engine.pacing import Pace
from bot.engine.progression import Finished, PlanRound
from bot.engine.progression import default_swiss_rounds as swiss_round_count
from bot.engine.tournament import TournamentFormat
from bot.engine.verdicts import Ballot, Verdict
from bot.engine.votes import Tally, Voter
from bot.errors import UserError
from bot.services.battles.arena import Arena, BattleOutcome, BattleRequest
from bot.services.battles.standings import StandingsService
from bot.services.stage import Card, StageError
from bot.services.tournaments.bracket import bracket_card
from bot.services.tournaments.record import progression_of
from bot.services.tournaments.sessions import (
    SeedOrder,
    TournamentRequest,
    Tournaments,
    check_roster,
    parse_models,
    seeded_by_rating,
)
from bot.settings import Settings
from bot.store import BattleState
from bot.store.tournaments import (
    NewTournament,
    StoredMatch,
    StoredRound,
    StoredTournament,
    TournamentState,
)
from tests.fakes.memory_store import MemoryStore
from tests.fakes.stages import FakeStageFactory, PostKind, RecordingBattleStage
from tests.unit.test_arena_policy import Clock, Verses

GUILD, CHANNEL, STARTER = 1, 10, 100
FOUR = ("m/alpha", "m/bravo", "m/charlie", "m/delta")
PROMPTLY = 5.0


class JudgedArena(Arena):
    """An arena whose battles a fake jury also judges: ``jury`` picks a side for each battle,
    as BattleOutcome.verdict will carry it once the judges run in Discord."""

    jury: Callable[[Battle], Side | None] = staticmethod(lambda battle: None)  # type: ignore[assignment]

    async def _jury(self, request: object, rules: object) -> None:
        return None  # No panel runs: ``jury`` stands in for its verdict when the battle settles.

    async def settle(
        self, battle_id: int, tally: Tally | None = None, verdict: Verdict | None = None
    ) -> None:
        future = self._outcomes.pop(battle_id, None)
        if future is None or future.done():
            return
        stored = await self.store.battle(battle_id)
        assert stored is not None
        pick = self.jury(stored.battle)
        verdict = None
        if pick is not None:
            ballots = (
                Ballot("j/one", pick),
                Ballot("j/two", pick),
                Ballot("j/three", pick.opponent),
            )
            verdict = Verdict(stored.battle.model_a, stored.battle.model_b, ballots)
        future.set_result(BattleOutcome(stored, tally, verdict))


def crowd_for(strength: Mapping[str, int], draws: Sequence[frozenset[str]] = ()) -> Callable:
    """Two fans vote for the stronger model; pairs in ``draws`` split one vote each."""

    def react(battle: Battle) -> dict[Side, list[Voter]]:
        if frozenset((battle.model_a, battle.model_b)) in draws:
            return {Side.A: [Voter(1)], Side.B: [Voter(2)]}
        side = Side.A if strength[battle.model_a] >= strength[battle.model_b] else Side.B
        return {side: [Voter(1), Voter(2)]}

    return react


@dataclass
class World:
    store: MemoryStore
    stages: FakeStageFactory
    verses: Verses
    clock: Clock
    arena: Arena
    tournaments: Tournaments

    def channel(self) -> RecordingBattleStage:
        return self.stages.stage_for(CHANNEL)

    async def start(self, models: Sequence[str] = FOUR, **options) -> int:
        request = TournamentRequest(GUILD, CHANNEL, STARTER, tuple(models), **options)
        session = await self.tournaments.start(request)
        return session.id

    async def finished(self, tournament_id: int) -> StoredTournament:
        async with asyncio.timeout(PROMPTLY):
            while True:
                stored = await self.store.tournament(tournament_id)
                if stored.state is not TournamentState.RUNNING and (
                    stored.state is TournamentState.STOPPED or stored.champion_announced
                ):
                    return stored
                await asyncio.sleep(0.01)

    async def shutdown(self) -> None:
        await self.tournaments.shutdown()
        await self.arena.shutdown()


def make_world(
    store: MemoryStore | None = None,
    stages: FakeStageFactory | None = None,
    verses: Verses | None = None,
    *,
    vote_seconds: int = 0,
    arena_type: type[Arena] = Arena,
) -> World:
    store = store or MemoryStore()
    stages = stages or FakeStageFactory()
    verses = verses or Verses()
    clock = Clock()
    settings = Settings(
        battle_rounds=1,
        battle_pace=Pace(0.0),
        vote_seconds=vote_seconds,
        battle_cooldown_seconds=0,
        max_battles_per_server=3,
    )
    arena = arena_type(
        settings, store, verses, StandingsService(store), stages, clock=clock, rng=random.Random(3)
    )
    tournaments = Tournaments(arena, store, stages, retry_seconds=0.01)
    return World(store, stages, verses, clock, arena, tournaments)


@pytest.fixture
async def worlds() -> AsyncIterator[list[World]]:
    made: list[World] = []
    yield made
    for world in made:
        await world.shutdown()


@pytest.fixture
def world(worlds: list[World]) -> World:
    made = make_world()
    worlds.append(made)
    return made


def titles(stage: RecordingBattleStage) -> list[str]:
    return [post.content.title for post in stage.of_kind(PostKind.CARD)]


# -- pure rules ----------------------------------------------------------------------------------


def test_the_models_option_is_a_comma_separated_list_of_3_to_32_different_models():
    assert parse_models(" a, b ,,c ") == ("a", "b", "c")
    check_roster(["a", "b", "c"])
    check_roster([f"m{i}" for i in range(32)])
    with pytest.raises(UserError, match="3 to 32 models"):
        check_roster(["a", "b"])
    with pytest.raises(UserError, match="3 to 32 models"):
        check_roster([f"m{i}" for i in range(33)])
    with pytest.raises(UserError, match="`b` is listed twice"):
        check_roster(["a", "b", "c", "b"])


def test_seeding_by_rating_puts_unrated_models_after_in_the_order_given():
    board = ["x/top", "m/c", "m/a", "x/other"]
    assert seeded_by_rating(["m/a", "m/b", "m/c", "m/d"], board) == ("m/c", "m/a", "m/b", "m/d")
    assert swiss_round_count(3) == 2 and swiss_round_count(8) == 3 and swiss_round_count(32) == 5


def _finished_tournament(models: Sequence[str], tournament_format: TournamentFormat):
    """A tournament decided all the way in memory, side A winning every match 3–2 with a note
    (the longest bracket lines), as the progression plans it; and its champion."""
    stored = StoredTournament(
        1, GUILD, CHANNEL, STARTER, tournament_format, tuple(models), 1, None, True,
        TournamentState.RUNNING, 0.0,
    )  # fmt: skip
    step = progression_of(stored).next_step()
    while isinstance(step, PlanRound):
        number, plan = step.number, step.plan
        matches = tuple(
            StoredMatch(number, p.index, p.side_a, p.side_b, number + 1, p.side_a, 3, 2, "a note")
            for p in plan.pairings
        )
        stored = replace(stored, rounds=(*stored.rounds, StoredRound(number, plan.bye, matches)))
        step = progression_of(stored).next_step()
    assert isinstance(step, Finished)
    return replace(stored, state=TournamentState.FINISHED, champion=step.champion), step.champion


@pytest.mark.parametrize("tournament_format", list(TournamentFormat))
def test_a_bracket_of_32_long_names_fits_one_embed(tournament_format):
    models = [f"some-vendor-{i:02d}/a-rather-long-model-name-{i:02d}-instruct" for i in range(32)]
    stored, champion = _finished_tournament(models, tournament_format)
    assert champion == models[0]  # side A, the higher seed, always won
    rounds = 5 if tournament_format is TournamentFormat.SINGLE else swiss_round_count(32)
    assert len(stored.rounds) == rounds
    card = bracket_card(stored)
    assert len(card.fields) <= EMBED_FIELDS
    assert all(len(value) <= EMBED_FIELD_CHARS for _, value in card.fields)
    size = len(card.title) + len(card.description) + sum(len(n) + len(v) for n, v in card.fields)
    assert size <= EMBED_TOTAL_CHARS
    names = [name for name, _ in card.fields]
    if tournament_format is TournamentFormat.SINGLE:
        assert {name.removesuffix(" (cont.)") for name in names} == {
            f"Round {n}" for n in range(1, 6)
        }
        shown = "".join(value for name, value in card.fields if name.startswith("Round 1"))
    else:  # the latest rounds, then the table
        assert names[-2:] == ["Standings", "Standings (cont.)"]
        assert names[-3].startswith("Round 5")
        assert "earliest rounds are left out" in card.description
        shown = card.fields[-2][1] + card.fields[-1][1]
    # Every model is there, told apart by its shortened name.
    assert all(f"{i:02d}\\-instruct" in shown for i in range(32))


# -- playing a tournament ------------------------------------------------------------------------


async def test_four_models_play_out_in_a_thread_and_the_crowd_decides(world: World):
    strength = {"m/alpha": 1, "m/bravo": 4, "m/charlie": 2, "m/delta": 3}
    world.stages.crowd = crowd_for(strength)
    tournament_id = await world.start()
    stored = await world.finished(tournament_id)

    assert stored.state is TournamentState.FINISHED and stored.champion == "m/bravo"
    channel = world.channel()
    thread = world.stages.stage_for(stored.thread_id)
    assert stored.thread_id == stored.announcement_message_id  # opened from the announcement
    assert [p.content for p in channel.of_kind(PostKind.THREAD)] == [
        (stored.announcement_message_id, "🏆 Tournament #1 (4 models)")
    ]
    # The channel: the announcement, then the champion. The thread: bracket, matches, champion.
    assert titles(channel) == ["🏆 Tournament #1 begins", "👑 m/bravo wins tournament #1"]
    assert thread.posts[0].kind is PostKind.CARD
    assert thread.posts[0].message_id == stored.bracket_message_id
    assert titles(thread)[1:] == ["👑 m/bravo wins tournament #1"]
    # Round 1: alpha v charlie, bravo v delta (top half v bottom half); the final: charlie v bravo.
    assert [
        (m.side_a, m.side_b, m.winner, m.votes_a, m.votes_b)
        for r in stored.rounds
        for m in r.matches
    ] == [
        ("m/alpha", "m/charlie", "m/charlie", 0, 2),
        ("m/bravo", "m/delta", "m/bravo", 2, 0),
        ("m/charlie", "m/bravo", "m/bravo", 0, 2),
    ]
    assert thread.title_labels == [
        "Tournament #1: round 1, match 1",
        "Tournament #1: round 1, match 2",
        "Tournament #1: round 2, match 1",
    ]
    assert len(thread.of_kind(PostKind.RESULTS)) == 3 and thread.notices == []
    bracket = thread.card(stored.bracket_message_id)
    assert "Champion: **m/bravo**" in bracket.description
    assert [name for name, _ in bracket.fields] == ["Round 1", "Round 2"]
    assert "**m/charlie** beat m/alpha 0–2" in bracket.fields[0][1]
    # Every match counts on the server's leaderboard like any battle.
    records = await world.store.model_records(GUILD)
    assert records["m/bravo"].wins == 2 and records["m/alpha"].losses == 1
    battles = [m.battle_id for r in stored.rounds for m in r.matches]
    assert [(await world.store.battle(b)).state for b in battles] == [BattleState.CLOSED] * 3


async def test_a_draw_or_no_votes_goes_to_the_higher_seed_and_says_so(world: World):
    world.stages.crowd = crowd_for(
        {"m/alpha": 1, "m/bravo": 1, "m/charlie": 2}, draws=[frozenset(("m/bravo", "m/charlie"))]
    )
    tournament_id = await world.start(FOUR[:3])
    stored = await world.finished(tournament_id)
    # Three models: alpha sits out round 1; bravo v charlie is a 1–1 draw, bravo (side A) goes on.
    assert stored.rounds[0].bye == "m/alpha"
    first = stored.match(0, 0)
    assert (first.side_a, first.winner, first.votes_a, first.votes_b) == (
        "m/bravo",
        "m/bravo",
        1,
        1,
    )
    assert first.note == "A draw, 1–1: `m/bravo`, the higher seed, advances."
    thread = world.stages.stage_for(stored.thread_id)
    assert thread.notices[0] == "Round 1, match 1: " + first.note
    bracket = thread.card(stored.bracket_message_id)
    assert "R1 M1: " + first.note in bracket.description
    assert "m/alpha advances without a battle" in bracket.fields[0][1]


async def test_nobody_voting_goes_to_the_higher_seed(world: World):
    tournament_id = await world.start(FOUR[:3])
    stored = await world.finished(tournament_id)
    assert stored.champion == "m/alpha"
    assert stored.match(0, 0).note == "No votes: `m/bravo`, the higher seed, advances."


async def test_on_a_draw_the_judges_decide_when_the_battle_was_judged(worlds: list[World]):
    world = make_world(arena_type=JudgedArena)
    worlds.append(world)
    world.arena.jury = lambda battle: Side.B  # type: ignore[attr-defined]
    world.stages.crowd = crowd_for({}, draws=[frozenset(FOUR[1:3])])
    tournament_id = await world.start(FOUR[:3], judges=True)
    stored = await world.finished(tournament_id)
    first = stored.match(0, 0)
    assert first.winner == "m/charlie"
    assert first.note == "A draw, 1–1: the judges chose `m/charlie` (2–1)."
    assert stored.judges is True


async def test_a_swiss_tournament_pairs_without_rematches_and_crowns_the_table_top(world: World):
    strength = {"m/alpha": 4, "m/bravo": 3, "m/charlie": 2, "m/delta": 1}
    world.stages.crowd = crowd_for(strength)
    tournament_id = await world.start(tournament_format=TournamentFormat.SWISS)
    stored = await world.finished(tournament_id)
    assert len(stored.rounds) == 2
    pairs = [frozenset((m.side_a, m.side_b)) for r in stored.rounds for m in r.matches]
    assert len(pairs) == 4 and len(set(pairs)) == 4
    # Round 1 pairs nearest seeds; round 2 the two winners, and the two losers.
    assert set(pairs[:2]) == {frozenset(FOUR[:2]), frozenset(FOUR[2:])}
    assert set(pairs[2:]) == {
        frozenset(("m/alpha", "m/charlie")),
        frozenset(("m/bravo", "m/delta")),
    }
    assert stored.champion == "m/alpha"
    bracket = world.stages.stage_for(stored.thread_id).card(stored.bracket_message_id)
    assert [name for name, _ in bracket.fields] == ["Round 1", "Round 2", "Standings"]
    assert bracket.fields[2][1].startswith("1. m/alpha: 2 pts (2–0)")


async def test_seeding_by_the_servers_ratings(world: World):
    for winner, loser in [("m/delta", "m/alpha"), ("m/delta", "m/charlie")]:
        world.stages.crowd = crowd_for({winner: 2, loser: 1})
        session = await world.arena.start(
            BattleRequest(GUILD, 99, STARTER, "<@100>"), Battle(winner, loser, 1)
        )
        await asyncio.wait_for(session.outcome(), PROMPTLY)
    world.stages.crowd = None
    tournament_id = await world.start(FOUR, seed=SeedOrder.RATING)
    stored = await world.store.tournament(tournament_id)
    assert stored.seeds[0] == "m/delta" and stored.seeds[-1] == "m/bravo"
    await world.finished(tournament_id)


async def test_one_tournament_at_a_time_per_server(world: World):
    world.verses.held.add("m/alpha")
    first = await world.start()
    with pytest.raises(UserError, match="Tournament #1 is still running"):
        await world.start(["m/x", "m/y", "m/z"])
    assert first == 1


async def test_stopping_ends_the_match_under_way_and_plays_no_more(world: World):
    world.verses.held.add("m/alpha")
    tournament_id = await world.start()
    async with asyncio.timeout(PROMPTLY):
        while not world.arena.battles:
            await asyncio.sleep(0.01)
    message = await world.tournaments.stop(GUILD, CHANNEL, "mod")
    assert message == "Tournament #1 is stopped."
    stored = await world.store.tournament(tournament_id)
    assert (stored.state, stored.reason) == (TournamentState.STOPPED, "stopped by mod")
    battle_id = stored.match(0, 0).battle_id
    async with asyncio.timeout(PROMPTLY):
        while (await world.store.battle(battle_id)).state is BattleState.RUNNING:
            await asyncio.sleep(0.01)
    assert (await world.store.battle(battle_id)).state is BattleState.STOPPED
    thread = world.stages.stage_for(stored.thread_id)
    assert "Stopped: stopped by mod." in thread.card(stored.bracket_message_id).description
    assert "⏹️ Tournament #1 stopped by mod." in thread.notices
    world.verses.release.set()
    await asyncio.sleep(0.05)
    assert len(thread.of_kind(PostKind.TITLE_CARD)) == 1  # no further match
    with pytest.raises(UserError, match="No tournament is running"):
        await world.tournaments.stop(GUILD, CHANNEL, "mod")


async def test_a_restart_mid_match_plays_it_again_and_goes_on_posting_nothing_twice(
    worlds: list[World],
):
    first = make_world()
    worlds.append(first)
    first.stages.crowd = crowd_for({"m/alpha": 1, "m/bravo": 4, "m/charlie": 2, "m/delta": 3})
    first.verses.held.add("m/bravo")  # round 1, match 2 waits for its verse
    tournament_id = await first.start()
    async with asyncio.timeout(PROMPTLY):
        while not first.verses.requests.count("m/bravo"):
            await asyncio.sleep(0.01)
    await first.shutdown()
    interrupted = (await first.store.tournament(tournament_id)).match(0, 1).battle_id

    verses = Verses()
    second = make_world(first.store, first.stages, verses)
    worlds.append(second)
    await second.arena.recover()
    await second.tournaments.recover()
    stored = await second.finished(tournament_id)
    assert stored.champion == "m/bravo"
    assert (await second.store.battle(interrupted)).state is BattleState.INTERRUPTED
    replayed = stored.match(0, 1).battle_id
    assert replayed != interrupted
    # The first match was not played again; the interrupted one was.
    assert stored.match(0, 0).battle_id == 1
    thread = first.stages.stage_for(stored.thread_id)
    assert thread.title_labels == [
        "Tournament #1: round 1, match 1",
        "Tournament #1: round 1, match 2",
        "Tournament #1: round 1, match 2",
        "Tournament #1: round 2, match 1",
    ]
    channel = first.channel()
    assert titles(channel) == ["🏆 Tournament #1 begins", "👑 m/bravo wins tournament #1"]
    assert len(channel.of_kind(PostKind.THREAD)) == 1
    assert titles(thread).count("👑 m/bravo wins tournament #1") == 1
    assert thread.of_kind(PostKind.CARD)[0].message_id == stored.bracket_message_id


async def test_a_restart_mid_vote_counts_that_vote_and_does_not_replay(worlds: list[World]):
    first = make_world(vote_seconds=60)
    worlds.append(first)
    first.stages.crowd = crowd_for({"m/alpha": 1, "m/bravo": 2, "m/charlie": 3})
    tournament_id = await first.start(FOUR[:3])
    async with asyncio.timeout(PROMPTLY):
        while not first.arena.votes:
            await asyncio.sleep(0.01)
    await first.shutdown()

    second = make_world(first.store, first.stages, vote_seconds=0)
    worlds.append(second)
    second.clock.now += 61  # past the stored deadline: the vote closes as soon as it reopens
    await second.arena.recover()
    await second.tournaments.recover()
    stored = await second.finished(tournament_id)
    assert stored.match(0, 0).battle_id == 1 and stored.match(0, 0).winner == "m/charlie"
    assert stored.champion == "m/charlie"
    thread = first.stages.stage_for(stored.thread_id)
    assert len(thread.of_kind(PostKind.TITLE_CARD)) == 2


async def test_a_champion_crowned_but_not_announced_is_announced_once_after_a_restart(
    world: World,
):
    store = world.store
    stored = await store.create_tournament(
        NewTournament(GUILD, CHANNEL, STARTER, TournamentFormat.SINGLE, FOUR[:3], 1), 0.0
    )
    await store.set_tournament_thread(stored.id, 555)
    first = progression_of(stored).next_step()
    assert isinstance(first, PlanRound)
    await store.plan_round(stored.id, 0, "m/alpha", [first.plan.pairings[0]])
    await store.decide_match(stored.id, 0, 0, "m/bravo", (2, 0))
    await store.finish_tournament(stored.id, "m/alpha")
    await world.tournaments.recover()
    await world.finished(stored.id)
    await world.tournaments.recover()
    await asyncio.sleep(0.05)
    assert titles(world.stages.stage_for(555)) == ["👑 m/alpha wins tournament #1"]
    assert titles(world.channel()) == ["👑 m/alpha wins tournament #1"]


async def test_without_a_thread_it_runs_in_the_channel(world: World):
    tournament_id = await world.start(FOUR[:3], threaded=False)
    stored = await world.finished(tournament_id)
    assert stored.thread_id is None and stored.place_id == CHANNEL
    channel = world.channel()
    assert channel.of_kind(PostKind.THREAD) == []
    assert len(channel.of_kind(PostKind.TITLE_CARD)) == 2
    # Announced once in the channel: the announcement, the bracket, the champion.
    assert titles(channel) == [
        "🏆 Tournament #1 begins",
        "🏆 Tournament #1: 3 models, single elimination",
        "👑 m/alpha wins tournament #1",
    ]


async def test_a_thread_the_channel_refuses_leaves_the_tournament_in_the_channel(world: World):
    world.channel().fail(
        StageError("Missing Permissions", lost_access=True), kinds=[PostKind.THREAD]
    )
    tournament_id = await world.start(FOUR[:3])
    stored = await world.finished(tournament_id)
    assert stored.thread_id is None
    assert any("could not open a thread" in n for n in world.channel().notices)
    assert isinstance(world.channel().card(stored.bracket_message_id), Card)


async def test_a_tournament_whose_thread_is_lost_ends_instead_of_going_by_seed(world: World):
    world.verses.held.add("m/bravo")
    tournament_id = await world.start(FOUR[:3])
    async with asyncio.timeout(PROMPTLY):
        while not world.verses.requests:
            await asyncio.sleep(0.01)
    stored = await world.store.tournament(tournament_id)
    world.stages.stage_for(stored.thread_id).refuse()  # the thread was deleted
    world.verses.release.set()
    stored = await world.finished(tournament_id)
    assert stored.state is TournamentState.STOPPED
    assert stored.reason == "ended: the bot lost permission to post in the channel"
    assert stored.match(0, 0).winner is None and len(stored.rounds) == 1
    assert world.channel().notices[-1] == (
        "⏹️ Tournament #1 ended: the bot lost permission to post in the channel."
    )


async def test_recovery_running_as_a_tournament_is_stored_starts_no_second_session(
    world: World, monkeypatch
):
    """Just after start-up, /tournament may store its tournament while the recovery pass is
    still looking for running ones: the tournament gets one session, one announcement and one
    bracket all the same."""
    world.stages.crowd = crowd_for({"m/alpha": 4, "m/bravo": 3, "m/charlie": 2, "m/delta": 1})
    create = world.store.create_tournament

    async def create_while_recovering(*arguments, **options):
        stored = await create(*arguments, **options)
        await world.tournaments.recover()  # recovery's query runs in this very window
        return stored

    monkeypatch.setattr(world.store, "create_tournament", create_while_recovering)
    tournament_id = await world.start()
    stored = await world.finished(tournament_id)
    assert stored.champion == "m/alpha"
    cards = [
        post.content.title  # type: ignore[union-attr]
        for stage in world.stages.stages.values()
        for post in stage.of_kind(PostKind.CARD)
    ]
    assert cards.count("🏆 Tournament #1 begins") == 1
    assert sum(title.startswith("🏆 Tournament #1:") for title in cards) == 1
    assert len(world.channel().of_kind(PostKind.THREAD)) == 1
