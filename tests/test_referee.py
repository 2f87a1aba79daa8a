"""The referee: order, pipelining, pacing, stopping and failures."""

import asyncio
import itertools
import time
from collections.abc import Callable, Sequence

import pytest

from bot.engine.battle import FINAL_ROUND, Battle, Turn
from bot.engine.pacing import Pace
from bot.engine.prompts import messages_for
from bot.llm import ModelError
from bot.services.battles.referee import Outcome, Referee
from tests.fakes.stages import RecordingStage

# Real time is measured; the event loop may run a little late on a busy machine.
LATE = 0.06


class ScriptedModels:
    """Answers request k after ``delays[k-1]`` seconds (the last delay repeats); records when
    each request started and finished."""

    def __init__(self, delays: float | Sequence[float] = 0.0, fail_at: int | None = None) -> None:
        self.delays = [delays] if isinstance(delays, int | float) else list(delays)
        self.fail_at = fail_at
        self.requests: list[tuple[float, str, list[dict[str, str]]]] = []
        self.written: list[float] = []
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
            await asyncio.sleep(self.delays[min(number, len(self.delays)) - 1])
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        if number == self.fail_at:
            raise ModelError(model, "the provider is out of credits", status=402)
        self.written.append(time.monotonic())
        return f"verse {number} by {model}"


def battle(rounds: int = 3) -> Battle:
    return Battle("m/a", "m/b", rounds=rounds)


def ideal_posts(latencies: Sequence[float], pace: float, rounds: int) -> list[float]:
    """Each turn's ideal post time from the start: verses are written back to back
    (written_k = written_{k-1} + g_k) and posted at max(written_k, previous verse + pace);
    the announcement comes at the previous verse + pace and holds nothing up."""
    posts: list[float] = []
    written = 0.0
    last_verse: float | None = None
    latency = iter(latencies)
    for slot in battle(rounds).plan():
        if slot.is_announcement:
            assert last_verse is not None
            posts.append(last_verse + pace)
            continue
        written += next(latency)
        post = written if last_verse is None else max(written, last_verse + pace)
        posts.append(post)
        last_verse = post
    return posts


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
    # Each request carries every turn before it, written verses and the announcement included.
    verse_positions = [i for i, turn in enumerate(result.turns) if not turn.is_announcement]
    for (_, model, messages), position in zip(models.requests, verse_positions, strict=True):
        turn = result.turns[position]
        assert model == turn.speaker
        assert turn.side is not None
        assert messages == messages_for(battle(), turn.side, result.turns[:position])
    final_requests = [messages for _, _, messages in models.requests[4:]]
    assert all({"role": "system", "content": FINAL_ROUND} in m for m in final_requests)


@pytest.mark.parametrize(("g", "p"), [(0.15, 0.05), (0.05, 0.15)])
async def test_generation_is_pipelined_under_the_pace(g, p):
    models, stage = ScriptedModels(g), RecordingStage()
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


async def test_each_verse_is_requested_as_soon_as_the_one_before_it_is_written():
    # Fast models and a long pace: every verse is written long before it is posted.
    models, stage = ScriptedModels(0.02), RecordingStage()
    await Referee(battle(2), models, stage, Pace(0.15)).run()
    starts = [at for at, _, _ in models.requests]
    for written, next_start in zip(models.written, starts[1:], strict=False):
        assert next_start - written == pytest.approx(0, abs=LATE / 2)
    assert models.written[-1] < stage.posts[1][0]  # all four written before the second post


async def test_one_slow_verse_among_fast_ones_costs_only_its_own_delay():
    # The slow verse takes more than two paces: asked for only once verse 2 was posted (as
    # before the writer ran ahead), it would be posted 0.2 s later, and so would the rest.
    latencies = [0.05, 0.05, 0.05, 0.9, 0.05, 0.05]
    pace = 0.3
    models, stage = ScriptedModels(latencies), RecordingStage()
    started = time.monotonic()
    result = await Referee(battle(3), models, stage, Pace(pace)).run()
    assert result.outcome is Outcome.COMPLETED
    # Each request goes out as soon as the verse before it is written.
    starts = [at for at, _, _ in models.requests]
    for written, next_start in zip(models.written, starts[1:], strict=False):
        assert next_start - written == pytest.approx(0, abs=LATE / 2)
    # Each verse is posted at the later of "written" and "previous verse posted + pace".
    verse_posts = [at for at, turn in stage.posts if not turn.is_announcement]
    assert verse_posts[0] == pytest.approx(models.written[0], abs=LATE)
    for k in range(1, 6):
        due = max(models.written[k], verse_posts[k - 1] + pace)
        assert verse_posts[k] == pytest.approx(due, abs=LATE), k
    # Against the ideal schedule from the start, with room for the loop's lateness only.
    ideal = ideal_posts(latencies, pace, 3)
    measured = [at - started for at, _ in stage.posts]
    assert measured[3] == pytest.approx(ideal[3], abs=0.1)  # the slow verse
    assert ideal[-1] - 0.01 <= measured[-1] <= ideal[-1] + 0.1
    # The audience was told a model was writing only for the first verse and the slow one.
    assert stage.writing_shown == ["m/a", "m/b"]


async def test_writing_is_shown_only_while_the_audience_waits():
    fast = RecordingStage()
    await Referee(battle(1), ScriptedModels(0.01), fast, Pace(0.3)).run()
    assert fast.writing_shown == ["m/a"]  # the first verse; the second was ready in time
    slow = RecordingStage()
    await Referee(battle(1), ScriptedModels(0.1), slow, Pace(0)).run()
    assert slow.writing_shown == ["m/a", "m/b"]


