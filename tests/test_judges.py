"""The judges' panel through the real openai client against the local model server."""

import asyncio
import json
import random
import time
from collections.abc import Iterator

import pytest

from bot.engine.battle import FINAL_ROUND, Battle, Side
from bot.engine.pacing import Pace
from bot.engine.transcript import transcript_of
from bot.engine.verdicts import DEFAULT_PANEL, Decision, judge_messages, verdict_response_format
from bot.llm import Completion, LLMClient, ModelError, RetryPolicy
from bot.services.battles.referee import Outcome, Referee
from bot.services.judging.panel import JudgePanel
from bot.settings import Settings
from tests.conftest import TEST_KEY
from tests.fakes.model_server import (
    DEFAULT_MODELS,
    BodyError,
    Disconnect,
    HttpError,
    ModelServer,
    Ruling,
    Stall,
    StreamError,
    Verse,
    Wrapping,
    default_statement,
)
from tests.fakes.stages import RecordingStage

QWEN, LLAMA = "qwen/qwen-max", "meta-llama/llama-3-70b-instruct"
JUDGE = "openai/gpt-5"
FAST = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.02)


@pytest.fixture(scope="module")
def judging_server() -> Iterator[ModelServer]:
    """The catalog holds the default panel besides the usual contestants."""
    with ModelServer((*DEFAULT_MODELS, *DEFAULT_PANEL), api_key=TEST_KEY) as server:
        yield server


@pytest.fixture
def server(judging_server: ModelServer) -> Iterator[ModelServer]:
    judging_server.reset()
    judging_server.latency = 0.0
    yield judging_server
    judging_server.reset()


def settings_for(server: ModelServer, **env: str) -> Settings:
    base = {
        "LLM_BASE_URL": server.base_url,
        "LLM_API_KEY": TEST_KEY,
        "LLM_STALL_SECONDS": "0.5",
        "LLM_TIMEOUT_SECONDS": "5",
    }
    return Settings.from_env(base | env)


@pytest.fixture
async def llm(server: ModelServer):
    client = LLMClient(settings_for(server), policy=FAST, rng=random.Random(3))
    yield client
    await client.close()


def finished(battle: Battle) -> list:
    turns = []
    for slot in battle.plan():
        text = FINAL_ROUND if slot.side is None else f"bars from side {slot.side.value}"
        turns.append(battle.turn(slot, text))
    return turns


BATTLE = Battle(QWEN, LLAMA, rounds=2)
TURNS = finished(BATTLE)


async def test_each_judge_sends_exactly_one_structured_request(llm, server):
    verdict = await JudgePanel(llm, DEFAULT_PANEL).judge(BATTLE, TURNS)

    requests = server.chat_requests()
    assert sorted(r.model for r in requests) == sorted(DEFAULT_PANEL)
    expected_messages = judge_messages(transcript_of(BATTLE, TURNS))
    for request in requests:
        assert set(request.body) == {"model", "messages", "response_format"}
        assert request.messages == expected_messages
        assert [m["role"] for m in request.messages] == ["system", "user"]
        assert request.messages[1]["content"] == transcript_of(BATTLE, TURNS)
        assert request.body["response_format"] == verdict_response_format(QWEN, LLAMA)
        assert request.body["response_format"]["json_schema"]["schema"]["properties"]["winner"][
            "enum"
        ] == [QWEN, LLAMA]
        assert not request.stream
    assert verdict.decision is Decision.WIN and verdict.winner is Side.A
    assert verdict.summary() == f"{QWEN} wins 5-0"
    assert [b.judge for b in verdict.ballots] == list(DEFAULT_PANEL)
    assert {b.statement for b in verdict.ballots} == {default_statement(QWEN)}
    words = sum(len(m["content"].split()) for m in expected_messages)
    for ballot in verdict.ballots:
        assert ballot.prompt_tokens == words
        assert ballot.completion_tokens == len(
            json.dumps({"winner": QWEN, "closing_statement": default_statement(QWEN)}).split()
        )


