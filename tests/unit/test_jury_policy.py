"""The judges in the arena, with no Discord and no database: the in-memory store, recording
stages and a fake panel whose answers the test releases.

Which battles are judged and by whom; the judges starting before the vote opens; the verdict
posted only after the results, and the outcome settling only once the verdict is stored; the
judges' board; and a restart before the verdict (judged again, or posted), posting it once.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from bot.engine.battle import Battle, Side
from bot.engine.house_rules import Pricing
from bot.engine.leaderboard import Board
from bot.engine.pacing import Pace
from bot.engine.server_settings import ServerSettings
from bot.engine.verdicts import Decision, Verdict
from bot.engine.votes import Tally, Voter
from bot.errors import UserError
from bot.llm import Completion, ModelError
from bot.services.battles.arena import Arena, BattleOutcome, BattleRequest
from bot.services.battles.sessions import BattleSession
from bot.services.battles.standings import StandingsService
from bot.services.judging.factory import PanelFactory
from bot.services.stage import StageError
from bot.settings import Settings
from bot.store import BattleState, NewBattle
from bot.store.verdicts import VerdictState, VerdictStatus
from tests.fakes.memory_store import MemoryStore
from tests.fakes.stages import FakeStageFactory, PostKind
from tests.unit.test_arena_policy import Clock, Verses

GUILD, CHANNEL, ALICE = 1, 10, 100
PANEL = ("j1/judge", "j2/judge", "j3/judge")
PROMPTLY = 2.0


@dataclass
class Panel:
    """An AnswerSource for judges: each judge names side A, side B or nothing (abstains), and
    answers only once ``release`` is set."""

    picks: dict[str, Side | None] = field(default_factory=dict)  # default: side A
    release: asyncio.Event = field(default_factory=asyncio.Event)
    asked: list[tuple[str, list[Any]]] = field(default_factory=list)

    async def complete(
        self,
        model: str,
        messages: Sequence[Any],
        *,
        response_format: Mapping[str, Any] | None = None,
    ) -> Completion:
        self.asked.append((model, list(messages)))
        await self.release.wait()
        assert response_format is not None
        names = response_format["json_schema"]["schema"]["properties"]["winner"]["enum"]
        pick = self.picks.get(model, Side.A)
        if pick is None:
            raise ModelError(model, "the provider is down", status=503)
        answer = {"winner": names[0 if pick is Side.A else 1], "closing_statement": f"{model} says"}
        return Completion(json.dumps(answer), prompt_tokens=100, completion_tokens=20)

    @property
    def judges_asked(self) -> list[str]:
        return [model for model, _ in self.asked]


@dataclass
class World:
    arena: Arena
    store: MemoryStore
    stages: FakeStageFactory
    panel: Panel
    clock: Clock

    @property
    def stage(self):
        return self.stages.stage_for(CHANNEL)

    async def start(self, battle: Battle | None = None, judges: bool | None = True):
        request = BattleRequest(GUILD, CHANNEL, ALICE, "<@100>", judges=judges)
        return await self.arena.start(request, battle or Battle("m/a", "n/b", rounds=1))

    def restart(self, panel: Panel | None = None) -> World:
        return make(self.store, self.stages, panel or self.panel, self.clock)


def make(
    store: MemoryStore,
    stages: FakeStageFactory,
    panel: Panel,
    clock: Clock,
    prices: Mapping[str, Pricing] | None = None,
) -> World:
    settings = Settings(
        battle_rounds=1, battle_pace=Pace(0.0), vote_seconds=60, battle_cooldown_seconds=0
    )

    async def resolve(name: str) -> str:
        return name

    arena = Arena(
        settings,
        store,
        Verses(),
        StandingsService(store),
        stages,
        clock=clock,
        rng=random.Random(3),
        judges=PanelFactory(panel, resolve, PANEL),
        prices=lambda *ids: {i: (prices or {})[i] for i in ids if i in (prices or {})},
    )
    return World(arena, store, stages, panel, clock)


@pytest.fixture
async def worlds() -> AsyncIterator[list[World]]:
    made: list[World] = []
    yield made
    for world in made:
        await world.arena.shutdown()


@pytest.fixture
def world(worlds: list[World]) -> World:
    made = make(MemoryStore(), FakeStageFactory(), Panel(), Clock())
    worlds.append(made)
    return made


async def until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(PROMPTLY):
        while not condition():
            await asyncio.sleep(0)


async def vote_and_close(world: World, session: BattleSession, *sides: Side) -> None:
    """The crowd votes (one voter per side given) and the vote is closed early."""
    async with asyncio.timeout(PROMPTLY):
        while (stored := await world.store.battle(session.stored.id)).vote_message_id is None:
            await asyncio.sleep(0)
    message_id = stored.vote_message_id
    for voter, side in enumerate(sides):
        world.stage.react(message_id, side, Voter(1000 + voter, False))
    await until(lambda: message_id in world.arena.votes)
    world.arena.stop(CHANNEL, ALICE, "alice", may_manage=True)


async def test_the_panel_judges_while_the_crowd_votes_and_posts_after_the_results(world):
    session = await world.start()
    await world.stage.wait_for(PostKind.VOTE)
    # Every judge was asked before the vote closed, all at once.
    await until(lambda: len(world.panel.asked) == len(PANEL))
    assert sorted(world.panel.judges_asked) == sorted(PANEL)
    transcript = world.panel.asked[0][1][1]["content"]
    assert transcript.startswith("# m/a v n/b")

    await vote_and_close(world, session, Side.B, Side.B, Side.A)
    await world.stage.wait_for(PostKind.RESULTS)
    await asyncio.sleep(0.05)
    # The results are out; the judges have not answered, so nothing settles and nothing shows.
    assert PostKind.VERDICT not in [post.kind for post in world.stage.posts]
    outcome_task = asyncio.create_task(session.outcome())
    await asyncio.sleep(0.05)
    assert not outcome_task.done()
    assert await world.store.stored_verdict(session.stored.id) is None

    world.panel.release.set()
    outcome: BattleOutcome = await asyncio.wait_for(outcome_task, PROMPTLY)
    kinds = [post.kind for post in world.stage.posts if post.kind is not PostKind.WRITING]
    assert kinds[-3:] == [PostKind.RECOUNT, PostKind.RESULTS, PostKind.VERDICT]
    assert outcome.tally is not None and outcome.tally.winner is Side.B
    assert outcome.verdict is not None and outcome.verdict.votes(Side.A) == 3
    assert outcome.verdict == await world.store.stored_verdict(session.stored.id)
    posted, crowd = world.stage.of_kind(PostKind.VERDICT)[0].content  # type: ignore[misc]
    assert posted == outcome.verdict and crowd.winner is Side.B
    status = await world.store.verdict_status(session.stored.id)
    assert status == VerdictStatus(
        VerdictState.POSTED, world.stage.of_kind(PostKind.VERDICT)[0].message_id
    )
    # The judges' board rates the battle: side A took every judge.
    judges_board = await world.arena.standings.standings(GUILD, Board.JUDGES)
    assert [row.model for row in judges_board] == ["m/a", "n/b"]
    assert judges_board[0].record.votes == 3
    crowd_board = await world.arena.standings.standings(GUILD)
    assert crowd_board[0].model == "n/b"


async def test_which_battles_are_judged(world):
    await world.store.save_server_settings(GUILD, ServerSettings(judges=True))
    off = await world.start(judges=False)
    world.panel.release.set()
    await vote_and_close(world, off)
    outcome = await asyncio.wait_for(off.outcome(), PROMPTLY)
    assert outcome.verdict is None and world.panel.asked == []
    assert await world.store.verdict_status(off.stored.id) is None

    by_setting = await world.start(judges=None)
    await vote_and_close(world, by_setting, Side.A)
    outcome = await asyncio.wait_for(by_setting.outcome(), PROMPTLY)
    assert outcome.verdict is not None and len(outcome.verdict.ballots) == len(PANEL)


async def test_a_servers_own_panel_with_recusal(world):
    await world.store.save_server_settings(
        GUILD, ServerSettings(judge_models=("m/judge", "x/judge", "n/judge"), judge_recusal=True)
    )
    world.panel.release.set()
    session = await world.start()
    await vote_and_close(world, session, Side.A)
    outcome = await asyncio.wait_for(session.outcome(), PROMPTLY)
    assert world.panel.judges_asked == ["x/judge"]  # the contestants' labs sit it out
    assert outcome.verdict is not None and [b.judge for b in outcome.verdict.ballots] == ["x/judge"]

    await world.store.save_server_settings(
        GUILD, ServerSettings(judge_models=("m/judge", "x/judge"))
    )
    marked = await world.start()
    await vote_and_close(world, marked, Side.A)
    verdict = (await asyncio.wait_for(marked.outcome(), PROMPTLY)).verdict
    assert verdict is not None
    assert [(b.judge, b.same_vendor) for b in verdict.ballots] == [
        ("m/judge", True),
        ("x/judge", False),
    ]


async def test_a_battle_every_judge_abstained_on_says_so_and_is_not_rated(world):
    world.panel.picks = {judge: None for judge in PANEL}
    world.panel.release.set()
    session = await world.start()
    await vote_and_close(world, session, Side.A)
    outcome = await asyncio.wait_for(session.outcome(), PROMPTLY)
    assert outcome.verdict is not None and outcome.verdict.decision is Decision.NONE
    assert world.stage.of_kind(PostKind.VERDICT)
    assert await world.store.pair_records(GUILD, Board.JUDGES) == []


async def test_a_battle_stopped_mid_verse_is_never_judged(world):
    world.panel.release.set()
    verses = world.arena.models
    assert isinstance(verses, Verses)
    verses.held.add("n/b")
    session = await world.start()
    await until(lambda: "n/b" in verses.requests)
    world.arena.stop(CHANNEL, ALICE, "alice", may_manage=True)
    verses.release.set()
    outcome = await asyncio.wait_for(session.outcome(), PROMPTLY)
    assert outcome.state is BattleState.STOPPED and outcome.verdict is None
    assert world.panel.asked == []
    assert await world.store.unfinished_verdicts() == []


async def test_a_restart_before_the_verdict_judges_again_and_posts_once(world, worlds):
    session = await world.start()
    await vote_and_close(world, session, Side.A)
    await world.stage.wait_for(PostKind.RESULTS)
    await until(lambda: len(world.panel.asked) == len(PANEL))
    async with asyncio.timeout(PROMPTLY):
        while (await world.store.battle(session.stored.id)).results_message_id is None:
            await asyncio.sleep(0)
    await world.arena.shutdown()  # The results are out; the judges never answered.
    assert await world.store.verdict_status(session.stored.id) == VerdictStatus(
        VerdictState.PENDING
    )

    answering = Panel()
    answering.release.set()
    restarted = world.restart(answering)
    worlds.append(restarted)
    outcome = restarted.arena.outcome(session.stored.id)
    await restarted.arena.recover()
    settled = await asyncio.wait_for(outcome, PROMPTLY)
    assert settled.verdict is not None and sorted(answering.judges_asked) == sorted(PANEL)
    # Judged again from the stored turns.
    assert answering.asked[0][1][1]["content"].startswith("# m/a v n/b")
    assert len(world.stage.of_kind(PostKind.VERDICT)) == 1
    assert len(world.stage.of_kind(PostKind.RESULTS)) == 1

    again = world.restart(Panel())
    worlds.append(again)
    await again.arena.recover()
    await asyncio.sleep(0.05)
    assert len(world.stage.of_kind(PostKind.VERDICT)) == 1


async def test_a_stored_verdict_is_posted_after_a_restart_without_judging(world, worlds):
    store = world.store
    stored = await store.create_battle(
        NewBattle(GUILD, CHANNEL, ALICE, Battle("m/a", "n/b", 1)), now=1.0
    )
    await store.mark_judged(stored.id)
    await store.open_voting(stored.id, 77, 2.0, {Side.A: "🅰️", Side.B: "🅱️"})
    await store.close_voting(stored.id, Tally({1: Side.B}), 3.0)
    await store.set_results_message(stored.id, 78)
    verdict = Verdict("m/a", "n/b", ())
    assert await store.store_verdict(stored.id, verdict)

    restarted = world.restart(Panel())
    worlds.append(restarted)
    await restarted.arena.recover()
    await world.stage.wait_for(PostKind.VERDICT)
    assert restarted.panel.asked == []
    await until(lambda: restarted.arena._background == set())
    assert (await store.verdict_status(stored.id)).state is VerdictState.POSTED


async def test_a_channel_that_refuses_the_verdict_keeps_it_for_the_next_start(world, worlds):
    world.stage.refuse(from_kind=PostKind.VERDICT)  # a 403: access may come back
    world.panel.release.set()
    session = await world.start()
    await vote_and_close(world, session, Side.A)
    outcome = await asyncio.wait_for(session.outcome(), PROMPTLY)
    assert outcome.verdict is not None  # stored, even though nobody saw it yet
    status = await world.store.verdict_status(session.stored.id)
    assert status is not None and status.state is VerdictState.STORED
    assert await world.store.unfinished_verdicts() == [(session.stored.id, VerdictState.STORED)]


async def test_a_channel_that_is_gone_stops_the_verdicts_retries(world, worlds):
    world.stage.fail(StageError("Unknown Channel", gone=True), from_kind=PostKind.VERDICT)
    world.panel.release.set()
    session = await world.start()
    await vote_and_close(world, session, Side.A)
    outcome = await asyncio.wait_for(session.outcome(), PROMPTLY)
    assert outcome.verdict is not None  # stored, even though nobody saw it
    status = await world.store.verdict_status(session.stored.id)
    assert status is not None and status.state is VerdictState.UNDELIVERABLE
    assert await world.store.unfinished_verdicts() == []


async def test_asking_for_judges_without_a_panel_is_a_clear_error(world, worlds):
    bare = Arena(
        Settings(battle_pace=Pace(0.0), battle_cooldown_seconds=0),
        world.store,
        Verses(),
        StandingsService(world.store),
        world.stages,
    )
    with pytest.raises(UserError, match="no judges"):
        await bare.start(
            BattleRequest(GUILD, CHANNEL, ALICE, "<@100>", judges=True), Battle("m/a", "n/b")
        )
    await bare.shutdown()


async def test_a_vote_that_crashes_is_not_judged(world):
    world.stage.fail(RuntimeError("recount exploded"), kinds={PostKind.RECOUNT})
    session = await world.start()
    await until(lambda: len(world.panel.asked) == len(PANEL))
    await vote_and_close(world, session, Side.A)
    outcome = await asyncio.wait_for(session.outcome(), PROMPTLY)
    assert outcome.state is BattleState.NO_CONTEST and outcome.verdict is None
    world.panel.release.set()
    await asyncio.sleep(0.05)
    assert world.stage.of_kind(PostKind.VERDICT) == []
    assert await world.store.stored_verdict(session.stored.id) is None
    assert await world.store.unfinished_verdicts() == []


async def test_each_judge_is_priced_at_the_catalogs_prices_and_counted_in_spend(worlds):
    price = Pricing(0.001, 0.002)
    world = make(MemoryStore(), FakeStageFactory(), Panel(), Clock(), {PANEL[0]: price})
    worlds.append(world)
    world.panel.release.set()
    session = await world.start()
    await vote_and_close(world, session, Side.A)
    outcome = await asyncio.wait_for(session.outcome(), PROMPTLY)
    assert outcome.verdict is not None
    costs = {ballot.judge: ballot.cost_usd for ballot in outcome.verdict.ballots}
    # Each fake judge reports 100 prompt and 20 completion tokens.
    assert costs == {
        PANEL[0]: pytest.approx(100 * 0.001 + 20 * 0.002),
        PANEL[1]: None,
        PANEL[2]: None,
    }
    spent = await world.store.spend(GUILD)
    assert spent.cost_usd == pytest.approx(0.14) and spent.unpriced == 2
