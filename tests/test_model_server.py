"""The fake model server, exercised through the real openai client."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import openai
import pytest

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
    default_verse,
)

MODEL = "openai/gpt-4o"
HELLO = [{"role": "user", "content": "Spit a verse"}]


@pytest.fixture(scope="module")
def module_server() -> Iterator[ModelServer]:
    with ModelServer() as server:
        yield server


@pytest.fixture
def server(module_server: ModelServer) -> ModelServer:
    module_server.reset()
    module_server.latency = 0.0
    return module_server


@pytest.fixture
async def client(server: ModelServer) -> AsyncIterator[openai.AsyncOpenAI]:
    client = openai.AsyncOpenAI(base_url=server.base_url, api_key="test-key", max_retries=0)
    yield client
    await client.close()


async def complete(client: openai.AsyncOpenAI, **kwargs: Any) -> Any:
    return await client.chat.completions.create(**{"model": MODEL, "messages": HELLO, **kwargs})


async def stream_text(client: openai.AsyncOpenAI, **kwargs: Any) -> tuple[str, list[Any]]:
    stream = await complete(client, stream=True, **kwargs)
    chunks = [chunk async for chunk in stream]
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices), chunks


async def post_raw(
    server: ModelServer, body: object, api_key: str | None = "test-key"
) -> tuple[int, str, dict[str, Any]]:
    headers = {} if api_key is None else {"Authorization": f"Bearer {api_key}"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{server.base_url}/chat/completions", json=body, headers=headers) as r,
    ):
        return r.status, r.content_type, await r.json()


# -- catalog ---------------------------------------------------------------------------------


async def test_models_list(server: ModelServer, client: openai.AsyncOpenAI) -> None:
    page = await client.models.list()

    assert [model.id for model in page.data] == list(DEFAULT_MODELS)
    extra = page.data[0].model_extra or {}
    assert extra["pricing"] == {"prompt": "0.000001", "completion": "0.000002"}
    assert extra["top_provider"] == {"max_completion_tokens": 4096}
    assert "max_tokens" in extra["supported_parameters"]
    assert server.models_requests == 1


async def test_models_list_needs_no_auth(server: ModelServer) -> None:
    async with aiohttp.ClientSession() as session, session.get(f"{server.base_url}/models") as r:
        assert r.status == 200
        assert r.content_type == "application/json"


async def test_fail_models_then_recover(server: ModelServer, client: openai.AsyncOpenAI) -> None:
    server.fail_models(HttpError(503, "overloaded"), Disconnect())

    with pytest.raises(openai.InternalServerError) as exc_info:
        await client.models.list()
    assert exc_info.value.status_code == 503
    with pytest.raises(openai.APIConnectionError):
        await client.models.list()
    assert len((await client.models.list()).data) == len(DEFAULT_MODELS)
    assert server.models_requests == 3


# -- verses ----------------------------------------------------------------------------------


async def test_non_stream_verse(server: ModelServer, client: openai.AsyncOpenAI) -> None:
    server.script(MODEL, Verse("one two three"))

    completion = await complete(client)

    assert completion.object == "chat.completion"
    assert completion.model == MODEL
    choice = completion.choices[0]
    assert (choice.message.role, choice.message.content) == ("assistant", "one two three")
    assert choice.finish_reason == "stop"
    assert completion.usage.completion_tokens == 3
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + 3


async def test_stream_verse_is_chunked(client: openai.AsyncOpenAI, server: ModelServer) -> None:
    text = "a verse long enough to need several chunks of sixteen characters"
    server.script(MODEL, Verse(text))

    content, chunks = await stream_text(client)

    assert content == text
    assert len(chunks) == -(-len(text) // 16) + 1  # the content chunks, then the final one
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(chunk.usage is None for chunk in chunks)  # Not asked for.


async def test_stream_sends_usage_in_a_last_chunk_when_asked(
    client: openai.AsyncOpenAI, server: ModelServer
) -> None:
    text = "four words of verse"
    server.script(MODEL, Verse(text))

    content, chunks = await stream_text(client, stream_options={"include_usage": True})

    assert content == text
    assert chunks[-2].choices[0].finish_reason == "stop"
    last = chunks[-1]
    assert last.choices == []  # As OpenRouter sends it: no choices, only the usage.
    assert last.usage.completion_tokens == 4
    assert last.usage.prompt_tokens > 0
    cost = last.usage.model_extra["cost"]
    assert cost == pytest.approx(last.usage.prompt_tokens * 0.000001 + 4 * 0.000002)
    assert all(chunk.usage is None for chunk in chunks[:-1])


async def test_stream_wire_format(server: ModelServer) -> None:
    server.script(MODEL, Verse("hi"))
    body = {"model": MODEL, "messages": HELLO, "stream": True}
    headers = {"Authorization": "Bearer test-key"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{server.base_url}/chat/completions", json=body, headers=headers) as r,
    ):
        assert r.content_type == "text/event-stream"
        wire = await r.text()

    assert wire.startswith(": OPENROUTER PROCESSING\n\n")
    assert wire.endswith("data: [DONE]\n\n")


@pytest.mark.parametrize("text", ["", "  \n "])
async def test_empty_and_blank_verses(
    server: ModelServer, client: openai.AsyncOpenAI, text: str
) -> None:
    server.script(MODEL, Verse(text), Verse(text))

    assert (await complete(client)).choices[0].message.content == text
    content, chunks = await stream_text(client)
    assert content == text
    assert chunks[0].choices[0].delta.role == "assistant"


async def test_reasoning_comes_separately(server: ModelServer, client: openai.AsyncOpenAI) -> None:
    server.script(MODEL, Verse("bars", reasoning="think of a rhyme"))
    server.script(MODEL, Verse("bars", reasoning="think of a rhyme"))

    message = (await complete(client)).choices[0].message
    assert (message.content, getattr(message, "reasoning", None)) == ("bars", "think of a rhyme")
    content, chunks = await stream_text(client)
    reasoning = "".join(getattr(c.choices[0].delta, "reasoning", None) or "" for c in chunks)
    assert (content, reasoning) == ("bars", "think of a rhyme")


async def test_default_verse_counts_turns(client: openai.AsyncOpenAI) -> None:
    messages = [
        {"role": "system", "content": "You are a rapper"},
        {"role": "user", "content": "Go"},
        {"role": "assistant", "content": "verse one"},
        {"role": "user", "content": "Again"},
        {"role": "assistant", "content": "verse two"},
        {"role": "user", "content": "Again"},
    ]

    first = await complete(client, model="x-ai/grok-2")
    third = await complete(client, model="x-ai/grok-2", messages=messages)

    assert first.choices[0].message.content == default_verse("x-ai/grok-2", 1)
    assert third.choices[0].message.content == default_verse("x-ai/grok-2", 3)
    assert "\n" in default_verse("x-ai/grok-2", 1)


async def test_scripts_are_fifo_per_model(server: ModelServer, client: openai.AsyncOpenAI) -> None:
    server.script(MODEL, Verse("first"), Verse("second"))
    server.script("x-ai/grok-2", Verse("grok"))

    answers = [
        (await complete(client, model=model)).choices[0].message.content
        for model in (MODEL, "x-ai/grok-2", MODEL, MODEL)
    ]

    assert answers == ["first", "grok", "second", default_verse(MODEL, 1)]


# -- validation ------------------------------------------------------------------------------


async def test_wrong_api_key_is_401(server: ModelServer) -> None:
    bad = openai.AsyncOpenAI(base_url=server.base_url, api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as exc_info:
        await complete(bad)
    await bad.close()

    assert exc_info.value.status_code == 401
    assert server.chat_requests() == []
    assert (await post_raw(server, {}, api_key=None))[0] == 401


async def test_unknown_model_is_400(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as exc_info:
        await complete(client, model="acme/rapper-9000")

    assert "acme/rapper-9000 is not a valid model ID" in exc_info.value.message


@pytest.mark.parametrize(
    "body",
    [
        ["not", "an", "object"],
        {"messages": HELLO},
        {"model": MODEL, "messages": []},
        {"model": MODEL, "messages": [{"role": "robot", "content": "beep"}]},
        {"model": MODEL, "messages": [{"role": "user", "content": ["parts"]}]},
        {"model": MODEL, "messages": HELLO, "max_tokens": 0},
        {"model": MODEL, "messages": HELLO, "max_tokens": "100"},
        {"model": MODEL, "messages": HELLO, "stream": "yes"},
    ],
)
async def test_malformed_requests_are_400(server: ModelServer, body: object) -> None:
    status, content_type, error = await post_raw(server, body)

    assert (status, content_type) == (400, "application/json")
    assert error["error"]["code"] == 400
    assert len(server.chat_requests()) == 1  # rejected requests are still recorded


async def test_unknown_route_is_json_404(server: ModelServer) -> None:
    async with aiohttp.ClientSession() as session, session.get(f"{server.base_url}/nope") as r:
        assert (r.status, r.content_type) == (404, "application/json")
        assert (await r.json())["error"]["code"] == 404


# -- faults ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "exception"),
    [
        (400, openai.BadRequestError),
        (401, openai.AuthenticationError),
        (402, openai.APIStatusError),
        (403, openai.PermissionDeniedError),
        (404, openai.NotFoundError),
        (408, openai.APIStatusError),
        (429, openai.RateLimitError),
        (500, openai.InternalServerError),
        (502, openai.InternalServerError),
        (503, openai.InternalServerError),
    ],
)
async def test_http_errors_map_to_openai_exceptions(
    server: ModelServer,
    client: openai.AsyncOpenAI,
    status: int,
    exception: type[openai.APIStatusError],
) -> None:
    server.script(MODEL, HttpError(status, "nope", retry_after=2))

    with pytest.raises(exception) as exc_info:
        await complete(client)

    error = exc_info.value
    assert error.status_code == status
    assert error.body == {"code": status, "message": "nope", "metadata": {}}
    assert error.response.headers["Retry-After"] == "2"


async def test_http_error_custom_code_without_retry_after(
    server: ModelServer, client: openai.AsyncOpenAI
) -> None:
    server.script(MODEL, HttpError(429, "slow down", code=4290))

    with pytest.raises(openai.RateLimitError) as exc_info:
        await complete(client, stream=True)

    assert exc_info.value.body == {"code": 4290, "message": "slow down", "metadata": {}}
    assert "Retry-After" not in exc_info.value.response.headers


async def test_body_error_non_stream_is_returned_as_a_hollow_completion(
    server: ModelServer, client: openai.AsyncOpenAI
) -> None:
    server.script(MODEL, BodyError("upstream exploded"))

    completion = await complete(client)

    # The client does not raise: it hands back a ChatCompletion with every field None and
    # the error object among the extra fields.
    assert completion.choices is None
    assert completion.model_extra == {
        "error": {"code": 502, "message": "upstream exploded", "metadata": {}}
    }


async def test_body_error_stream_raises(server: ModelServer, client: openai.AsyncOpenAI) -> None:
    server.script(MODEL, BodyError("upstream exploded", code=503))

    with pytest.raises(openai.APIError, match="upstream exploded") as exc_info:
        await stream_text(client)

    assert exc_info.value.body == {"code": 503, "message": "upstream exploded", "metadata": {}}


async def test_stream_error_after_partial_content(
    server: ModelServer, client: openai.AsyncOpenAI
) -> None:
    server.script(MODEL, StreamError("half a bar, then", "provider disconnected"))
    received: list[str] = []

    stream = await complete(client, stream=True)
    with pytest.raises(openai.APIError, match="provider disconnected"):
        async for chunk in stream:
            received.append(chunk.choices[0].delta.content)

    assert "".join(received) == "half a bar, then"


async def test_stream_error_non_stream_is_a_body_error(
    server: ModelServer, client: openai.AsyncOpenAI
) -> None:
    server.script(MODEL, StreamError("ignored", "provider disconnected"))

    completion = await complete(client)

    assert completion.choices is None
    assert (completion.model_extra or {})["error"]["message"] == "provider disconnected"


@pytest.mark.parametrize("stream", [False, True])
async def test_stall_triggers_client_timeout(
    server: ModelServer, client: openai.AsyncOpenAI, stream: bool
) -> None:
    server.script(MODEL, Stall("some bars"))
    received: list[str] = []
    started = time.monotonic()

    with pytest.raises(openai.APITimeoutError):
        response = await complete(client, stream=stream, timeout=0.5)
        async for chunk in response:
            received.append(chunk.choices[0].delta.content)

    assert time.monotonic() - started < 2
    assert received == (["some bars"] if stream else [])


@pytest.mark.parametrize("stream", [False, True])
async def test_disconnect_is_a_connection_error(
    server: ModelServer, client: openai.AsyncOpenAI, stream: bool
) -> None:
    server.script(MODEL, Disconnect())

    with pytest.raises(openai.APIConnectionError):
        await complete(client, stream=stream)


async def test_latency(server: ModelServer, client: openai.AsyncOpenAI) -> None:
    server.latency = 0.2
    server.script(MODEL, Verse("slow"), Verse("quick", latency=0))

    started = time.monotonic()
    await complete(client)
    slow = time.monotonic() - started
    started = time.monotonic()
    await complete(client)
    quick = time.monotonic() - started

    assert slow >= 0.2
    assert quick < 0.2


# -- recording -------------------------------------------------------------------------------


async def test_requests_are_recorded(server: ModelServer, client: openai.AsyncOpenAI) -> None:
    before = time.monotonic()
    await complete(client, max_tokens=50, extra_headers={"X-Title": "Rap Battle"})
    await stream_text(client, model="x-ai/grok-2")

    first, second = server.chat_requests()
    assert (first.model, first.stream, first.messages) == (MODEL, False, HELLO)
    assert first.body["max_tokens"] == 50
    assert first.headers["X-Title"] == first.headers["x-title"] == "Rap Battle"
    assert first.headers["authorization"] == "Bearer test-key"
    assert (second.model, second.stream) == ("x-ai/grok-2", True)
    assert before <= first.received_at <= second.received_at


async def test_concurrent_requests(server: ModelServer, client: openai.AsyncOpenAI) -> None:
    server.latency = 0.1

    completions = await asyncio.gather(*(complete(client, model=m) for m in DEFAULT_MODELS))

    answers = [completion.choices[0].message.content for completion in completions]
    assert answers == [default_verse(model, 1) for model in DEFAULT_MODELS]
    assert len(server.chat_requests()) == len(DEFAULT_MODELS)


async def test_reset(server: ModelServer, client: openai.AsyncOpenAI) -> None:
    await complete(client)
    await client.models.list()
    server.script(MODEL, Verse("scripted"))
    server.fail_models(HttpError(500))

    server.reset()

    assert server.chat_requests() == []
    assert server.models_requests == 0
    assert (await complete(client)).choices[0].message.content == default_verse(MODEL, 1)
    assert len((await client.models.list()).data) == len(DEFAULT_MODELS)


# -- lifecycle -------------------------------------------------------------------------------


def test_serves_sync_clients() -> None:
    with ModelServer(["acme/rapper"], api_key="k", chunk_size=4) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="k", max_retries=0)
        server.script("acme/rapper", Verse("sync bars"))
        with client.chat.completions.create(
            model="acme/rapper", messages=HELLO, stream=True
        ) as stream:
            content = "".join(chunk.choices[0].delta.content or "" for chunk in stream)
        client.close()

    assert content == "sync bars"


async def test_stop_is_quick_with_stalled_streams(caplog: pytest.LogCaptureFixture) -> None:
    server = ModelServer().start()
    client = openai.AsyncOpenAI(base_url=server.base_url, api_key="test-key", max_retries=0)
    server.script(MODEL, Stall("hanging"), Stall())
    streams = [await complete(client, stream=True) for _ in range(2)]

    with caplog.at_level(logging.WARNING):
        started = time.monotonic()
        await asyncio.to_thread(server.stop)
        assert time.monotonic() - started < 1

    with pytest.raises(openai.APIConnectionError):
        async for _ in streams[0]:
            pass
    await client.close()
    assert caplog.records == []
    with pytest.raises(RuntimeError):
        _ = server.base_url


# -- judges ----------------------------------------------------------------------------------

VERDICT_FORMAT = {
    "type": "json_schema",
    "json_schema": {
        "name": "verdict",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {
                "winner": {"type": "string", "enum": ["qwen/qwen-max", "x-ai/grok-2"]},
                "closing_statement": {"type": "string"},
            },
            "required": ["winner", "closing_statement"],
            "additionalProperties": False,
        },
    },
}


async def judge(client: openai.AsyncOpenAI, **kwargs: Any) -> Any:
    return await complete(client, response_format=VERDICT_FORMAT, **kwargs)


async def test_an_unscripted_judge_names_side_a_with_a_statement(
    server: ModelServer, client: openai.AsyncOpenAI
) -> None:
    completion = await judge(client)

    content = completion.choices[0].message.content
    assert json.loads(content) == {
        "winner": "qwen/qwen-max",
        "closing_statement": default_statement("qwen/qwen-max"),
    }
    assert completion.usage.prompt_tokens == 3
    assert completion.usage.completion_tokens == len(content.split())
    [request] = server.chat_requests()
    assert request.is_judge and request.response_format == VERDICT_FORMAT


async def test_judge_scripts_are_their_own_queue(
    server: ModelServer, client: openai.AsyncOpenAI
) -> None:
    server.script(MODEL, Verse("a verse"))
    server.script_judge(MODEL, Ruling(side=1, statement="B by a mile"))

    ruling = json.loads((await judge(client)).choices[0].message.content)
    verse = (await complete(client)).choices[0].message.content

    assert ruling == {"winner": "x-ai/grok-2", "closing_statement": "B by a mile"}
    assert verse == "a verse"
    assert [r.is_judge for r in server.chat_requests()] == [True, False]


async def test_rulings_in_a_fence_in_prose_naming_neither_and_without_json(
    server: ModelServer, client: openai.AsyncOpenAI
) -> None:
    server.script_judge(
        MODEL,
        Ruling(wrapping=Wrapping.FENCED),
        Ruling(side=1, wrapping=Wrapping.PROSE),
        Ruling(winner="Nobody"),
        Verse("Both MCs were great, I cannot choose."),
    )
    fenced, prose, neither, no_json = [
        (await judge(client)).choices[0].message.content for _ in range(4)
    ]

    assert "```json\n{" in fenced and not fenced.startswith("{")
    block = fenced.split("```json\n", 1)[1].split("\n```", 1)[0]
    assert json.loads(block)["winner"] == "qwen/qwen-max"
    assert prose.startswith("My verdict: {") and '"winner": "x-ai/grok-2"' in prose
    assert json.loads(neither)["winner"] == "Nobody"
    assert no_json == "Both MCs were great, I cannot choose."


@pytest.mark.parametrize(
    ("fault", "raised"),
    [
        (HttpError(503), openai.InternalServerError),
        (HttpError(429, retry_after=2), openai.RateLimitError),
        (Disconnect(), openai.APIConnectionError),
    ],
)
async def test_judge_requests_get_every_fault(
    server: ModelServer, client: openai.AsyncOpenAI, fault: Any, raised: type[Exception]
) -> None:
    server.script_judge(MODEL, fault)
    with pytest.raises(raised):
        await judge(client)
    assert json.loads((await judge(client)).choices[0].message.content)["winner"]


async def test_judge_body_error_and_stall(server: ModelServer, client: openai.AsyncOpenAI) -> None:
    server.script_judge(MODEL, BodyError("upstream down", 502), Stall(seconds=5))
    hollow = await judge(client)
    assert (hollow.model_extra or {})["error"]["code"] == 502
    with pytest.raises(openai.APITimeoutError):
        await judge(client, timeout=0.3)


async def test_a_judge_ruling_can_be_slow(server: ModelServer, client: openai.AsyncOpenAI) -> None:
    server.script_judge(MODEL, Ruling(latency=0.3))
    started = time.monotonic()
    await judge(client)
    assert time.monotonic() - started >= 0.3


@pytest.mark.parametrize(
    "response_format",
    [
        {"type": "xml"},
        "json",
        {"type": "json_schema"},
        {"type": "json_schema", "json_schema": {"name": "v"}},
        {"type": "json_schema", "json_schema": {"name": "v", "schema": {}, "strict": "yes"}},
    ],
)
async def test_malformed_response_formats_are_400(server: ModelServer, response_format) -> None:
    body = {"model": MODEL, "messages": HELLO, "response_format": response_format}
    status, _, payload = await post_raw(server, body)
    assert status == 400
    assert "response_format" in payload["error"]["message"]
