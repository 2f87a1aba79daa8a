"""The arena's policy, with no Discord and no database: the in-memory store, stages that record
each channel's posts, verses written on the spot and a clock the test moves.

Start checks, the cooldown and the server cap; who may stop a battle and what stopping does; the
outcome a caller awaits; how a vote closes and what happens when its channel refuses or its task
crashes; recovery after a restart; and shutdown.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

import pytest

from bot.engine.battle import Battle, Side
from bot.engine.discord_limits import DISCORD_EPOCH_MS
from bot.engine.pacing import Pace
from bot.engine.server_settings import VOTE_SECONDS, ServerSettings
from bot.engine.votes import DEFAULT_EMOJI, Tally, Voter
from bot.errors import UserError
from bot.llm import ModelError
from bot.services.battles.arena import Arena, BattleRequest
from bot.services.battles.recovery import INTERRUPTED_REASON
from bot.services.battles.sessions import (
    ENDING,
    LOST_CHANNEL_REASON,
    SHUTDOWN_REASON,
    VOTE_FAILED_REASON,
    BattleSession,
    battle_post,
)
from bot.services.battles.standings import StandingsService
from bot.services.stage import StageError
from bot.settings import Settings
from bot.store import BattleState, NewBattle, StoredBattle
from tests.fakes.memory_store import MemoryStore
from tests.fakes.stages import FakeStageFactory, PostKind, RecordingBattleStage

GUILD, OTHER_GUILD = 1, 2
CHANNEL, OTHER_CHANNEL, THIRD_CHANNEL = 10, 11, 12
ALICE, BOB, MOD = 100, 200, 300
COOLDOWN = 30.0
A_EMOJI, B_EMOJI = DEFAULT_EMOJI[Side.A], DEFAULT_EMOJI[Side.B]
# Every wait in these tests is for work the event loop can finish at once; this only bounds a bug.
PROMPTLY = 2.0


class Clock:
    """The arena's wall clock, moved only by the test."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Verses:
    """A VerseSource that writes at once, except models told to fail or to wait for ``release``."""

    failing: dict[str, str] = field(default_factory=dict)  # model: why
    held: set[str] = field(default_factory=set)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    requests: list[str] = field(default_factory=list)

    async def generate_verse(
        self,
        model: str,
        messages: Sequence[object],
        on_progress: Callable[[int], None] | None = None,
    ) -> str:
        self.requests.append(model)
        if model in self.held:
            await self.release.wait()
        if model in self.failing:
            raise ModelError(model, self.failing[model], status=402)
        return f"{model} drops verse {len(self.requests)}"


@dataclass
class World:
    arena: Arena
    store: MemoryStore
    stages: FakeStageFactory
    verses: Verses
    clock: Clock

    def stage(self, channel_id: int = CHANNEL) -> RecordingBattleStage:
        return self.stages.stage_for(channel_id)

    async def start(
        self,
        channel_id: int = CHANNEL,
        starter_id: int = ALICE,
        guild_id: int = GUILD,
        battle: Battle | None = None,
        missing: tuple[str, ...] = (),
    ) -> BattleSession:
        request = BattleRequest(guild_id, channel_id, starter_id, f"<@{starter_id}>", missing)
        return await self.arena.start(request, battle or Battle("m/a", "m/b", rounds=1))

    def restart(self, owns_guild: Callable[[int], bool] = lambda guild_id: True) -> World:
        """A new arena over the same store and channels, as after the process restarted."""
        return _world(
            self.store,
            self.stages,
            self.verses,
            self.clock,
            self.arena.defaults[VOTE_SECONDS],
            owns_guild,
        )


def _world(
    store: MemoryStore,
    stages: FakeStageFactory,
    verses: Verses,
    clock: Clock,
    vote_seconds: int,
    owns_guild: Callable[[int], bool] = lambda guild_id: True,
) -> World:
    settings = Settings(
        battle_rounds=1,
        battle_pace=Pace(0.0),
        vote_seconds=vote_seconds,
        battle_cooldown_seconds=COOLDOWN,
        max_battles_per_server=3,
    )
    arena = Arena(
        settings,
        store,
        verses,
        StandingsService(store),
        stages,
        owns_guild,
        clock=clock,
        rng=random.Random(8),
    )
    return World(arena, store, stages, verses, clock)


MakeWorld = Callable[..., World]


