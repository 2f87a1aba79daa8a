"""A local OpenAI/OpenRouter-compatible model server with scriptable replies and faults.

It runs aiohttp on its own event loop in a background thread, so sync tests, async tests,
subprocesses and benchmarks can all reach it over real HTTP at ``server.base_url``.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bot.engine.battle import FINAL_ROUND, Battle
from bot.engine.transcript import render
from tests.fakes.background_server import BackgroundServer

DEFAULT_MODELS: tuple[str, ...] = (
    "qwen/qwen-max",
    "meta-llama/llama-3-70b-instruct",
    "nvidia/llama-3.1-nemotron-ultra-253b-v1",
    "openai/gpt-4o",
    "anthropic/claude-3.5-sonnet",
    "google/gemini-pro-1.5",
    "mistralai/mistral-large",
    "deepseek/deepseek-r1",
    "x-ai/grok-2",
    "meta-llama/llama-3.1-405b-instruct",
)

API_PREFIX = "/api/v1"
_ROLES = frozenset({"system", "user", "assistant"})
_SUPPORTED_PARAMETERS = ("max_tokens", "temperature", "top_p", "stop", "seed", "reasoning")
_KEEPALIVE = b": OPENROUTER PROCESSING\n\n"
_DONE = b"data: [DONE]\n\n"
_CATALOG_CREATED = 1_700_000_000
# USD per token, as the catalog lists every model's price and the usage reports charge it.
PROMPT_PRICE = 0.000001
COMPLETION_PRICE = 0.000002


def default_verse(model: str, turn: int) -> str:
    """The verse answered when nothing is scripted; ``turn`` is 1 + the assistant messages sent."""
    return (
        f"I'm {model}, verse {turn}, hear me spit\n"
        f"line two of verse {turn}, the crowd goes wild with it"
    )


def default_transcript(model_a: str, model_b: str, rounds: int = 3) -> str:
    """The transcript of a battle in which nothing was scripted: every verse the default."""
    battle = Battle(model_a, model_b, rounds=rounds)
    turns, counts = [], {model_a: 0, model_b: 0}
    for slot in battle.plan():
        if slot.side is None:
            turns.append(battle.turn(slot, FINAL_ROUND))
            continue
        model = battle.model(slot.side)
        counts[model] += 1
        turns.append(battle.turn(slot, default_verse(model, counts[model])))
    return render(model_a, model_b, turns)


@dataclass(frozen=True)
class Verse:
    """A successful answer; ``reasoning`` goes in OpenRouter's separate ``reasoning`` field."""

    text: str
    latency: float | None = None
    reasoning: str | None = None


@dataclass(frozen=True)
class HttpError:
    """An HTTP error status with OpenRouter's error body (and ``Retry-After`` if set)."""

    status: int
    message: str = "Provider returned error"
    code: int | None = None
    retry_after: float | None = None


@dataclass(frozen=True)
class BodyError:
    """HTTP 200 whose body (or first SSE event) is an error object instead of a completion."""

    message: str
    code: int = 502


@dataclass(frozen=True)
class StreamError:
    """Stream ``partial_text``, then an error chunk with ``finish_reason="error"``.

    Without streaming it behaves like ``BodyError``.
    """

    partial_text: str
    message: str
    code: int = 502
    # The error chunk carries a usage report for the partial text (a provider billing it).
    billed: bool = False


@dataclass(frozen=True)
class Stall:
    """Send headers (and, when streaming, ``partial_text``), go silent, then drop the connection."""

    partial_text: str = ""
    seconds: float = 3600


@dataclass(frozen=True)
class Disconnect:
    """Close the connection without sending a response."""


class Wrapping(enum.Enum):
    """How a ruling's JSON is sent: bare, in a ```json block with prose around, or in prose."""

    PLAIN = "plain"
    FENCED = "fenced"
    PROSE = "prose"


