"""Resolving what users type to model ids, autocomplete ranking and the cached catalog."""

import pytest

from bot.errors import UnknownModel, UserError
from bot.models import ModelCatalog, ModelInfo, merged_aliases, rank_models, resolve_model

IDS = [
    "qwen/qwen-max",
    "qwen/qwen-2.5-72b-instruct",
    "meta-llama/llama-3-70b-instruct",
    "meta-llama/llama-3-8b-instruct",
    "meta-llama/llama-3.1-405b-instruct",
    "meta-llama/llama-3.1-70b-instruct",
    "meta-llama/llama-3.1-8b-instruct",
    "openai/gpt-4o",
    "openai/gpt-4o-mini",
    "x-ai/grok-2",
    "nvidia/llama-3.1-nemotron-ultra-253b-v1",
]
ALIASES = merged_aliases({"boss": "openai/gpt-4o"})


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("qwen/qwen-max", "qwen/qwen-max"),  # exact id
        ("QWEN/QWEN-MAX", "qwen/qwen-max"),
        ("qwen-max", "qwen/qwen-max"),  # built-in alias
        ("llama-3-70b", "meta-llama/llama-3-70b-instruct"),
        ("nemotron-ultra", "nvidia/llama-3.1-nemotron-ultra-253b-v1"),
        ("Boss", "openai/gpt-4o"),  # alias from settings
        ("gpt-4o", "openai/gpt-4o"),  # part after the slash, though a prefix of -mini too
        ("grok", "x-ai/grok-2"),  # unique prefix of the short name
        ("x-ai", "x-ai/grok-2"),  # unique prefix of the id
        ("405b", "meta-llama/llama-3.1-405b-instruct"),  # unique substring
    ],
)
def test_resolution_order(typed, expected):
    assert resolve_model(f"  {typed} ", IDS, ALIASES) == expected


def test_ambiguous_input_lists_up_to_five_candidates():
    with pytest.raises(UnknownModel) as caught:
        resolve_model("meta-llama/llama", IDS, ALIASES)
    error = caught.value
    assert "matches 5 models" in str(error)
    assert len(error.candidates) == 5
    with pytest.raises(UnknownModel) as caught:
        resolve_model("llama-3", IDS, ALIASES)
    assert len(caught.value.candidates) == 5 and "and 1 more" in str(caught.value)


def test_no_match_suggests_the_closest_ids():
    with pytest.raises(UnknownModel) as caught:
        resolve_model("qwen-maks", IDS, ALIASES)
    assert caught.value.candidates[0] == "qwen/qwen-max"
    assert str(caught.value).startswith(
        "No model matches `qwen-maks`. Did you mean `qwen/qwen-max`"
    )
    with pytest.raises(UnknownModel, match=r"No model matches `zzzz`\.$"):
        resolve_model("zzzz", IDS, ALIASES)
    with pytest.raises(UnknownModel, match="Name a model"):
        resolve_model("  ", IDS, ALIASES)


def test_hostile_input_is_clipped_in_the_message():
    with pytest.raises(UnknownModel) as caught:
        resolve_model("@everyone " + "z" * 5000, IDS, ALIASES)
    assert len(str(caught.value)) < 200


def test_autocomplete_ranks_exact_then_alias_then_prefix_and_caps_at_25():
    assert rank_models("qwen-max", IDS, ALIASES)[0] == "qwen/qwen-max"
    assert rank_models("gpt", IDS, ALIASES)[:2] == ["openai/gpt-4o", "openai/gpt-4o-mini"]
    assert rank_models("boss", IDS, ALIASES)[0] == "openai/gpt-4o"
    assert rank_models("l3170", IDS, ALIASES)[0].startswith("meta-llama/llama-3.1-70b")
    assert rank_models("nothing-like-it", IDS, ALIASES) == []
    many = [f"vendor/model-{i}" for i in range(100)]
    assert len(rank_models("", many, ALIASES)) == 25
    assert len(rank_models("model", many, ALIASES)) == 25
    # With nothing typed, the well-known (aliased) models come first.
    assert set(rank_models("", IDS, ALIASES)[:3]) <= set(ALIASES.values())


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


async def test_catalog_is_fetched_lazily_cached_for_an_hour_and_survives_failures():
    clock = FakeClock()
    calls = []
    answers: list = [
        [ModelInfo("qwen/qwen-max", "Qwen Max")],
        UserError("down"),
        [ModelInfo("x-ai/grok-2", "Grok 2")],
    ]

    async def fetch():
        calls.append(clock.now)
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    catalog = ModelCatalog(fetch, {}, clock=clock)
    assert calls == [] and not catalog.loaded
    assert "qwen/qwen-max" in catalog.known_ids()  # cold: the aliases' targets
    assert await catalog.resolve("qwen-max") == "qwen/qwen-max"
    assert await catalog.resolve("qwen/qwen-max") == "qwen/qwen-max"
    assert calls == [0.0]
    clock.now = 3599
    await catalog.refresh_if_stale()
    assert calls == [0.0]
    clock.now = 3600
    assert await catalog.resolve("qwen/qwen-max") == "qwen/qwen-max"  # refresh failed: kept
    assert calls == [0.0, 3600]
    clock.now = 3601
    await catalog.refresh_if_stale()  # no hammering right after a failure
    assert calls == [0.0, 3600]
    clock.now = 3600 + 61
    assert await catalog.resolve("grok") == "x-ai/grok-2"
    assert catalog.known_ids() == ["x-ai/grok-2"]


async def test_catalog_that_never_loaded_still_accepts_aliases_and_full_ids():
    async def fetch():
        raise UserError("provider down")

    catalog = ModelCatalog(fetch, {"mine": "vendor/custom"})
    assert await catalog.resolve("mine") == "vendor/custom"
    assert await catalog.resolve("some/model-id") == "some/model-id"
    with pytest.raises(UnknownModel, match="model list is unavailable"):
        await catalog.resolve("qwen")