@pytest.fixture
async def make_world() -> AsyncIterator[MakeWorld]:
    """Worlds whose votes last ``vote_seconds`` of real time (0: they close as soon as they open,
    the deadline being already past); every arena made is shut down afterwards."""
    made: list[World] = []

    def make(vote_seconds: int = 60, owns_guild: Callable[[int], bool] = lambda g: True) -> World:
        world = _world(
            MemoryStore(), FakeStageFactory(), Verses(), Clock(), vote_seconds, owns_guild
        )
        made.append(world)
        return world

    yield make
    for world in made:
        await world.arena.shutdown()


@pytest.fixture
def world(make_world: MakeWorld) -> World:
    return make_world()


async def outcome(session: BattleSession):
    return await asyncio.wait_for(session.outcome(), PROMPTLY)


async def until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(PROMPTLY):
        while not condition():
            await asyncio.sleep(0)


async def open_vote(
    world: World, channel_id: int = CHANNEL, starter_id: int = ALICE
) -> tuple[BattleSession, int]:
    """A battle started and its verses done: its vote is open; returns the vote message id."""
    session = await world.start(channel_id, starter_id)
    vote = await world.stage(channel_id).wait_for(PostKind.VOTE)
    assert vote.message_id is not None
    await until(lambda: vote.message_id in world.arena.votes)
    await until(lambda: channel_id not in world.arena.battles)
    return session, vote.message_id


def shown(stage: RecordingBattleStage) -> list[PostKind]:
    """What the channel showed, without the typing shown while a model writes (its timing
    depends on how soon a verse arrives)."""
    return [post.kind for post in stage.posts if post.kind is not PostKind.WRITING]


# Start checks


async def test_missing_permissions_are_named_and_nothing_starts(world):
    with pytest.raises(
        UserError, match="permissions in this channel: Send Messages, Add Reactions"
    ):
        await world.start(missing=("Send Messages", "Add Reactions"))
    assert await world.store.recent_battles(GUILD) == []
    assert world.stage().posts == [] and world.arena.battles == {}


async def test_only_models_the_server_allows_may_battle(world):
    await world.store.save_server_settings(GUILD, ServerSettings(allowed_models=("m/a", "m/c")))
    with pytest.raises(UserError, match="`m/b` is not allowed on this server"):
        await world.start(battle=Battle("m/a", "m/b", rounds=1))
    await world.start(battle=Battle("m/c", "m/a", rounds=1))
    await world.start(OTHER_CHANNEL, BOB, OTHER_GUILD, Battle("m/a", "m/b", rounds=1))


async def test_one_battle_per_channel(world):
    world.verses.held.add("m/a")
    await world.start()
    with pytest.raises(UserError, match="already running in this channel"):
        await world.start(starter_id=BOB)
    await world.start(OTHER_CHANNEL, BOB)  # another channel is free


async def test_two_starts_racing_in_one_channel_start_once(world):
    world.verses.held.add("m/a")
    results = await asyncio.gather(
        world.start(starter_id=ALICE), world.start(starter_id=BOB), return_exceptions=True
    )
    started = [r for r in results if isinstance(r, BattleSession)]
    refused = [r for r in results if isinstance(r, UserError)]
    assert len(started) == 1 and len(refused) == 1, results
    assert "already running in this channel" in str(refused[0])
    assert len(await world.store.recent_battles(GUILD)) == 1
    assert len(world.stage().of_kind(PostKind.TITLE_CARD)) <= 1


async def test_the_server_cap_counts_battles_still_starting(world):
    await world.store.save_server_settings(GUILD, ServerSettings(max_battles=2))
    world.verses.held.add("m/a")
    # All three pass the channel check together; while the first two are still being stored,
    # only the battles "starting" keep the third from going over the cap.
    results = await asyncio.gather(
        world.start(CHANNEL, ALICE),
        world.start(OTHER_CHANNEL, BOB),
        world.start(THIRD_CHANNEL, MOD),
        return_exceptions=True,
    )
    refused = [r for r in results if isinstance(r, UserError)]
    assert [str(r) for r in refused] == [
        "This server already has 2 battles running, the most it allows. Try again when one ends."
    ]
    assert len(world.arena.battles) == 2
    await world.start(THIRD_CHANNEL, MOD, OTHER_GUILD)  # another server has its own cap


async def test_a_battle_ending_frees_its_place_under_the_cap(world):
    await world.store.save_server_settings(GUILD, ServerSettings(max_battles=1))
    world.verses.held.add("m/a")
    session = await world.start(CHANNEL, ALICE)
    with pytest.raises(UserError, match="already has 1 battles running"):
        await world.start(OTHER_CHANNEL, BOB)
    world.arena.stop(CHANNEL, ALICE, "Alice", may_manage=False)
    assert (await outcome(session)).state is BattleState.STOPPED
    await world.start(OTHER_CHANNEL, BOB)


