"""/battle with models left out: the matchmaker picks them, and the title card says so."""

from __future__ import annotations

from typing import Any

from bot.engine.server_settings import ServerSettings
from bot.services.battles.matchmaker import MATCHED_LABEL
from tests.e2e.conftest import Arena, is_results, is_vote
from tests.fakes.model_server import DEFAULT_MODELS

QWEN, LLAMA, GROK = "qwen/qwen-max", "meta-llama/llama-3-70b-instruct", "x-ai/grok-2"


async def matched_battle(arena: Arena, channel=None, **options: Any) -> tuple[str, str, str]:
    """Runs /battle with only ``options`` (one round); returns its models and the title card's
    label once its vote is open."""
    started = await arena.double.invoke_command(
        arena.alice, channel or arena.channel, "battle", {"rounds": 1} | options
    )
    followup = await started.wait_followup()
    assert followup["content"].startswith("Battle #"), followup["content"]
    battle_id = int(followup["content"].split("#")[1].split()[0])
    await arena.wait_for(is_vote, channel)
    title = next(
        m for m in arena.bot_messages(channel) if m["embeds"] and "🎤" in m["embeds"][0]["title"]
    )
    stored = await arena.bots[0].store.battle(battle_id)
    assert stored is not None
    label = title["embeds"][0].get("author", {}).get("name", "")
    return stored.battle.model_a, stored.battle.model_b, label


async def test_battle_without_models_matches_two_served_models(arena: Arena):
    await arena.start_bot()
    model_a, model_b, label = await matched_battle(arena)
    assert model_a != model_b and {model_a, model_b} <= set(DEFAULT_MODELS)
    assert label == MATCHED_LABEL and "matched for the leaderboard" in label.lower()
    # Verses came from the two picked models.
    assert {r.model for r in arena.models.chat_requests()} == {model_a, model_b}


async def test_with_model_a_only_the_opponent_is_picked_from_the_allow_list(arena: Arena):
    bot = await arena.start_bot()
    allowed = (QWEN, LLAMA, GROK)
    await bot.store.save_server_settings(arena.guild.id, ServerSettings(allowed_models=allowed))
    model_a, model_b, label = await matched_battle(arena, model_a="qwen-max")
    assert model_a == QWEN and model_b in (LLAMA, GROK)
    assert label == MATCHED_LABEL


async def test_an_allow_list_of_two_gives_those_two_even_back_to_back(arena: Arena):
    bot = await arena.start_bot()
    await bot.store.save_server_settings(
        arena.guild.id, ServerSettings(allowed_models=(QWEN, GROK))
    )
    first = await matched_battle(arena)
    assert set(first[:2]) == {QWEN, GROK}
    stop = await arena.double.invoke_command(arena.alice, arena.channel, "battle-stop")
    await stop.response()
    await arena.wait_for(is_results)
    before = len(arena.bot_messages())
    second = await arena.double.invoke_command(arena.alice, arena.channel, "battle", {"rounds": 1})
    assert (await second.wait_followup())["content"].startswith("Battle #2 is on")
    stored = await bot.store.battle(2)
    assert stored is not None and {stored.battle.model_a, stored.battle.model_b} == {QWEN, GROK}
    await arena.wait_for(lambda m: is_vote(m) and len(arena.bot_messages()) > before + 1)


async def test_named_models_are_not_marked_as_matched(arena: Arena):
    await arena.start_bot()
    model_a, model_b, label = await matched_battle(arena, model_a="qwen-max", model_b="grok")
    assert (model_a, model_b, label) == (QWEN, GROK, "")