@dataclass(frozen=True)
class Ruling:
    """A judge's answer to a request with a ``json_schema`` response format.

    The winner is ``winner`` if given (a name that may match neither side), else the name at
    ``side`` (0 for side A, 1 for side B) in the request's ``winner`` enum.
    """

    side: int = 0
    statement: str | None = None
    winner: str | None = None
    wrapping: Wrapping = Wrapping.PLAIN
    latency: float | None = None

    def content(self, names: list[str]) -> str:
        winner = self.winner if self.winner is not None else _name_at(names, self.side)
        statement = self.statement if self.statement is not None else default_statement(winner)
        text = json.dumps({"winner": winner, "closing_statement": statement})
        match self.wrapping:
            case Wrapping.PLAIN:
                return text
            case Wrapping.FENCED:
                return f"Here is my verdict.\n\n```json\n{text}\n```\n\nRespect to both MCs."
            case Wrapping.PROSE:
                return f"My verdict: {text} That's final."


def default_statement(winner: str) -> str:
    """The closing statement of an unscripted ruling."""
    return f"{winner} won on wordplay, flow and sharper rebuttals."


def _name_at(names: list[str], index: int) -> str:
    return names[index] if 0 <= index < len(names) else f"side {index}"


Reply = Verse | Ruling | HttpError | BodyError | StreamError | Stall | Disconnect
_Answered = Verse | BodyError | StreamError | Stall  # replies that start an HTTP 200 response


@dataclass(frozen=True)
class RecordedRequest:
    """A chat completion request that passed auth (rejected-as-invalid ones included).

    ``headers`` has lower-case keys and case-insensitive lookups. A body that is not a
    JSON object is recorded as ``{}``.
    """

    model: str
    body: dict[str, Any]
    headers: dict[str, str]
    messages: list[dict[str, Any]]
    stream: bool
    received_at: float

    @property
    def response_format(self) -> Any:
        return self.body.get("response_format")

    @property
    def is_judge(self) -> bool:
        """Whether this asks for a structured verdict (a ``json_schema`` response format)."""
        return _is_judge_request(self.body)


class _Headers(dict[str, str]):
    """A plain dict of headers with lower-case keys that also looks keys up in any case."""

    def __init__(self, items: Iterable[tuple[str, str]]) -> None:
        super().__init__((key.lower(), value) for key, value in items)

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(key.lower(), default)