async def test_the_cooldown_names_when_the_starter_may_start_again(world):
    started_at = world.clock.now
    await world.start(CHANNEL, ALICE)
    world.clock.now += 10
    ready_at = int(started_at + COOLDOWN) + 1
    with pytest.raises(UserError, match=rf"^You can start another battle <t:{ready_at}:R>\.$"):
        await world.start(OTHER_CHANNEL, ALICE)
    await world.start(THIRD_CHANNEL, BOB)  # the cooldown is each starter's own
    world.clock.now = started_at + COOLDOWN
    await world.start(OTHER_CHANNEL, ALICE)


async def test_the_cooldown_is_per_server_and_can_be_turned_off(world):
    await world.start(CHANNEL, ALICE)
    await world.start(OTHER_CHANNEL, ALICE, OTHER_GUILD)
    await world.store.save_server_settings(GUILD, ServerSettings(cooldown_seconds=0.0))
    await world.start(THIRD_CHANNEL, ALICE)


async def test_one_starter_starting_in_two_channels_at_once_starts_one(world):
    results = await asyncio.gather(
        world.start(CHANNEL, ALICE), world.start(OTHER_CHANNEL, ALICE), return_exceptions=True
    )
    assert sum(isinstance(r, BattleSession) for r in results) == 1
    [refused] = [r for r in results if isinstance(r, UserError)]
    assert str(refused) == "You are already starting a battle. Wait a moment."
    assert len(await world.store.recent_battles(GUILD)) == 1


# Stopping


async def test_only_the_starter_or_a_manager_may_stop(world):
    with pytest.raises(UserError, match="No battle is running in this channel"):
        world.arena.stop(CHANNEL, ALICE, "Alice", may_manage=False)
    world.verses.held.add("m/a")
    session = await world.start(CHANNEL, ALICE)
    with pytest.raises(UserError, match="Only the battle's starter or someone with Manage Server"):
        world.arena.stop(CHANNEL, BOB, "Bob", may_manage=False)
    assert not session.task.done()
    assert world.arena.stop(CHANNEL, MOD, "Mod", may_manage=True) == "Stopping the battle."
    result = await outcome(session)
    assert (result.state, result.stored.reason, result.tally) == (
        BattleState.STOPPED,
        "stopped by Mod",
        None,
    )


async def test_a_stop_during_the_verses_ends_the_battle_with_a_notice(world):
    world.verses.held.add("m/b")  # A's verse is posted, B's is still being written
    session = await world.start(CHANNEL, ALICE)
    await world.stage().wait_for(PostKind.VERSE)
    await until(lambda: world.stage().of_kind(PostKind.WRITING)[-1].content == "m/b")
    assert world.arena.stop(CHANNEL, ALICE, "Alice", may_manage=False) == "Stopping the battle."
    result = await outcome(session)
    assert result.state is BattleState.STOPPED
    stage = world.stage()
    assert shown(stage) == [PostKind.TITLE_CARD, PostKind.VERSE, PostKind.NOTICE]
    assert stage.notices == ["⏹️ Battle stopped by Alice. No contest."]
    assert [t.speaker for t in await world.store.turns(session.stored.id)] == ["m/a"]
    assert world.arena.battles == {} and world.arena.votes == {}
    await world.start(CHANNEL, BOB)  # the channel is free again


async def test_a_stop_during_the_vote_closes_it_now(world):
    session, message_id = await open_vote(world)
    stage = world.stage()
    stage.react(message_id, Side.A, Voter(1))
    stage.react(message_id, Side.A, Voter(2))
    stage.react(message_id, Side.B, Voter(3))
    stage.react(message_id, Side.B, Voter(99, is_bot=True))  # bots never count
    with pytest.raises(UserError, match="Only the battle's starter"):
        world.arena.stop(CHANNEL, BOB, "Bob", may_manage=False)
    assert world.arena.stop(CHANNEL, ALICE, "Alice", may_manage=False) == "Closing the vote now."
    result = await outcome(session)  # long before its 60 s are up
    assert result.state is BattleState.CLOSED
    assert result.tally == Tally({1: Side.A, 2: Side.A, 3: Side.B})
    assert (result.stored.votes_a, result.stored.votes_b) == (2, 1)
    [results] = stage.of_kind(PostKind.RESULTS)
    assert results.content[0] == result.tally
    assert result.stored.results_message_id == results.message_id
    assert world.arena.votes == {}


