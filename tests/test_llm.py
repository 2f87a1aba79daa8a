"""The model gateway against a local OpenAI-compatible server, through the real openai client."""

import json
import random
import time

import pytest

from bot.engine.house_rules import Pricing
from bot.engine.spend import TokenUsage
from bot.errors import ConfigError
from bot.llm import LLMClient, ModelError, RetryPolicy, SSEEvents, _usage, parse_retry_after
from bot.settings import Settings
from tests.fakes.model_server import (
    COMPLETION_PRICE,
    PROMPT_PRICE,
    BodyError,
    Disconnect,
    HttpError,
    Stall,
    StreamError,
    Verse,
    default_verse,
)

MODEL = "qwen/qwen-max"
MESSAGES = [{"role": "system", "content": "battle"}, {"role": "user", "content": "go"}]
FAST = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.02)


@pytest.fixture
async def llm(llm_settings):
    client = LLMClient(llm_settings, policy=FAST, rng=random.Random(7))
    yield client
    await client.close()


async def test_streams_a_verse_with_attribution_headers_and_max_tokens(llm, model_server):
    progress: list[int] = []
    verse = await llm.generate_verse(MODEL, MESSAGES, progress.append)
    assert verse == default_verse(MODEL, 1)
    assert progress and progress[-1] == len(verse) and progress == sorted(progress)
    [request] = model_server.chat_requests()
    assert request.stream is True
    assert request.body["max_tokens"] == 700
    assert request.messages == MESSAGES
    assert request.headers["X-Title"] == "rapbattle"
    assert request.headers["HTTP-Referer"].startswith("https://")
    assert request.headers["Authorization"] == "Bearer test-key"


async def test_reasoning_and_think_blocks_never_reach_the_verse(llm, model_server):
    model_server.script(MODEL, Verse("<think>plan</think>\n  Bars  \n", reasoning="hidden"))
    assert await llm.generate_verse(MODEL, MESSAGES) == "Bars"


@pytest.mark.parametrize("status", [429, 500, 502, 503, 408])
async def test_transient_statuses_are_retried(llm, model_server, status):
    model_server.script(MODEL, HttpError(status), Verse("second time lucky"))
    assert await llm.generate_verse(MODEL, MESSAGES) == "second time lucky"
    assert len(model_server.chat_requests()) == 2


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (400, "qwen/qwen-max: the provider rejected the request: context too long (400)"),
        (401, "qwen/qwen-max: the API key was rejected (401)"),
        (402, "qwen/qwen-max: the provider is out of credits (402)"),
        (403, "qwen/qwen-max: the provider's moderation refused the request (403)"),
        (404, "qwen/qwen-max: the provider does not know this model (404)"),
    ],
)
async def test_client_errors_are_not_retried_and_read_well(llm, model_server, status, message):
    model_server.script(MODEL, HttpError(status, "context too long"))
    with pytest.raises(ModelError) as caught:
        await llm.generate_verse(MODEL, MESSAGES)
    assert str(caught.value) == message
    assert caught.value.status == status
    assert len(model_server.chat_requests()) == 1


async def test_retry_after_is_honoured(llm, model_server):
    model_server.script(MODEL, HttpError(429, retry_after=0.4), Verse("patient"))
    started = time.monotonic()
    assert await llm.generate_verse(MODEL, MESSAGES) == "patient"
    first, second = model_server.chat_requests()
    assert second.received_at - first.received_at >= 0.4
    assert time.monotonic() - started < 3


async def test_a_retry_after_beyond_reason_fails_at_once(llm, model_server):
    model_server.script(MODEL, HttpError(429, retry_after=3600))
    with pytest.raises(ModelError, match=r"rate limiting requests \(429\)"):
        await llm.generate_verse(MODEL, MESSAGES)
    assert len(model_server.chat_requests()) == 1


async def test_retries_are_bounded(llm, model_server):
    model_server.script(MODEL, HttpError(502), HttpError(502), HttpError(502), Verse("never"))
    with pytest.raises(ModelError, match=r"^qwen/qwen-max: the model is down \(502\)$"):
        await llm.generate_verse(MODEL, MESSAGES)
    assert len(model_server.chat_requests()) == 3


async def test_error_inside_a_200_and_as_an_sse_event_are_recognised_and_retried(llm, model_server):
    model_server.script(
        MODEL,
        BodyError("upstream exploded", 502),
        StreamError("half a ba", "provider died", 503),
        Verse("whole"),
    )
    assert await llm.generate_verse(MODEL, MESSAGES) == "whole"
    assert len(model_server.chat_requests()) == 3


async def test_error_in_a_200_with_a_client_error_code_is_not_retried(llm, model_server):
    model_server.script(MODEL, BodyError("no credits", 402))
    with pytest.raises(ModelError, match=r"out of credits \(402\)"):
        await llm.generate_verse(MODEL, MESSAGES)


async def test_stalled_streams_and_dropped_connections_are_retried(llm, model_server):
    model_server.script(MODEL, Stall("Yo I", seconds=30), Disconnect(), Verse("back"))
    started = time.monotonic()
    assert await llm.generate_verse(MODEL, MESSAGES) == "back"
    assert time.monotonic() - started < 4


async def test_a_stall_every_time_ends_in_a_clear_error(llm, model_server):
    model_server.script(MODEL, *[Stall(seconds=30)] * 3)
    with pytest.raises(ModelError, match=r"^qwen/qwen-max: the provider stopped answering$"):
        await llm.generate_verse(MODEL, MESSAGES)


