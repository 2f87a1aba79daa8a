"""The model catalog: what users type, resolved to a provider's model id."""

from __future__ import annotations

import asyncio
import difflib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from bot.engine.discord_limits import AUTOCOMPLETE_CHOICES
from bot.engine.house_rules import Pricing
from bot.errors import UnknownModel, UserError

log = logging.getLogger(__name__)

CATALOG_TTL_SECONDS = 3600.0
# After a failed refresh, serve the last good list this long before asking again.
RETRY_AFTER_FAILURE_SECONDS = 60.0
CANDIDATES_SHOWN = 5
SUGGESTIONS_SHOWN = 3
QUERY_SHOWN_CHARS = 80

BUILTIN_ALIASES: Mapping[str, str] = {
    "qwen-max": "qwen/qwen-max",
    "llama-3-70b": "meta-llama/llama-3-70b-instruct",
    "llama-3.1-405b": "meta-llama/llama-3.1-405b-instruct",
    "nemotron-ultra": "nvidia/llama-3.1-nemotron-ultra-253b-v1",
    "nemotron": "nvidia/llama-3.1-nemotron-ultra-253b-v1",
    "gpt-4o": "openai/gpt-4o",
    "claude-3.5-sonnet": "anthropic/claude-3.5-sonnet",
    "gemini-pro": "google/gemini-pro-1.5",
    "mistral-large": "mistralai/mistral-large",
    "deepseek-r1": "deepseek/deepseek-r1",
    "grok-2": "x-ai/grok-2",
}


@dataclass(frozen=True, slots=True)
class ModelInfo:
    id: str
    name: str
    context_length: int | None = None
    max_completion_tokens: int | None = None
    # USD per token from the catalog's ``pricing``; None when it lists none or "-1" (unknown).
    pricing: Pricing | None = None


def merged_aliases(extra: Mapping[str, str]) -> dict[str, str]:
    """Built-in aliases overridden by the deployment's own, keyed in lower case."""
    aliases = {alias.lower(): model for alias, model in BUILTIN_ALIASES.items()}
    aliases.update({alias.lower(): model for alias, model in extra.items()})
    return aliases


def _short(model_id: str) -> str:
    return model_id.rsplit("/", 1)[-1]


def _shown(query: str) -> str:
    return query if len(query) <= QUERY_SHOWN_CHARS else query[: QUERY_SHOWN_CHARS - 1] + "…"


def resolve_model(query: str, ids: Sequence[str], aliases: Mapping[str, str]) -> str:
    """The one model id ``query`` names: exact id, alias, unique short name, unique prefix or
    substring. Raises UnknownModel listing candidates or the closest ids."""
    text = query.strip()
    if not text:
        raise UnknownModel("Name a model, for example `qwen-max`.")
    lowered = text.lower()
    exact = [model for model in ids if model.lower() == lowered]
    if exact:
        return exact[0]
    if lowered in aliases:
        return aliases[lowered]
    for matches in (
        [model for model in ids if _short(model).lower() == lowered],
        [model for model in ids if model.lower().startswith(lowered)]
        or [model for model in ids if _short(model).lower().startswith(lowered)],
        [model for model in ids if lowered in model.lower()],
    ):
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise _ambiguous(text, matches)
    raise _unknown(text, ids, aliases)


def _ambiguous(text: str, matches: Sequence[str]) -> UnknownModel:
    ranked = sorted(matches, key=lambda model: (len(model), model))
    shown = ranked[:CANDIDATES_SHOWN]
    more = f" and {len(ranked) - len(shown)} more" if len(ranked) > len(shown) else ""
    listing = ", ".join(f"`{model}`" for model in shown)
    return UnknownModel(
        f"`{_shown(text)}` matches {len(ranked)} models: {listing}{more}. Pick one.",
        tuple(shown),
    )


def _unknown(text: str, ids: Sequence[str], aliases: Mapping[str, str]) -> UnknownModel:
    by_name: dict[str, str] = {}
    for model in ids:
        by_name.setdefault(model.lower(), model)
        by_name.setdefault(_short(model).lower(), model)
    for alias, model in aliases.items():
        by_name.setdefault(alias, model)
    close = difflib.get_close_matches(text.lower(), list(by_name), n=10, cutoff=0.5)
    suggestions = list(dict.fromkeys(by_name[name] for name in close))[:SUGGESTIONS_SHOWN]
    if not suggestions:
        return UnknownModel(f"No model matches `{_shown(text)}`.")
    listing = ", ".join(f"`{model}`" for model in suggestions)
    return UnknownModel(
        f"No model matches `{_shown(text)}`. Did you mean {listing}?", tuple(suggestions)
    )


