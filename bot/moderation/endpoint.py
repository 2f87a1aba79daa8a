"""Any OpenAI-compatible moderation endpoint (``POST /moderations``), through the official client.

One request a verse, with a short timeout and one retry (the client's own, with its backoff and
Retry-After): a verse waits for it, so an endpoint that is slow or down must give up quickly, and
then the offline word list decides (bot/services/moderation/screen.py). Every fault is one
ModerationError naming the endpoint and what failed.
"""

from __future__ import annotations

from collections.abc import Mapping

import openai

from bot.services.moderation.screen import ModerationError
from bot.settings import DEFAULT_MODERATION_MODEL

TIMEOUT_SECONDS = 5.0
CONNECT_TIMEOUT_SECONDS = 2.0
MAX_RETRIES = 1


class ModerationClient:
    """``ModerationEndpoint`` over an OpenAI-compatible endpoint; ``await close()`` when done."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        model: str = DEFAULT_MODERATION_MODEL,
        *,
        timeout: float = TIMEOUT_SECONDS,
        max_retries: int = MAX_RETRIES,
    ) -> None:
        self.name = base_url.rstrip("/")
        self.model = model
        self._client = openai.AsyncOpenAI(
            base_url=base_url,
            # The client refuses to start without a key; the endpoint then answers 401 itself.
            api_key=api_key or "missing",
            max_retries=max_retries,
            timeout=openai.Timeout(timeout, connect=min(timeout, CONNECT_TIMEOUT_SECONDS)),
        )

    async def close(self) -> None:
        await self._client.close()

    async def flags(self, text: str) -> Mapping[str, bool]:
        try:
            response = await self._client.moderations.create(model=self.model, input=text)
        except openai.APITimeoutError:
            raise self._error("timed out") from None
        except openai.APIConnectionError:
            raise self._error("unreachable") from None
        except openai.APIStatusError as error:
            raise self._error(f"answered {error.status_code}") from None
        except openai.APIError as error:  # e.g. a body that is not a moderation at all
            raise self._error(f"answered with something else ({type(error).__name__})") from None
        try:
            categories = response.results[0].categories.model_dump(by_alias=True)
        except (AttributeError, IndexError, TypeError):
            raise self._error("answered with no moderation result") from None
        return {str(name): bool(flagged) for name, flagged in categories.items()}

    def _error(self, reason: str) -> ModerationError:
        return ModerationError(f"Moderation endpoint {self.name}: {reason}")