async def test_a_stop_while_the_vote_is_being_posted_closes_it_as_soon_as_it_opens(world):
    session = await world.start()
    await world.stage().wait_for(PostKind.VOTE)
    # The verses are done and the vote is on screen, but not yet stored and open: a stop now
    # must not be lost (it would leave the vote open for its whole time).
    assert world.arena.stop(CHANNEL, ALICE, "Alice", may_manage=False)
    result = await outcome(session)
    assert result.state is BattleState.CLOSED
    assert shown(world.stage())[-2:] == [PostKind.RECOUNT, PostKind.RESULTS]


async def test_a_stop_just_after_the_vote_opens_closes_it(world):
    session = await world.start()
    # For a moment the vote is open while its battle is still registered in the channel.
    await until(
        lambda: (
            bool(world.arena.votes)
            and any(s.place_id == CHANNEL for s in world.arena.battles.values())
        )
    )
    assert world.arena.stop(CHANNEL, ALICE, "Alice", may_manage=False) == "Closing the vote now."
    assert (await outcome(session)).state is BattleState.CLOSED


# Awaiting a battle's outcome


async def test_the_outcome_is_the_closed_vote_with_its_tally(make_world):
    world = make_world(vote_seconds=0)
    world.stage().next_vote_reactions = {Side.A: [Voter(1)], Side.B: [Voter(2), Voter(3)]}
    session = await world.start()
    result = await outcome(session)
    assert result.state is BattleState.CLOSED
    assert result.tally == Tally({1: Side.A, 2: Side.B, 3: Side.B})
    assert await world.store.ballots(session.stored.id) == {1: Side.A, 2: Side.B, 3: Side.B}
    assert shown(world.stage()) == [
        PostKind.TITLE_CARD,
        PostKind.VERSE,
        PostKind.VERSE,
        PostKind.VOTE,
        PostKind.RECOUNT,
        PostKind.RESULTS,
    ]
    assert [t.speaker for t in await world.store.turns(session.stored.id)] == ["m/a", "m/b"]
    records = await world.store.model_records(GUILD)
    assert (records["m/b"].wins, records["m/a"].losses) == (1, 1)


async def test_a_failing_model_is_a_no_contest(world):
    world.verses.failing["m/b"] = "the provider is out of credits"
    session = await world.start()
    result = await outcome(session)
    assert result.state is BattleState.NO_CONTEST and result.tally is None
    assert result.stored.reason == "m/b: the provider is out of credits (402)"
    assert world.stage().notices == [
        "⚠️ No contest, nothing is rated: m/b: the provider is out of credits (402)"
    ]
    assert world.stage().of_kind(PostKind.VOTE) == []


async def test_a_channel_lost_mid_battle_is_a_no_contest(world):
    world.stage().refuse(from_kind=PostKind.VERSE)
    result = await outcome(await world.start())
    assert (result.state, result.stored.reason) == (BattleState.NO_CONTEST, LOST_CHANNEL_REASON)
    assert world.stage().refused == [PostKind.VERSE]


async def test_a_crashed_battle_is_a_no_contest_with_a_notice(world):
    world.stage().fail(RuntimeError("a bug"), kinds=[PostKind.TITLE_CARD])
    result = await outcome(await world.start())
    assert (result.state, result.stored.reason) == (BattleState.NO_CONTEST, "internal error")
    assert world.stage().notices == ["⚠️ Something went wrong on our side. No contest."]


# Closing the vote


async def test_the_recount_counts_votes_the_live_count_missed(world):
    session, message_id = await open_vote(world)
    world.arena.reaction(message_id, A_EMOJI, Voter(1), added=True)
    world.stage().react(message_id, Side.B, Voter(1))  # Voter 1 changed their mind offline
    world.stage().react(message_id, Side.B, Voter(2))
    world.arena.stop(CHANNEL, ALICE, "Alice", may_manage=False)
    assert (await outcome(session)).tally == Tally({1: Side.B, 2: Side.B})