async def test_the_reading_pause_is_shown_with_its_length():
    models, stage = ScriptedModels(0.01), RecordingStage()
    result = await Referee(battle(2), models, stage, Pace(0.1)).run()
    # Before B1, before the announcement, and before B2 (A2 follows the announcement at once).
    assert len(stage.pauses) == 3
    post_times = [at for at, _ in stage.posts]
    for (began, seconds, ended), previous, following in zip(
        stage.pauses, [post_times[0], post_times[1], post_times[3]], [1, 2, 4], strict=True
    ):
        assert seconds == pytest.approx(0.1, abs=0.02)
        assert began >= previous and ended <= post_times[following]
        assert ended - began == pytest.approx(0.1, abs=LATE)
    assert result.outcome is Outcome.COMPLETED


async def test_a_model_failing_for_good_ends_in_no_contest_with_the_partial_battle():
    models, stage = ScriptedModels(fail_at=3), RecordingStage()
    result = await Referee(battle(), models, stage, Pace(0)).run()
    assert result.outcome is Outcome.NO_CONTEST
    assert result.reason == "m/a: the provider is out of credits (402)"
    assert [turn.text for turn in result.turns] == ["verse 1 by m/a", "verse 2 by m/b"]


async def test_a_failure_ahead_of_the_posts_first_posts_what_was_written_then_ends():
    # Verse 3 fails at once, while verses 1 and 2 still wait for their reading time.
    models, stage = ScriptedModels(0.01, fail_at=3), RecordingStage()
    calls: list[tuple[Turn, ...]] = []
    referee = Referee(battle(), models, stage, Pace(0.1), on_all_written=calls.append)
    before = asyncio.all_tasks()
    started = time.monotonic()
    result = await referee.run()
    assert result.outcome is Outcome.NO_CONTEST
    assert [turn.text for turn in result.turns] == ["verse 1 by m/a", "verse 2 by m/b"]
    assert result.turns == referee.posted
    assert len(models.requests) == 3  # nothing past the failed verse was asked for
    assert models.requests[2][0] - started < 0.05  # it failed long before verse 2 was posted
    # The no contest comes as soon as the poster reaches the failed verse, not a pace later.
    assert time.monotonic() - stage.posts[-1][0] < LATE
    assert calls == []
    assert asyncio.all_tasks() - before == set()


async def test_stop_during_a_slow_verse_cancels_it_and_asks_for_nothing_more():
    models, stage = ScriptedModels([0.01, 0.01, 5.0]), RecordingStage()
    calls: list[tuple[Turn, ...]] = []
    referee = Referee(battle(), models, stage, Pace(0.05), on_all_written=calls.append)
    before = asyncio.all_tasks()
    running = asyncio.create_task(referee.run())
    while len(stage.posts) < 2:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)  # the audience now waits for verse 3
    assert stage.writing_shown == ["m/a", "m/a"]
    referee.stop("stopped by alice")
    result = await asyncio.wait_for(running, 0.5)
    assert result.outcome is Outcome.STOPPED and result.reason == "stopped by alice"
    assert [turn.text for turn in result.turns] == ["verse 1 by m/a", "verse 2 by m/b"]
    assert result.turns == referee.posted
    assert (len(models.requests), models.cancelled) == (3, 1)
    assert calls == []
    assert asyncio.all_tasks() - before - {asyncio.current_task()} == set()


async def test_stop_mid_battle_leaves_a_consistent_partial_battle_and_no_tasks():
    models, stage = ScriptedModels(0.05), RecordingStage()
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
    # Verses written ahead are never posted after the stop.
    await asyncio.sleep(0.1)
    assert len(stage.posts) == 1


async def test_all_written_is_called_once_with_the_whole_battle_before_the_last_post():
    models, stage = ScriptedModels(0.02), RecordingStage()
    calls: list[tuple[float, tuple[Turn, ...]]] = []
    referee = Referee(
        battle(2),
        models,
        stage,
        Pace(0.1),
        on_all_written=lambda turns: calls.append((time.monotonic(), turns)),
    )
    result = await referee.run()
    assert result.outcome is Outcome.COMPLETED
    assert [turns for _, turns in calls] == [result.turns]  # the announcement included
    called_at = calls[0][0]
    assert called_at - models.written[-1] < LATE / 2  # as soon as the last verse is written
    assert called_at < stage.posts[1][0]  # long before the last verse is posted


async def test_cancelling_the_battle_task_cancels_the_verse_in_flight():
    models, stage = ScriptedModels(5), RecordingStage()
    referee = Referee(battle(), models, stage, Pace(0))
    before = asyncio.all_tasks()
    running = asyncio.create_task(referee.run())
    await asyncio.sleep(0.05)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert models.cancelled == 1 and len(models.requests) == 1
    assert referee.posted == ()
    assert asyncio.all_tasks() - before - {asyncio.current_task()} == set()


async def test_stopping_before_anything_is_written_asks_for_nothing():
    models, stage = ScriptedModels(5), RecordingStage()
    referee = Referee(battle(), models, stage, Pace(0))
    referee.stop()
    before = asyncio.all_tasks()
    result = await referee.run()
    assert result.outcome is Outcome.STOPPED and result.turns == ()
    assert models.requests == []
    assert asyncio.all_tasks() - before == set()