class ModelServer(BackgroundServer):
    """An OpenRouter look-alike: ``with ModelServer() as server: ...`` then use ``base_url``."""

    name = "model-server"
    api_prefix = API_PREFIX

    def __init__(
        self,
        models: Iterable[str] = DEFAULT_MODELS,
        *,
        api_key: str = "test-key",
        latency: float = 0.0,
        chunk_size: int = 16,
        port: int = 0,
    ) -> None:
        if chunk_size < 1:
            raise ValueError("chunk_size must be positive")
        super().__init__(port)
        self.models: tuple[str, ...] = tuple(models)
        self.api_key = api_key
        self.latency = latency
        self.chunk_size = chunk_size
        self._lock = threading.Lock()
        self._scripts: dict[str, deque[Reply]] = {}
        self._judge_scripts: dict[str, deque[Reply]] = {}
        self._model_failures: deque[HttpError | Disconnect] = deque()
        self._requests: list[RecordedRequest] = []
        self._models_requests = 0
        # USD per (prompt, completion) token by model, where a test sets its own; the catalog
        # lists it and the usage reports charge it. Other models cost PROMPT/COMPLETION_PRICE.
        self.prices: dict[str, tuple[float, float]] = {}
        self._usage_sent: list[tuple[str, dict[str, Any]]] = []

    def _app(self) -> web.Application:
        app = web.Application(middlewares=[_json_errors])
        app.router.add_get(f"{API_PREFIX}/models", self._list_models)
        app.router.add_post(f"{API_PREFIX}/chat/completions", self._chat_completions)
        return app

    # -- scripting and inspection (thread-safe) ----------------------------------------------

    def script(self, model: str, *replies: Reply) -> None:
        """Queue replies for ``model``; once they are used up the default verse is answered."""
        with self._lock:
            self._scripts.setdefault(model, deque()).extend(replies)

    def script_judge(self, model: str, *replies: Reply) -> None:
        """Queue replies to ``model``'s judge requests (those with a ``json_schema`` format).

        Once they are used up a ``Ruling()`` is answered: side A wins, with a statement.
        """
        with self._lock:
            self._judge_scripts.setdefault(model, deque()).extend(replies)

    def fail_models(self, *replies: HttpError | Disconnect) -> None:
        """Queue failures for the next ``GET /models`` requests."""
        with self._lock:
            self._model_failures.extend(replies)

    def chat_requests(self) -> list[RecordedRequest]:
        """The recorded chat completion requests, in arrival order."""
        with self._lock:
            return list(self._requests)

    def usage_sent(self) -> list[tuple[str, dict[str, Any]]]:
        """(model, usage report) of every stream that ended with one, in the order sent."""
        with self._lock:
            return list(self._usage_sent)

    @property
    def models_requests(self) -> int:
        """How many ``GET /models`` requests were served, failed ones included."""
        with self._lock:
            return self._models_requests

    def reset(self) -> None:
        """Forget scripted replies, queued model-list failures and everything recorded."""
        with self._lock:
            self._scripts.clear()
            self._judge_scripts.clear()
            self._model_failures.clear()
            self._requests.clear()
            self._models_requests = 0
            self.prices.clear()
            self._usage_sent.clear()

    # -- handlers ----------------------------------------------------------------------------

    async def _list_models(self, request: web.Request) -> web.StreamResponse:
        with self._lock:
            self._models_requests += 1
            failure = self._model_failures.popleft() if self._model_failures else None
        if isinstance(failure, Disconnect):
            return _drop(request)
        if isinstance(failure, HttpError):
            return _http_error(failure)
        entries = [_catalog_entry(model, self._price(model)) for model in self.models]
        return web.json_response({"data": entries})

    async def _chat_completions(self, request: web.Request) -> web.StreamResponse:
        received_at = time.monotonic()
        authorization = request.headers.get("Authorization")
        if authorization != f"Bearer {self.api_key}":
            message = "No auth credentials found" if authorization is None else "User not found."
            return _error_response(401, message)

        try:
            body = await request.json()
        except ValueError:
            body = None
        self._record(request, body, received_at)
        problem = _validate(body, self.models)
        if problem is not None:
            return _error_response(400, problem)

        model: str = body["model"]
        if _is_judge_request(body):
            reply = self._next_ruling(model, body)
        else:
            reply = self._next_reply(model, body["messages"])
        latency = reply.latency if isinstance(reply, Verse) else None
        stopping = not await self._pause(self.latency if latency is None else latency)

        if stopping or isinstance(reply, Disconnect):
            return _drop(request)
        if isinstance(reply, HttpError):
            return _http_error(reply)
        prompt_tokens = sum(_count_tokens(message["content"]) for message in body["messages"])
        completion = _Completion(model, prompt_tokens, self._price(model))
        if body.get("stream"):
            return await self._stream(request, reply, completion, body)
        return await self._answer(request, reply, completion)

    async def _answer(
        self, request: web.Request, reply: _Answered, completion: _Completion
    ) -> web.StreamResponse:
        match reply:
            case Verse():
                return web.json_response(completion.message(reply.text, reply.reasoning))
            case BodyError(message=message, code=code) | StreamError(message=message, code=code):
                return web.json_response(_error_object(code, message))
            case Stall(seconds=seconds):
                response = web.StreamResponse(headers={"Content-Type": "application/json"})
                await response.prepare(request)
                await self._pause(seconds)
                return _drop(request, response)

    async def _stream(
        self,
        request: web.Request,
        reply: _Answered,
        completion: _Completion,
        request_body: dict[str, Any],
    ) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        await response.write(_KEEPALIVE)

        async def send(*deltas: dict[str, Any]) -> None:
            for delta in deltas:
                await response.write(_sse(completion.chunk(delta)))

        match reply:
            case Verse(text=text, reasoning=reasoning):
                await send(*self._deltas(text, reasoning))
                final = _sse(completion.chunk({}, finish_reason="stop"))
                if _wants_usage(request_body):
                    # As OpenRouter does: one more chunk, with no choices, carrying the usage.
                    usage = completion.usage_chunk(text, reasoning)
                    final += _sse(usage)
                    with self._lock:
                        self._usage_sent.append((completion.model, usage["usage"]))
                await response.write(final + _DONE)
            case BodyError(message=message, code=code):
                await response.write(_sse(_error_object(code, message)))
            case StreamError(partial_text=partial, message=message, code=code):
                await send(*self._deltas(partial))
                error = completion.chunk({"content": ""}, finish_reason="error")
                error.update(_error_object(code, message))
                if reply.billed and _wants_usage(request_body):
                    error["usage"] = completion.usage(partial)
                    with self._lock:
                        self._usage_sent.append((completion.model, error["usage"]))
                await response.write(_sse(error))
            case Stall(partial_text=partial, seconds=seconds):
                await send(*self._deltas(partial))
                await self._pause(seconds)
                return _drop(request, response)
        await response.write_eof()
        return response

    # -- helpers -----------------------------------------------------------------------------

    def _record(self, request: web.Request, body: object, received_at: float) -> None:
        body = body if isinstance(body, dict) else {}
        model, messages = body.get("model"), body.get("messages")
        recorded = RecordedRequest(
            model=model if isinstance(model, str) else "",
            body=body,
            headers=_Headers(request.headers.items()),
            messages=messages if isinstance(messages, list) else [],
            stream=body.get("stream") is True,
            received_at=received_at,
        )
        with self._lock:
            self._requests.append(recorded)

    def _next_reply(self, model: str, messages: list[dict[str, Any]]) -> Reply:
        with self._lock:
            queue = self._scripts.get(model)
            if queue:
                return queue.popleft()
        turn = 1 + sum(message["role"] == "assistant" for message in messages)
        return Verse(default_verse(model, turn))

    def _next_ruling(self, model: str, body: dict[str, Any]) -> Reply:
        """A judge's reply, with a ruling written out as the answer's text."""
        with self._lock:
            queue = self._judge_scripts.get(model)
            reply: Reply = queue.popleft() if queue else Ruling()
        if isinstance(reply, Ruling):
            names = _winner_names(body)
            return Verse(reply.content(names), reply.latency)
        return reply

    def _deltas(self, content: str, reasoning: str | None = None) -> list[dict[str, Any]]:
        """Split an answer into stream deltas: reasoning first, the first one carrying the role."""
        deltas: list[dict[str, Any]] = [
            {"content": "", "reasoning": piece} for piece in self._pieces(reasoning or "")
        ]
        deltas += [{"content": piece} for piece in self._pieces(content)]
        return [{"role": "assistant", **(deltas[0] if deltas else {"content": ""})}, *deltas[1:]]

    def _price(self, model: str) -> tuple[float, float]:
        return self.prices.get(model, (PROMPT_PRICE, COMPLETION_PRICE))

    def _pieces(self, text: str) -> list[str]:
        return [text[i : i + self.chunk_size] for i in range(0, len(text), self.chunk_size)]

    async def _pause(self, seconds: float) -> bool:
        """Sleep for ``seconds``; wake early and return False if the server is stopping."""
        if self._stopping is None or self._stopping.is_set():
            return False
        if seconds > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), seconds)
        return not self._stopping.is_set()