async def test_the_live_count_stands_in_when_the_recount_fails(world):
    session, message_id = await open_vote(world)
    world.stage().fail(StageError("Discord failed: 503"), kinds=[PostKind.RECOUNT])
    world.stage().react(message_id, Side.B, Voter(9))  # not readable: the recount fails
    world.arena.reaction(message_id, A_EMOJI, Voter(1), added=True)
    world.arena.reaction(message_id, A_EMOJI + "\ufe0f", Voter(2), added=True)
    world.arena.reaction(message_id, B_EMOJI, Voter(3), added=True)
    world.arena.reaction(message_id, B_EMOJI, Voter(3), added=False)
    world.arena.reaction(message_id, B_EMOJI, Voter(4, is_bot=True), added=True)
    world.arena.reaction(message_id, "🔥", Voter(5), added=True)
    world.arena.stop(CHANNEL, ALICE, "Alice", may_manage=False)
    result = await outcome(session)
    assert result.state is BattleState.CLOSED
    assert result.tally == Tally({1: Side.A, 2: Side.A})
    assert world.stage().refused == [PostKind.RECOUNT]


async def test_results_the_channel_refuses_wait_for_access_to_come_back(make_world):
    world = make_world(vote_seconds=0)
    world.stage().next_vote_reactions = {Side.A: [Voter(1)]}
    world.stage().refuse(from_kind=PostKind.RESULTS)
    session = await world.start()
    result = await outcome(session)
    assert result.state is BattleState.CLOSED and result.tally == Tally({1: Side.A})
    assert result.stored.reason is None  # a 403 may be undone: not given up on
    assert result.stored.results_message_id is None
    assert [b.id for b in await world.store.unannounced_results()] == [result.stored.id]
    assert world.stage().refused == [PostKind.RESULTS]


async def test_results_that_fail_for_a_while_are_left_for_the_next_start(make_world):
    world = make_world(vote_seconds=0)
    world.stage().fail(StageError("Discord failed: 503"), kinds=[PostKind.RESULTS])
    session = await world.start()
    result = await outcome(session)
    assert result.state is BattleState.CLOSED and result.stored.reason is None
    assert [b.id for b in await world.store.unannounced_results()] == [session.stored.id]


async def test_a_crashed_vote_is_a_no_contest_with_a_notice(world):
    session, _ = await open_vote(world)
    world.stage().fail(RuntimeError("a bug in the count"), kinds=[PostKind.RECOUNT])
    world.arena.stop(CHANNEL, ALICE, "Alice", may_manage=False)
    result = await outcome(session)
    assert (result.state, result.stored.reason) == (BattleState.NO_CONTEST, VOTE_FAILED_REASON)
    assert world.stage().notices == [
        f"⚠️ The vote on battle #{session.stored.id} failed on our side; "
        "its votes were not counted. No contest."
    ]
    assert await world.store.ballots(session.stored.id) == {}
    assert world.arena.votes == {}


# Recovery after a restart


async def stored_battle(
    world: World,
    state: BattleState,
    channel_id: int = CHANNEL,
    guild_id: int = GUILD,
    closes_in: float = -1.0,
    ballots: dict[int, Side] | None = None,
) -> StoredBattle:
    """A battle left in ``state`` by a process that is gone; its vote closes ``closes_in``
    seconds from now (by the test's clock)."""
    store = world.store
    created = await store.create_battle(
        NewBattle(guild_id, channel_id, ALICE, Battle("m/a", "m/b", rounds=1)), world.clock()
    )
    if state is not BattleState.RUNNING:
        vote = await world.stages.stage_for(channel_id).post_vote(
            created.battle, DEFAULT_EMOJI, world.clock() + closes_in
        )
        for user, side in (ballots or {}).items():
            world.stages.stage_for(channel_id).react(vote, side, Voter(user))
        await store.open_voting(created.id, vote, world.clock() + closes_in, DEFAULT_EMOJI)
    if state is BattleState.CLOSED:
        await store.close_voting(created.id, Tally(ballots or {}), world.clock())
    stored = await store.battle(created.id)
    assert stored is not None and stored.state is state
    return stored


async def test_recovery_ends_running_battles_as_interrupted_with_a_notice(world):
    running = await stored_battle(world, BattleState.RUNNING)
    await world.arena.recover()
    stored = await world.store.battle(running.id)
    assert (stored.state, stored.reason) == (BattleState.INTERRUPTED, INTERRUPTED_REASON)
    assert world.stage().notices == [
        f"Battle #{running.id} was interrupted: {INTERRUPTED_REASON}. No contest."
    ]


