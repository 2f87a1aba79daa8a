"""The referee: order, pipelining, pacing, stopping and failures."""

import asyncio
import itertools
import time
from collections.abc import Callable, Sequence

import pytest

from bot.engine.battle import FINAL_ROUND, Battle
from bot.engine.pacing import Pace
from bot.llm import ModelError
from bot.referee import Outcome, Referee
from tests.fakes.stages import RecordingStage


class ScriptedModels:
    """Answers each request after ``delay`` seconds; records when each request started."""

    def __init__(self, delay: float = 0.0, fail_at: int | None = None) -> None:
        self.delay = delay
        self.fail_at = fail_at
        self.requests: list[tuple[float, str, list[dict[str, str]]]] = []
        self.finished = 0
        self.cancelled = 0

    async def generate_verse(
        self,
        model: str,
        messages: Sequence[dict[str, str]],
        on_progress: Callable[[int], None] | None = None,
    ) -> str:
        number = len(self.requests) + 1
        self.requests.append((time.monotonic(), model, list(messages)))
        try:
            await asyncio.sleep(self.delay)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        if number == self.fail_at:
            raise ModelError(model, "the provider is out of credits", status=402)
        self.finished += 1
        return f"verse {number} by {model}"


def battle(rounds: int = 3) -> Battle:
    return Battle("m/a", "m/b", rounds=rounds)


async def test_a_full_battle_posts_every_turn_in_order_with_the_history_each_model_needs():
    models, stage = ScriptedModels(), RecordingStage()
    result = await Referee(battle(), models, stage, Pace(0)).run()
    assert result.outcome is Outcome.COMPLETED
    texts = [turn.text for turn in result.turns]
    assert texts == [
        "verse 1 by m/a",
        "verse 2 by m/b",
        "verse 3 by m/a",
        "verse 4 by m/b",
        FINAL_ROUND,
        "verse 5 by m/a",
        "verse 6 by m/b",
    ]
    assert stage.turns == list(result.turns)
    for index, (_, model, messages) in enumerate(models.requests[1:], start=1):
        previous = f"verse {index} by {'m/a' if model == 'm/b' else 'm/b'}"
        last_user = [m for m in messages if m["role"] == "user"][-1]
        assert last_user == {"role": "user", "content": previous}
    final_requests = [messages for _, _, messages in models.requests[4:]]
    assert all({"role": "system", "content": FINAL_ROUND} in m for m in final_requests)


@pytest.mark.parametrize(("g", "p"), [(0.15, 0.05), (0.05, 0.15)])
async def test_generation_is_pipelined_under_the_pace(g, p):
    models, stage = ScriptedModels(delay=g), RecordingStage()
    started = time.monotonic()
    await Referee(battle(2), models, stage, Pace(p)).run()
    elapsed = stage.posts[-1][0] - started
    ideal = g + 3 * max(g, p)
    serial = 4 * g + 3 * p
    assert elapsed >= ideal * 0.98
    assert elapsed < ideal + (serial - ideal) / 2  # far closer to pipelined than to serial
    verse_times = [at for at, turn in stage.posts if not turn.is_announcement]
    gaps = [later - earlier for earlier, later in itertools.pairwise(verse_times)]
    assert min(gaps) >= p * 0.98
    # Each request goes out as soon as the verse before it is written, not when it is posted.
    request_times = [at for at, _, _ in models.requests]
    assert request_times[1] - request_times[0] == pytest.approx(g, abs=0.05)


async def test_writing_is_shown_only_while_the_audience_waits():
    fast = RecordingStage()
    await Referee(battle(1), ScriptedModels(delay=0.01), fast, Pace(0.3)).run()
    assert fast.writing_shown == ["m/a"]  # the first verse; the second was ready in time
    slow = RecordingStage()
    await Referee(battle(1), ScriptedModels(delay=0.1), slow, Pace(0)).run()
    assert slow.writing_shown == ["m/a", "m/b"]


async def test_a_model_failing_for_good_ends_in_no_contest_with_the_partial_battle():
    models, stage = ScriptedModels(fail_at=3), RecordingStage()
    result = await Referee(battle(), models, stage, Pace(0)).run()
    assert result.outcome is Outcome.NO_CONTEST
    assert result.reason == "m/a: the provider is out of credits (402)"
    assert [turn.text for turn in result.turns] == ["verse 1 by m/a", "verse 2 by m/b"]


async def test_stop_mid_battle_leaves_a_consistent_partial_battle_and_no_tasks():
    models, stage = ScriptedModels(delay=0.05), RecordingStage()
    referee = Referee(battle(), models, stage, Pace(10))
    before = asyncio.all_tasks()
    running = asyncio.create_task(referee.run())
    while not stage.posts:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)  # the second verse is written and waiting for the pace
    referee.stop("stopped by alice")
    result = await asyncio.wait_for(running, 1)
    assert result.outcome is Outcome.STOPPED and result.reason == "stopped by alice"
    assert [turn.text for turn in result.turns] == ["verse 1 by m/a"]
    assert result.turns == referee.posted
    assert asyncio.all_tasks() - before - {asyncio.current_task()} == set()
    # A verse written ahead is never posted after the stop.
    await asyncio.sleep(0.1)
    assert len(stage.posts) == 1


async def test_cancelling_the_battle_task_cancels_the_verse_in_flight():
    models, stage = ScriptedModels(delay=5), RecordingStage()
    referee = Referee(battle(), models, stage, Pace(0))
    running = asyncio.create_task(referee.run())
    await asyncio.sleep(0.05)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert models.cancelled == 1
    assert referee.posted == ()


async def test_stopping_before_anything_is_written():
    models, stage = ScriptedModels(delay=5), RecordingStage()
    referee = Referee(battle(), models, stage, Pace(0))
    referee.stop()
    result = await referee.run()
    assert result.outcome is Outcome.STOPPED and result.turns == ()
    assert models.cancelled == 1