@dataclass(frozen=True)
class _Completion:
    """Builds the JSON objects of one chat completion."""

    model: str
    prompt_tokens: int
    price: tuple[float, float] = (0.0, 0.0)  # USD per prompt and per completion token
    id: str = field(default_factory=lambda: f"gen-{uuid.uuid4().hex}")
    created: int = field(default_factory=lambda: int(time.time()))

    def _header(self, kind: str) -> dict[str, Any]:
        return {"id": self.id, "object": kind, "created": self.created, "model": self.model}

    def usage(self, text: str, reasoning: str | None = None) -> dict[str, Any]:
        """OpenRouter's usage report, ``cost`` (USD) included, priced as the catalog lists."""
        completion_tokens = _count_tokens(text) + _count_tokens(reasoning or "")
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": self.prompt_tokens + completion_tokens,
            "cost": self.prompt_tokens * self.price[0] + completion_tokens * self.price[1],
        }

    def usage_chunk(self, text: str, reasoning: str | None = None) -> dict[str, Any]:
        return {
            **self._header("chat.completion.chunk"),
            "choices": [],
            "usage": self.usage(text, reasoning),
        }

    def message(self, text: str, reasoning: str | None = None) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": text}
        if reasoning is not None:
            message["reasoning"] = reasoning
        choice = {"index": 0, "message": message, "finish_reason": "stop"}
        return {
            **self._header("chat.completion"),
            "choices": [choice],
            "usage": self.usage(text, reasoning),
        }

    def chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "finish_reason": finish_reason}
        return {**self._header("chat.completion.chunk"), "choices": [choice]}