async def test_recovery_closes_open_votes_at_their_stored_deadlines(world):
    overdue = await stored_battle(world, BattleState.VOTING, ballots={1: Side.B})
    later = await stored_battle(world, BattleState.VOTING, OTHER_CHANNEL, closes_in=0.3)
    overdue_outcome, later_outcome = world.arena.outcome(overdue.id), world.arena.outcome(later.id)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await world.arena.recover()
    result = await asyncio.wait_for(overdue_outcome, PROMPTLY)
    assert result.state is BattleState.CLOSED and result.tally == Tally({1: Side.B})
    assert loop.time() - started < 0.25
    assert (await world.store.battle(later.id)).state is BattleState.VOTING
    assert (await asyncio.wait_for(later_outcome, PROMPTLY)).state is BattleState.CLOSED
    assert loop.time() - started >= 0.28
    assert len(world.stage(OTHER_CHANNEL).of_kind(PostKind.RESULTS)) == 1


async def test_recovery_posts_results_that_were_never_announced(world):
    closed = await stored_battle(world, BattleState.CLOSED, ballots={1: Side.A, 2: Side.B})
    await world.arena.recover()
    [results] = world.stage().of_kind(PostKind.RESULTS)
    assert results.content[0] == Tally({1: Side.A, 2: Side.B})
    assert (await world.store.battle(closed.id)).results_message_id == results.message_id
    assert await world.store.unannounced_results() == []


async def test_a_refusing_channel_at_recovery_blocks_no_other_channel(world):
    refused = await stored_battle(world, BattleState.CLOSED, CHANNEL, ballots={1: Side.A})
    announced = await stored_battle(world, BattleState.CLOSED, OTHER_CHANNEL, ballots={2: Side.B})
    broken = await stored_battle(world, BattleState.RUNNING, THIRD_CHANNEL)
    running = await stored_battle(world, BattleState.RUNNING, OTHER_CHANNEL)
    world.stage(CHANNEL).refuse()
    # Not a refusal: a bug while telling the channel, which recovery must survive all the same.
    world.stage(THIRD_CHANNEL).fail(RuntimeError("a bug"), kinds=[PostKind.NOTICE])
    await world.arena.recover()
    assert (await world.store.battle(refused.id)).reason is None  # kept for access to return
    assert (await world.store.battle(announced.id)).results_message_id is not None
    assert (await world.store.battle(broken.id)).state is BattleState.INTERRUPTED
    assert (await world.store.battle(running.id)).state is BattleState.INTERRUPTED
    assert world.stage(OTHER_CHANNEL).notices == [
        f"Battle #{running.id} was interrupted: {INTERRUPTED_REASON}. No contest."
    ]
    assert [b.id for b in await world.store.unannounced_results()] == [refused.id]


async def test_recovery_only_touches_the_guilds_this_process_owns(world):
    theirs = [
        await stored_battle(world, state, OTHER_CHANNEL, OTHER_GUILD, ballots={1: Side.A})
        for state in (BattleState.RUNNING, BattleState.VOTING, BattleState.CLOSED)
    ]
    ours = await stored_battle(world, BattleState.RUNNING)
    posted_before = list(world.stage(OTHER_CHANNEL).posts)
    restarted = world.restart(owns_guild=lambda guild_id: guild_id == GUILD)
    await restarted.arena.recover()
    await asyncio.sleep(0.05)  # an overdue vote, had it been opened, would have closed by now
    for stored in theirs:
        assert await world.store.battle(stored.id) == stored
    assert world.stage(OTHER_CHANNEL).posts == posted_before
    assert restarted.arena.votes == {}
    assert (await world.store.battle(ours.id)).state is BattleState.INTERRUPTED
    await restarted.arena.shutdown()


# Shutdown


async def test_shutdown_interrupts_battles_and_leaves_votes_open_for_the_next_start(world):
    world.verses.held.add("m/slow")
    held = await world.start(CHANNEL, ALICE, battle=Battle("m/slow", "m/b", rounds=1))
    voting, message_id = await open_vote(world, OTHER_CHANNEL, BOB)
    world.stage(OTHER_CHANNEL).react(message_id, Side.A, Voter(1))
    held_outcome = world.arena.outcome(held.stored.id)
    await world.arena.shutdown()

    interrupted = await world.store.battle(held.stored.id)
    assert (interrupted.state, interrupted.reason) == (BattleState.INTERRUPTED, SHUTDOWN_REASON)
    assert world.stage(CHANNEL).notices == [
        f"Battle #{held.stored.id} was interrupted: {SHUTDOWN_REASON}. No contest."
    ]
    assert held_outcome.result().state is BattleState.INTERRUPTED
    assert (await world.store.battle(voting.stored.id)).state is BattleState.VOTING
    assert world.stage(OTHER_CHANNEL).of_kind(PostKind.RESULTS) == []
    assert world.arena.battles == {} and world.arena.votes == {}

    world.clock.now += 3600  # the vote's deadline passed while the bot was down
    restarted = world.restart()
    closed = restarted.arena.outcome(voting.stored.id)
    await restarted.arena.recover()
    result = await asyncio.wait_for(closed, PROMPTLY)
    assert result.state is BattleState.CLOSED and result.tally == Tally({1: Side.A})
    assert (await world.store.battle(held.stored.id)).state is BattleState.INTERRUPTED
    await restarted.arena.shutdown()