def rank_models(
    query: str, ids: Iterable[str], aliases: Mapping[str, str], limit: int = AUTOCOMPLETE_CHOICES
) -> list[str]:
    """The best ``limit`` model ids for what has been typed so far, best first (autocomplete)."""
    lowered = query.strip().lower()
    alias_targets = set(aliases.values())
    alias_hits = {model for alias, model in aliases.items() if lowered and lowered in alias}
    scored: list[tuple[float, int, str]] = []
    for model in dict.fromkeys([*ids, *alias_targets]):
        score = _match_score(lowered, model.lower(), model in alias_hits)
        if score is not None:
            popular = 0 if model in alias_targets else 1
            scored.append((score, popular, model))
    scored.sort()
    return [model for _, _, model in scored[:limit]]


def _match_score(query: str, model: str, alias_hit: bool) -> float | None:
    """Lower is better; None means no match."""
    short = _short(model)
    if not query:
        return 5.0
    if query in (model, short):
        return 0.0
    if alias_hit:
        return 1.0
    if model.startswith(query) or short.startswith(query):
        return 2.0
    if query in model:
        return 3.0
    if _is_subsequence(query, model):
        return 4.0 - difflib.SequenceMatcher(None, query, short).ratio() / 2
    return None


def _is_subsequence(query: str, text: str) -> bool:
    remaining = iter(text)
    return all(char in remaining for char in query)


class ModelCatalog:
    """The provider's model list, fetched lazily, cached for an hour, kept when a refresh fails."""

    def __init__(
        self,
        fetch: Callable[[], Awaitable[list[ModelInfo]]],
        aliases: Mapping[str, str],
        *,
        ttl: float = CATALOG_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self.aliases = merged_aliases(aliases)
        self._ttl = ttl
        self._clock = clock
        self._models: dict[str, ModelInfo] = {}
        self._next_refresh = float("-inf")
        self._refresh_lock = asyncio.Lock()

    @property
    def loaded(self) -> bool:
        return bool(self._models)

    def known_ids(self) -> list[str]:
        """The ids known right now without waiting: the cached list, or the aliases' targets."""
        return list(self._models) or list(dict.fromkeys(self.aliases.values()))

    def info(self, model_id: str) -> ModelInfo | None:
        return self._models.get(model_id)

    def pricing(self, *model_ids: str) -> dict[str, Pricing]:
        """The known prices of ``model_ids`` (a model without one is left out)."""
        prices = {}
        for model_id in model_ids:
            info = self._models.get(model_id)
            if info is not None and info.pricing is not None:
                prices[model_id] = info.pricing
        return prices

    async def refresh_if_stale(self) -> None:
        if self._clock() < self._next_refresh:
            return
        async with self._refresh_lock:
            if self._clock() < self._next_refresh:
                return  # Another caller refreshed while this one waited.
            try:
                models = await self._fetch()
            except UserError as error:
                self._next_refresh = self._clock() + RETRY_AFTER_FAILURE_SECONDS
                log.warning(
                    "Model list refresh failed, keeping %d models: %s", len(self._models), error
                )
                return
            self._models = {model.id: model for model in models}
            self._next_refresh = self._clock() + self._ttl

    async def resolve(self, query: str) -> str:
        await self.refresh_if_stale()
        if self._models:
            return resolve_model(query, list(self._models), self.aliases)
        # With no list at all, trust aliases and full ids; the provider has the last word.
        text = query.strip()
        if text.lower() in self.aliases:
            return self.aliases[text.lower()]
        if "/" in text and " " not in text:
            return text
        raise UnknownModel(
            f"The model list is unavailable right now, so `{_shown(text)}` can't be looked up. "
            "Use a full model id such as `qwen/qwen-max`."
        )

    def suggest(self, query: str) -> list[str]:
        return rank_models(query, self.known_ids(), self.aliases)