def _validate(body: object, models: tuple[str, ...]) -> str | None:
    """Why ``body`` is not a valid chat completion request, or None if it is."""
    if not isinstance(body, dict):
        return "Request body must be a JSON object"
    model = body.get("model")
    if not isinstance(model, str):
        return "model must be a string"
    if model not in models:
        return f"{model} is not a valid model ID"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages must be a non-empty array"
    for index, message in enumerate(messages):
        if (
            not isinstance(message, dict)
            or message.get("role") not in _ROLES
            or not isinstance(message.get("content"), str)
        ):
            return f"messages[{index}] must be {{role: system|user|assistant, content: string}}"
    max_tokens = body.get("max_tokens")
    if max_tokens is not None and (type(max_tokens) is not int or max_tokens < 1):
        return "max_tokens must be a positive integer"
    if body.get("stream") is not None and not isinstance(body["stream"], bool):
        return "stream must be a boolean"
    if body.get("stream_options") is not None and not isinstance(body["stream_options"], dict):
        return "stream_options must be an object"
    return _response_format_problem(body.get("response_format"))


def _response_format_problem(response_format: object) -> str | None:
    """Why a ``response_format`` is invalid (OpenAI's rules for it), or None."""
    if response_format is None:
        return None
    if not isinstance(response_format, dict) or response_format.get("type") not in (
        "text",
        "json_object",
        "json_schema",
    ):
        return "response_format.type must be text, json_object or json_schema"
    if response_format["type"] != "json_schema":
        return None
    spec = response_format.get("json_schema")
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
        return "response_format.json_schema needs a name"
    if not isinstance(spec.get("schema"), dict):
        return "response_format.json_schema.schema must be an object"
    if "strict" in spec and not isinstance(spec["strict"], bool):
        return "response_format.json_schema.strict must be a boolean"
    return None


def _is_judge_request(body: dict[str, Any]) -> bool:
    response_format = body.get("response_format")
    return isinstance(response_format, dict) and response_format.get("type") == "json_schema"


def _winner_names(body: dict[str, Any]) -> list[str]:
    """The names a ``winner`` may take, from the request's schema (empty if it has none)."""
    try:
        names = body["response_format"]["json_schema"]["schema"]["properties"]["winner"]["enum"]
    except (KeyError, TypeError):
        return []
    return [name for name in names if isinstance(name, str)] if isinstance(names, list) else []


def _catalog_entry(model: str, price: tuple[float, float]) -> dict[str, Any]:
    vendor, _, name = model.partition("/")
    return {
        "id": model,
        "name": f"{vendor.title()}: {name.replace('-', ' ').title()}",
        "created": _CATALOG_CREATED,
        "context_length": 32768,
        "pricing": {"prompt": _price_text(price[0]), "completion": _price_text(price[1])},
        "top_provider": {"max_completion_tokens": 4096},
        "supported_parameters": list(_SUPPORTED_PARAMETERS),
    }


def _price_text(usd_per_token: float) -> str:
    """As OpenRouter writes a price: a decimal string such as "0.000001"."""
    return f"{usd_per_token:.10f}".rstrip("0").rstrip(".") or "0"


def _wants_usage(body: dict[str, Any]) -> bool:
    options = body.get("stream_options")
    return isinstance(options, dict) and options.get("include_usage") is True


def _count_tokens(text: str) -> int:
    return len(text.split())


def _error_object(code: int, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "metadata": {}}}