# House rules at the count


def snowflake_made_at(seconds: float) -> int:
    """A Discord id made at ``seconds`` (Unix time): what an account's age is read from."""
    return (int(seconds * 1000) - DISCORD_EPOCH_MS) << 22


async def test_a_blind_battle_whose_verse_names_its_model_is_voted_but_not_rated(make_world):
    world = make_world(vote_seconds=0)
    world.stage().next_vote_reactions = {Side.A: [Voter(1), Voter(2)], Side.B: [Voter(3)]}
    # The fake models' verses say their own ids ("m/a drops verse 1").
    session = await world.start(battle=Battle("m/a", "m/b", rounds=1, blind=True))
    result = await outcome(session)
    assert result.state is BattleState.CLOSED and result.tally.total == 3
    assert result.stored.unrated_reason is not None and "'m/a'" in result.stored.unrated_reason
    assert (result.stored.votes_a, result.stored.votes_b) in ((2, 1), (1, 2))  # sides drawn
    assert len(await world.store.ballots(session.stored.id)) == 3
    assert await world.store.model_records(GUILD) == {}
    assert await world.store.pair_records(GUILD) == []
    [results] = world.stage().of_kind(PostKind.RESULTS)
    assert results.content[1] == ()  # no rating changes shown
    [notes] = world.stage().result_notes
    assert notes[0].startswith("Not rated: a verse named its own model or vendor (MC A said")


async def test_an_open_battle_naming_its_models_is_rated(make_world):
    world = make_world(vote_seconds=0)
    world.stage().next_vote_reactions = {Side.A: [Voter(1)]}
    result = await outcome(await world.start(battle=Battle("m/a", "m/b", rounds=1)))
    assert result.stored.rated and result.stored.unrated_reason is None
    assert (await world.store.model_records(GUILD))["m/a"].wins == 1
    assert world.stage().result_notes == [()]


async def test_votes_from_accounts_younger_than_the_minimum_are_set_aside(make_world):
    world = make_world(vote_seconds=0)
    await world.store.save_server_settings(GUILD, ServerSettings(min_account_age_days=7))
    day = 86_400
    fresh = snowflake_made_at(world.clock.now - 6 * day)  # six days old: too young
    newborn = snowflake_made_at(world.clock.now - 60)
    veteran = snowflake_made_at(world.clock.now - 8 * day)
    world.stage().next_vote_reactions = {
        Side.A: [Voter(fresh), Voter(newborn)],
        Side.B: [Voter(veteran)],
    }
    result = await outcome(await world.start())
    assert result.tally == Tally({veteran: Side.B})
    assert (result.stored.votes_a, result.stored.votes_b) == (0, 1)
    assert result.stored.votes_set_aside == 2
    assert await world.store.ballots(result.stored.id) == {veteran: Side.B}
    assert (await world.store.model_records(GUILD))["m/b"].wins == 1
    [notes] = world.stage().result_notes
    assert notes == (
        "2 votes were set aside: this server counts votes from accounts at least 7 days old.",
    )


async def test_every_account_counts_by_default(make_world):
    world = make_world(vote_seconds=0)
    newborn = snowflake_made_at(world.clock.now - 1)
    world.stage().next_vote_reactions = {Side.A: [Voter(newborn)]}
    result = await outcome(await world.start())
    assert result.tally == Tally({newborn: Side.A}) and result.stored.votes_set_aside == 0
    assert world.stage().result_notes == [()]


async def test_results_posted_after_a_restart_still_say_what_the_house_rules_did(world):
    voting = await stored_battle(world, BattleState.VOTING, ballots={1: Side.A})
    await world.store.set_unrated(voting.id, "MC B said 'Grok'")
    await world.store.close_voting(voting.id, Tally({1: Side.A}), world.clock(), set_aside=1)
    await world.arena.recover()
    [notes] = world.stage().result_notes
    assert notes == (
        "Not rated: MC B said 'Grok'.",
        "1 vote was set aside: they came from accounts younger than this server allows.",
    )