async def test_an_empty_verse_is_retried_once(llm, model_server):
    model_server.script(MODEL, Verse(""), Verse("now with bars"))
    assert await llm.generate_verse(MODEL, MESSAGES) == "now with bars"
    model_server.script(MODEL, Verse("  \n"), Verse("<think>only thinking</think>"))
    with pytest.raises(ModelError, match="empty verse twice"):
        await llm.generate_verse(MODEL, MESSAGES)
    assert len(model_server.chat_requests()) == 4


async def test_no_key_fails_before_any_request(model_server):
    settings = Settings.from_env({"LLM_BASE_URL": model_server.base_url})
    client = LLMClient(settings)
    try:
        with pytest.raises(ConfigError, match="LLM_API_KEY"):
            await client.generate_verse(MODEL, MESSAGES)
    finally:
        await client.close()
    assert model_server.chat_requests() == []


async def test_unreachable_provider(llm_settings):
    settings = Settings.from_env({"LLM_BASE_URL": "http://127.0.0.1:9/api/v1", "LLM_API_KEY": "k"})
    client = LLMClient(settings, policy=FAST)
    try:
        with pytest.raises(ModelError, match="could not reach the provider"):
            await client.generate_verse(MODEL, MESSAGES)
    finally:
        await client.close()


async def test_model_list(llm, model_server):
    models = await llm.list_models()
    assert MODEL in {model.id for model in models}
    qwen = next(model for model in models if model.id == MODEL)
    assert qwen.context_length and qwen.max_completion_tokens
    model_server.fail_models(HttpError(503))
    with pytest.raises(ModelError, match=r"model list: no provider is available"):
        await llm.list_models()


def test_backoff_has_full_jitter_is_bounded_and_respects_retry_after():
    policy = RetryPolicy(base_delay=1, max_delay=8)
    rng = random.Random(1)
    delays = [policy.delay(attempt, None, rng) for attempt in (1, 2, 3, 4, 5, 6) for _ in range(50)]
    assert all(0 <= d <= 8 for d in delays)
    assert max(policy.delay(1, None, rng) for _ in range(50)) <= 1
    assert policy.delay(1, 5.0, rng) == 5.0


def test_retry_after_parsing():
    assert parse_retry_after("2.5") == 2.5
    assert parse_retry_after(None) is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert parse_retry_after("soon") is None


async def test_a_verse_comes_with_the_usage_the_provider_reported(llm, model_server):
    model_server.script(MODEL, Verse("five words in this verse"))
    written = await llm.write_verse(MODEL, MESSAGES)
    assert written.text == "five words in this verse"
    [request] = model_server.chat_requests()
    assert request.body["stream_options"] == {"include_usage": True}
    prompt_tokens = sum(len(message["content"].split()) for message in MESSAGES)
    assert written.usage == TokenUsage(
        prompt_tokens, 5, pytest.approx(prompt_tokens * PROMPT_PRICE + 5 * COMPLETION_PRICE)
    )


async def test_an_empty_verse_retried_counts_both_answers_tokens(llm, model_server):
    model_server.script(MODEL, Verse("<think>only thinking</think>"), Verse("two words"))
    written = await llm.write_verse(MODEL, MESSAGES)
    assert written.text == "two words"
    assert written.usage is not None
    assert written.usage.completion_tokens == 2 + 2  # "<think>only thinking</think>" is two.


async def test_a_failed_stream_keeps_no_usage_and_the_retry_reports_its_own(llm, model_server):
    model_server.script(MODEL, StreamError("half a ba", "provider died", 503), Verse("one two"))
    written = await llm.write_verse(MODEL, MESSAGES)
    assert written.usage is not None and written.usage.completion_tokens == 2


def test_sse_events_skip_comments_and_join_lines_split_across_chunks():
    events = SSEEvents()
    assert events.feed(b": OPENROUTER PROCESSING\n\nda") == []
    assert events.feed(b'ta: {"a": 1}\r\n\r\ndata: [DO') == [("", '{"a": 1}')]
    assert events.feed(b"NE]\n\n") == [("", "[DONE]")]
    assert events.feed(b"event: error\ndata: {}\n") == []
    assert events.finish() == [("error", "{}")]


async def _chunks(*pieces: bytes):
    for piece in pieces:
        yield piece


async def test_an_sse_error_event_becomes_an_error_object_whatever_its_shape():
    events = SSEEvents()
    data = [
        item
        async for item in events.data_from(
            _chunks(
                b'event: error\ndata: {"code": 502, "message": "down"}\n\n',
                b'event: error\ndata: {"error": {"code": 402, "message": "pay"}}\n\n',
            )
        )
    ]
    assert [json.loads(item)["error"]["code"] for item in data] == [502, 402]


def test_usage_reports_are_read_leniently():
    assert _usage(None) is None
    assert _usage({"prompt_tokens": 3, "completion_tokens": 4}) == TokenUsage(3, 4, None)
    assert _usage({"prompt_tokens": 3, "completion_tokens": 4, "cost": 0.5}) == TokenUsage(
        3, 4, 0.5
    )
    assert _usage({"prompt_tokens": "many"}) is None


async def test_model_list_carries_pricing(llm, model_server):
    qwen = next(model for model in await llm.list_models() if model.id == MODEL)
    assert qwen.pricing == Pricing(PROMPT_PRICE, COMPLETION_PRICE)


async def test_a_stream_cut_off_mid_verse_is_retried(llm, model_server):
    model_server.script(MODEL, Stall("Yo I", seconds=0.05), Verse("back"))
    assert (await llm.write_verse(MODEL, MESSAGES)).text == "back"
    assert len(model_server.chat_requests()) == 2


async def test_a_stream_cut_off_every_time_says_so(llm, model_server):
    model_server.script(MODEL, *[Stall("Yo I", seconds=0.05)] * 3)
    with pytest.raises(ModelError, match=r"^qwen/qwen-max: the provider dropped the answer$"):
        await llm.write_verse(MODEL, MESSAGES)