async def test_a_blind_battle_never_shows_a_model_id_to_a_judge(llm, server):
    battle = Battle(QWEN, LLAMA, rounds=2, blind=True, topic="the moon")
    # Verses that, like a real blind battle's, name only the stage names.
    server.script(QWEN, Verse("MC A opens"), Verse("MC A closes"))
    server.script(LLAMA, Verse("MC B answers"), Verse("MC B ends it"))
    result = await Referee(battle, llm, RecordingStage(), Pace(0)).run()
    assert result.outcome is Outcome.COMPLETED
    server.reset()
    server.script_judge("x-ai/grok-4", Ruling(side=1))

    verdict = await JudgePanel(llm, DEFAULT_PANEL).judge(battle, result.turns)

    requests = server.chat_requests()
    assert len(requests) == 5
    for request in requests:
        wire = json.dumps(request.body)
        for model_id in (QWEN, LLAMA, "qwen", "llama", "meta-"):
            assert model_id not in wire
        assert request.messages[1]["content"].startswith("# MC A v MC B\n\n> MC A\nMC A opens\n")
        assert '"the moon"' in request.messages[0]["content"]
        winner = request.body["response_format"]["json_schema"]["schema"]["properties"]["winner"]
        assert winner["enum"] == ["MC A", "MC B"]
    # The verdict itself is about the real models.
    assert verdict.summary() == f"{QWEN} wins 4-1"
    assert [b.pick for b in verdict.ballots if b.judge == "x-ai/grok-4"] == [Side.B]


@pytest.mark.parametrize(
    "first_answer",
    [Ruling(side=1, wrapping=Wrapping.FENCED), Ruling(side=1, wrapping=Wrapping.PROSE)],
)
async def test_json_in_a_fence_or_in_prose_is_read_at_once(llm, server, first_answer):
    server.script_judge(JUDGE, first_answer)
    verdict = await JudgePanel(llm, [JUDGE]).judge(BATTLE, TURNS)
    [ballot] = verdict.ballots
    assert (ballot.pick, ballot.statement) == (Side.B, default_statement(LLAMA))
    assert len(server.chat_requests()) == 1


@pytest.mark.parametrize(
    "bad",
    [Verse("Side B, obviously."), Ruling(winner="Nobody"), Verse(""), Ruling(winner=QWEN[:4])],
)
async def test_an_answer_naming_neither_side_is_asked_once_more(llm, server, bad):
    server.script_judge(JUDGE, bad, Ruling(side=1, statement="B on second thought"))
    verdict = await JudgePanel(llm, [JUDGE]).judge(BATTLE, TURNS)
    [ballot] = verdict.ballots
    assert (ballot.pick, ballot.statement, ballot.abstained) == (
        Side.B,
        "B on second thought",
        None,
    )
    requests = server.chat_requests()
    assert len(requests) == 2 and requests[0].body == requests[1].body
    # Both answers' tokens are spent and kept.
    assert ballot.prompt_tokens == 2 * sum(len(m["content"].split()) for m in requests[0].messages)


async def test_a_judge_that_twice_names_neither_side_abstains(llm, server):
    server.script_judge(JUDGE, Verse("no json here"), Ruling(winner="Nobody"))
    server.script_judge("x-ai/grok-4", Verse("still no json"), Verse("nope"), Ruling())
    verdict = await JudgePanel(llm, [JUDGE, "x-ai/grok-4", "mistralai/mistral-large"]).judge(
        BATTLE, TURNS
    )
    gpt, grok, mistral = verdict.ballots
    assert gpt.pick is None and "without naming either side" in (gpt.abstained or "")
    assert grok.pick is None and gpt.prompt_tokens > 0 and grok.completion_tokens > 0
    assert mistral.pick is Side.A
    assert verdict.summary() == f"{QWEN} wins 1-0 (2 abstained)"
    assert len(server.chat_requests()) == 5  # 2 + 2 + 1: never a third ask


async def test_every_judge_abstaining_is_no_verdict(llm, server):
    for judge in DEFAULT_PANEL[:3]:
        server.script_judge(judge, Verse("pass"), Verse("pass"))
    verdict = await JudgePanel(llm, DEFAULT_PANEL[:3]).judge(BATTLE, TURNS)
    assert verdict.decision is Decision.NONE and verdict.winner is None
    assert verdict.summary() == "no verdict: all 3 judges abstained"