async def test_recovery_leaves_alone_a_battle_started_before_it_ran(make_world):
    """A /battle can arrive just after start-up, before the recovery pass: that battle is this
    process's own, not one cut off by a restart."""
    world = make_world(vote_seconds=0)
    world.clock.now += 1  # the battle starts after the process did
    session = await world.start()
    await world.stage().wait_for(PostKind.TITLE_CARD)
    await world.arena.recover()
    result = await outcome(session)
    assert result.state is BattleState.CLOSED
    assert PostKind.NOTICE not in shown(world.stage())


# Killed between a post and its record (found by benchmarks/chaos.py): the restart posts under
# the same key, which the stage (Discord, through a nonce) shows as the first post, not a second.


async def test_a_battle_whose_verses_were_all_shown_is_voted_on_after_a_restart(world):
    running = await stored_battle(world, BattleState.RUNNING)
    for position, slot in enumerate(running.battle.plan()):
        turn = running.battle.turn(slot, f"verse {position}")
        await world.store.add_turn(running.id, position, turn)
    stage = world.stage()
    # The vote was shown, and its votes cast, before the process died without recording it.
    shown_vote = await stage.post_vote(
        running.battle, DEFAULT_EMOJI, world.clock() + 60, key=battle_post(running, "vote")
    )
    stage.react(shown_vote, Side.B, Voter(BOB))
    result = world.arena.outcome(running.id)
    await world.arena.recover()
    stored = await world.store.battle(running.id)
    assert stored.state is BattleState.VOTING and stored.vote_message_id == shown_vote
    assert len(stage.of_kind(PostKind.VOTE)) == 1 and stage.notices == []
    world.arena.stop(CHANNEL, ALICE, "alice", may_manage=False)
    assert (await asyncio.wait_for(result, PROMPTLY)).tally == Tally({BOB: Side.B})


async def test_an_interrupted_battle_told_before_the_kill_is_not_told_again(world):
    running = await stored_battle(world, BattleState.RUNNING)
    told = f"Battle #{running.id} was interrupted: {INTERRUPTED_REASON}. No contest."
    await world.stage().post_notice(told, key=battle_post(running, ENDING))
    await world.arena.recover()
    assert (await world.store.battle(running.id)).state is BattleState.INTERRUPTED
    assert world.stage().notices == [told]


async def test_results_posted_before_the_kill_are_recorded_not_posted_again(world):
    closed = await stored_battle(world, BattleState.CLOSED, ballots={1: Side.A})
    stage = world.stage()
    posted = await stage.post_results(
        closed.battle, DEFAULT_EMOJI, Tally({1: Side.A}), key=battle_post(closed, "results")
    )
    await world.arena.recover()
    assert len(stage.of_kind(PostKind.RESULTS)) == 1
    assert (await world.store.battle(closed.id)).results_message_id == posted


async def test_a_battle_says_how_it_ended_before_it_records_it(world):
    """Killed between the two, the restart records it as interrupted, and its own notice, under
    the same key, is no second one; the other way round, the channel would never be told."""
    world.verses.failing["m/b"] = "the provider is out of credits"
    stage = world.stage()
    post_notice, running_when_told = stage.post_notice, []

    async def post_noting(text: str, *, key: str | None = None) -> None:
        running_when_told.append(len(await world.store.battles_in([BattleState.RUNNING])))
        await post_notice(text, key=key)

    stage.post_notice = post_noting  # type: ignore[method-assign]
    result = await outcome(await world.start())
    assert result.state is BattleState.NO_CONTEST and running_when_told == [1]
    assert list(stage.keyed) == [battle_post(result.stored, ENDING)]


async def test_a_battle_whose_vote_cannot_be_posted_after_a_restart_is_interrupted(world):
    running = await stored_battle(world, BattleState.RUNNING)
    for position, slot in enumerate(running.battle.plan()):
        await world.store.add_turn(running.id, position, running.battle.turn(slot, "a verse"))
    world.stage().fail(StageError("Discord failed: 503"), kinds=[PostKind.VOTE])
    await world.arena.recover()
    assert (await world.store.battle(running.id)).state is BattleState.INTERRUPTED
    assert world.stage().notices == [
        f"Battle #{running.id} was interrupted: {INTERRUPTED_REASON}. No contest."
    ]
