"""A local OpenAI-compatible moderation server that flags the verses a test chooses.

``POST /v1/moderations`` checks the request as OpenAI does (auth, model, ``input`` a string or a
list of strings) and answers in OpenAI's shape: one result per input, each with ``flagged``,
``categories`` (every category, true or false), ``category_scores`` and
``category_applied_input_types``. An input is flagged for the categories of every phrase
``flag``ged that it contains (case-insensitive); nothing else is ever flagged.

It runs aiohttp on its own event loop in a background thread, like the model server, so sync and
async tests (and subprocesses) reach it over real HTTP at ``server.base_url``:

    with ModerationServer() as server:
        server.flag("hateful line", "hate", "harassment")
        server.fail(500, times=2)  # the next two requests answer 500
        server.down = True  # every request answers 500 until set back
        server.malformed = True  # every answer a 200 that is no moderation
        server.requests()  # the inputs asked about, in arrival order
"""

from __future__ import annotations

import threading
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from tests.fakes.background_server import BackgroundServer

API_PREFIX = "/v1"
MODELS = ("omni-moderation-latest", "omni-moderation-2024-09-26", "text-moderation-latest")
CATEGORIES = (
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/intent",
    "self-harm/instructions",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
)


class ModerationServer(BackgroundServer):
    """An OpenAI moderation look-alike: ``with ModerationServer() as server: ...``."""

    name = "moderation-server"

    def __init__(self, *, api_key: str = "test-key", port: int = 0) -> None:
        super().__init__(port)
        self.api_key = api_key
        self.down = False  # every request answers 500 while set
        self.malformed = False  # every request answers 200 with a body that is no moderation
        self._lock = threading.Lock()
        self._flags: dict[str, frozenset[str]] = {}
        self._failures: deque[int] = deque()
        self._requests: list[str] = []

    def _app(self) -> web.Application:
        app = web.Application(middlewares=[_json_errors])
        app.router.add_post(f"{API_PREFIX}/moderations", self._moderations)
        return app

    # -- scripting and inspection (thread-safe) ----------------------------------------------

    def flag(self, phrase: str, *categories: str) -> None:
        """Inputs containing ``phrase`` are flagged for ``categories`` (OpenAI's names)."""
        unknown = set(categories) - set(CATEGORIES)
        if unknown or not categories:
            raise ValueError(f"categories must be some of {CATEGORIES}, not {categories}")
        with self._lock:
            self._flags[phrase.casefold()] = frozenset(categories)

    def fail(self, status: int = 500, times: int = 1) -> None:
        """The next ``times`` requests answer ``status``."""
        with self._lock:
            self._failures.extend([status] * times)

    def requests(self) -> list[str]:
        """Every input asked about (after auth), in arrival order."""
        with self._lock:
            return list(self._requests)

    # -- the endpoint ------------------------------------------------------------------------

    async def _moderations(self, request: web.Request) -> web.Response:
        authorization = request.headers.get("Authorization")
        if authorization != f"Bearer {self.api_key}":
            return _error(401, "Incorrect API key provided.", "invalid_api_key")
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError):
            return _error(400, "We could not parse the JSON body of your request.")
        problem = _problem(body)
        if problem is not None:
            return _error(problem[0], problem[1])
        inputs = [body["input"]] if isinstance(body["input"], str) else list(body["input"])
        with self._lock:
            self._requests.extend(inputs)
            status = self._failures.popleft() if self._failures else (500 if self.down else None)
        if status is not None:
            return _error(status, "The server had an error while processing your request.")
        model = body.get("model", MODELS[0])
        if self.malformed:
            return web.json_response({"id": "modr-x", "model": model, "results": "not a list"})
        return web.json_response(
            {
                "id": f"modr-{uuid.uuid4().hex[:24]}",
                "model": model,
                "results": [self._result(text) for text in inputs],
            }
        )

    def _result(self, text: str) -> dict[str, Any]:
        with self._lock:
            flagged = {
                category
                for phrase, categories in self._flags.items()
                if phrase in text.casefold()
                for category in categories
            }
        return {
            "flagged": bool(flagged),
            "categories": {category: category in flagged for category in CATEGORIES},
            "category_scores": {
                category: 0.97 if category in flagged else 0.0001 for category in CATEGORIES
            },
            "category_applied_input_types": {
                category: ["text"] if category in flagged else [] for category in CATEGORIES
            },
        }


def _problem(body: object) -> tuple[int, str] | None:
    if not isinstance(body, dict):
        return 400, "We could not parse the JSON body of your request."
    model = body.get("model", MODELS[0])
    if model not in MODELS:
        return 404, f"The model `{model}` does not exist or you do not have access to it."
    text = body.get("input")
    strings = isinstance(text, str) or (
        isinstance(text, list) and text and all(isinstance(item, str) for item in text)
    )
    if not strings:
        return 400, "input must be a string or a non-empty list of strings"
    return None


def _error(status: int, message: str, code: str | None = None) -> web.Response:
    error = {"message": message, "type": "invalid_request_error", "param": None, "code": code}
    return web.json_response({"error": error}, status=status)


@web.middleware
async def _json_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Unknown routes and methods answer with OpenAI's error body, as the real API does."""
    try:
        return await handler(request)
    except web.HTTPException as error:
        return _error(error.status, error.reason)