def _error_response(
    status: int, message: str, *, code: int | None = None, headers: dict[str, str] | None = None
) -> web.Response:
    return web.json_response(_error_object(code or status, message), status=status, headers=headers)


def _http_error(error: HttpError) -> web.Response:
    headers = None if error.retry_after is None else {"Retry-After": f"{error.retry_after:g}"}
    return _error_response(error.status, error.message, code=error.code, headers=headers)


def _drop(request: web.Request, response: web.StreamResponse | None = None) -> web.StreamResponse:
    """Close the connection; aiohttp then has nowhere to write the returned response."""
    if request.transport is not None:
        request.transport.close()
    return response if response is not None else web.Response()


def _sse(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


@web.middleware
async def _json_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Answer routing errors (404, 405) with OpenRouter's JSON error body too."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _error_response(exc.status, exc.reason)


# -- standalone serving (benchmarks: python -m tests.fakes.model_server --port P --latency S) --


class StampedModelServer(ModelServer):
    """A ModelServer for load runs in their own process.

    Every default verse ends with a line ``#vNNNNNNN``, a nonce unique to its request, and each
    answer that was sent in full is recorded as one JSON line in ``record``: the nonce, the
    model, and when the request arrived and its answer finished, as ``time.monotonic()``
    (CLOCK_MONOTONIC, which every process on a Linux machine shares).
    """

    def __init__(self, *, record: str | None = None, **options: Any) -> None:
        super().__init__(**options)
        self._record_file = None
        if record is not None:
            self._record_file = open(record, "a", buffering=1, encoding="utf-8")
        self._nonces = 0
        self._arrivals: dict[str, float] = {}

    def stop(self) -> None:
        super().stop()
        if self._record_file is not None:
            self._record_file.close()
            self._record_file = None

    def _next_reply(self, model: str, messages: list[dict[str, Any]]) -> Reply:
        reply = super()._next_reply(model, messages)
        if not isinstance(reply, Verse):
            return reply
        with self._lock:
            self._nonces += 1
            nonce = f"v{self._nonces:07d}"
            self._arrivals[nonce] = time.monotonic()
        return Verse(f"{reply.text}\n#{nonce}", reply.latency, reply.reasoning)

    async def _stream(
        self,
        request: web.Request,
        reply: _Answered,
        completion: _Completion,
        request_body: dict[str, Any],
    ) -> web.StreamResponse:
        response = await super()._stream(request, reply, completion, request_body)
        self._stamp(reply, completion.model)
        return response

    async def _answer(
        self, request: web.Request, reply: _Answered, completion: _Completion
    ) -> web.StreamResponse:
        response = await super()._answer(request, reply, completion)
        self._stamp(reply, completion.model)
        return response

    def _stamp(self, reply: _Answered, model: str) -> None:
        finished_at = time.monotonic()
        if not isinstance(reply, Verse) or "\n#v" not in reply.text:
            return
        nonce = reply.text.rsplit("\n#", 1)[1]
        with self._lock:
            received_at = self._arrivals.pop(nonce, finished_at)
            if self._record_file is not None:
                line = {"nonce": nonce, "model": model, "received_at": received_at}
                line["finished_at"] = finished_at
                self._record_file.write(json.dumps(line) + "\n")


def serve(argv: list[str] | None = None) -> int:
    """Serve until SIGINT or SIGTERM; prints ``serving BASE_URL`` once listening."""
    import argparse
    import signal

    parser = argparse.ArgumentParser(prog="python -m tests.fakes.model_server")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free one)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--chunk-size", type=int, default=16, help="characters per stream chunk")
    parser.add_argument("--api-key", default="test-key")
    parser.add_argument("--record", default=None, help="append one JSON line per answer here")
    arguments = parser.parse_args(argv)
    stop = threading.Event()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signal_number, lambda *_: stop.set())
    server = StampedModelServer(
        port=arguments.port,
        record=arguments.record,
        api_key=arguments.api_key,
        latency=arguments.latency,
        chunk_size=arguments.chunk_size,
    )
    with server:
        print(f"serving {server.base_url}", flush=True)
        while not stop.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(serve())
