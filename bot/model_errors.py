"""Model faults as typed, one-line errors: what the provider's statuses mean, which are worth a
retry, and whether a failure is the model's own or would fail every battle alike."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping
from typing import Any

import openai

from bot.engine.spend import TokenUsage
from bot.errors import UserError

RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504, 520, 522, 524, 529})
STATUS_REASONS = {
    400: "the provider rejected the request",
    401: "the API key was rejected",
    402: "the provider is out of credits",
    403: "the provider's moderation refused the request",
    404: "the provider does not know this model",
    408: "the provider timed out",
    413: "the battle is too long for this model",
    429: "the provider is rate limiting requests",
    500: "the provider had an internal error",
    502: "the model is down",
    503: "no provider is available for this model",
    504: "the provider timed out",
}
PROVIDER_MESSAGE_CHARS = 120


class ModelError(UserError):
    """A model could not produce a verse; the message names the model and the reason."""

    def __init__(
        self,
        model: str,
        reason: str,
        *,
        status: int | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
    ) -> None:
        suffix = f" ({status})" if status else ""
        super().__init__(f"{model}: {reason}{suffix}")
        self.model = model
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after
        # What the provider reported the failed request (or a verse's every attempt) used,
        # when it billed one: counted in the spend all the same.
        self.usage: TokenUsage | None = None


# The key rejected, or the account out of credits: no battle can be played until that is fixed.
ACCOUNT_STATUSES = frozenset({401, 402})


def is_the_models_fault(error: UserError) -> bool:
    """Whether a failed verse is this model's own failure (a forfeit), not the provider's or the
    account's, which would fail every battle alike (the run stops instead)."""
    if not isinstance(error, ModelError) or error.status in ACCOUNT_STATUSES:
        return False
    cause: BaseException | None = error.__cause__
    while cause is not None:
        # Unreachable: the connection refused (aiohttp reports that as a timeout, too).
        if isinstance(cause, ConnectionError):
            return False
        if isinstance(cause, openai.APIConnectionError) and not isinstance(
            cause, openai.APITimeoutError
        ):
            return False
        cause = cause.__cause__ or cause.__context__
    return True


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as seconds to wait; it may be a number of seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - (time.time() if now is None else now))


def model_error(model: str, error: openai.OpenAIError) -> ModelError:
    """One typed, one-line error for anything the openai client raised."""
    if isinstance(error, openai.APITimeoutError) and not _refused(error):
        return ModelError(model, "the provider stopped answering", retryable=True)
    if isinstance(error, openai.APIConnectionError):
        return ModelError(model, "could not reach the provider", retryable=True)
    if isinstance(error, openai.APIStatusError):
        status = error.status_code
        retry_after = parse_retry_after(error.response.headers.get("retry-after"))
        return _status_error(model, status, _provider_message(error.body), retry_after)
    if isinstance(error, openai.APIError):
        # An error object inside a 200 answer or an SSE event.
        return provider_body_error(
            model, error.body if isinstance(error.body, dict) else {}, error.message
        )
    return ModelError(model, f"unexpected client error: {_clip(str(error))}")


def provider_body_error(model: str, body: Mapping[str, Any], fallback_message: str) -> ModelError:
    """An error object the provider sent instead of an answer; its code is an HTTP status."""
    inner = body.get("error", body)
    status = _as_status(inner.get("code") if isinstance(inner, dict) else None)
    if status is None:
        status = _as_status(body.get("code"))
    message = _provider_message(body) or fallback_message
    if status is None:
        return ModelError(model, f"the provider failed: {_clip(message)}", retryable=True)
    return _status_error(model, status, message, None)


def _refused(error: BaseException) -> bool:
    """Whether a connection was refused: the aiohttp transport reports that as a timeout too."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, ConnectionError):
            return True
        cause = cause.__cause__ or cause.__context__
    return False


def _status_error(
    model: str, status: int, provider_message: str | None, retry_after: float | None
) -> ModelError:
    reason = STATUS_REASONS.get(status)
    if reason is None:
        reason = "the provider had an error" if status >= 500 else "the provider refused"
    if status == 400 and provider_message:
        reason = f"{reason}: {_clip(provider_message)}"
    retryable = status in RETRYABLE_STATUSES or status >= 500
    return ModelError(model, reason, status=status, retryable=retryable, retry_after=retry_after)


def _provider_message(body: object) -> str | None:
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return inner["message"]
    return None


def _as_status(code: object) -> int | None:
    try:
        status = int(code)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None
    return status if 100 <= status <= 599 else None


def _clip(text: str) -> str:
    line = " ".join(text.split())
    if len(line) <= PROVIDER_MESSAGE_CHARS:
        return line
    return line[: PROVIDER_MESSAGE_CHARS - 1] + "…"