@pytest.mark.parametrize(
    "fault",
    [
        HttpError(429),
        HttpError(500),
        HttpError(502),
        HttpError(503, retry_after=0.05),
        BodyError("upstream overloaded", 502),
        BodyError("weird failure", code=0),
        StreamError("partial", "died"),
        Disconnect(),
        Stall(seconds=30),
    ],
)
async def test_provider_faults_are_retried_like_verses(server, fault):
    settings = settings_for(server, LLM_TIMEOUT_SECONDS="1")
    llm = LLMClient(settings, policy=FAST, rng=random.Random(3))
    try:
        server.script_judge(JUDGE, fault, Ruling(side=1))
        verdict = await JudgePanel(llm, [JUDGE]).judge(BATTLE, TURNS)
    finally:
        await llm.close()
    assert verdict.ballots[0].pick is Side.B
    assert len(server.chat_requests()) == 2


async def test_a_judge_whose_retries_are_spent_abstains_with_the_reason(llm, server):
    server.script_judge(JUDGE, HttpError(502), HttpError(502), HttpError(502))
    server.script_judge("x-ai/grok-4", HttpError(402, "Insufficient credits"))
    verdict = await JudgePanel(llm, [JUDGE, "x-ai/grok-4", "deepseek/deepseek-chat"]).judge(
        BATTLE, TURNS
    )
    gpt, grok, deepseek = verdict.ballots
    assert gpt.abstained == "openai/gpt-5: the model is down (502)"
    assert grok.abstained == "x-ai/grok-4: the provider is out of credits (402)"
    assert deepseek.pick is Side.A
    assert [r.model for r in server.chat_requests()].count(JUDGE) == 3
    assert [r.model for r in server.chat_requests()].count("x-ai/grok-4") == 1


async def test_judges_answer_concurrently(llm, server):
    latency = 0.6
    server.latency = latency
    started = time.monotonic()
    verdict = await JudgePanel(llm, DEFAULT_PANEL).judge(BATTLE, TURNS)
    elapsed = time.monotonic() - started
    assert verdict.votes(Side.A) == 5
    assert latency <= elapsed < 1.8 * latency  # about one judge's latency, not five
    arrivals = [r.received_at for r in server.chat_requests()]
    assert max(arrivals) - min(arrivals) < latency / 2


async def test_a_judge_may_take_longer_than_the_stall_limit(llm, server):
    # A whole answer arrives at once, so only LLM_TIMEOUT_SECONDS bounds it, not the 0.5 s stall.
    server.script_judge(JUDGE, Ruling(side=1, latency=1.0))
    verdict = await JudgePanel(llm, [JUDGE]).judge(BATTLE, TURNS)
    assert verdict.ballots[0].pick is Side.B
    assert len(server.chat_requests()) == 1


async def test_same_vendor_judges_are_marked_or_recused(llm, server):
    battle = Battle("openai/gpt-4o", "x-ai/grok-2", rounds=1)
    turns = finished(battle)
    marked = await JudgePanel(llm, DEFAULT_PANEL).judge(battle, turns)
    assert {b.judge for b in marked.ballots if b.same_vendor} == {"openai/gpt-5", "x-ai/grok-4"}
    server.reset()

    panel = JudgePanel(llm, DEFAULT_PANEL, recusal=True)
    recused = await panel.judge(battle, turns)
    assert [b.judge for b in recused.ballots] == [
        "deepseek/deepseek-chat",
        "google/gemini-2.5-pro",
        "mistralai/mistral-large",
    ]
    assert not any(b.same_vendor for b in recused.ballots)
    assert sorted(r.model for r in server.chat_requests()) == sorted(panel.seated(battle))


async def test_complete_returns_content_and_usage(llm, server):
    server.script(QWEN, Verse("plain answer text"))
    completion = await llm.complete(QWEN, [{"role": "user", "content": "one two"}])
    assert completion == Completion("plain answer text", 2, 3)
    [request] = server.chat_requests()
    assert "response_format" not in request.body and not request.stream


async def test_complete_raises_model_errors_once_retries_are_spent(llm, server):
    server.script(QWEN, HttpError(503), HttpError(503), HttpError(503), Verse("too late"))
    with pytest.raises(ModelError, match=r"no provider is available for this model \(503\)"):
        await llm.complete(QWEN, [{"role": "user", "content": "hi"}])
    assert len(server.chat_requests()) == 3


async def test_a_panel_needs_a_judge(llm):
    with pytest.raises(ValueError):
        JudgePanel(llm, [])
    await asyncio.sleep(0)
