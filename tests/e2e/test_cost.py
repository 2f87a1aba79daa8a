"""Cost you can see, as a server sees it: the title card's estimate, the daily budget's refusal,
and the usage kept for each verse being what the provider reported."""

from __future__ import annotations

import datetime
import math

from bot.engine.battle import Battle
from bot.engine.house_rules import Pricing, PromptSizes, battle_cost_upper_bound
from bot.engine.spend import TokenUsage, usd
from tests.e2e.conftest import Arena, embed_text, is_results, is_vote
from tests.fakes.discord_double import Permission

QWEN, GROK = "qwen/qwen-max", "x-ai/grok-2"
# Dear models, so that a battle's real spend is more than a cent.
PRICES = {QWEN: (0.0001, 0.0004), GROK: (0.0002, 0.0003)}
MAX_TOKENS = 700  # LLM_MAX_TOKENS's default


async def test_title_card_estimate_budget_refusal_and_stored_usage(arena: Arena):
    arena.models.prices.update(PRICES)
    bot = await arena.start_bot()
    admin = arena.guild.add_member("admin", permissions=Permission.MANAGE_GUILD)

    await arena.battle()  # qwen-max v grok, one round
    await arena.wait_for(is_vote)
    title = embed_text(arena.bot_messages()[0])
    battle = Battle(QWEN, GROK, rounds=1)
    bound = battle_cost_upper_bound(
        battle,
        PromptSizes.for_battle(battle, clean=True),
        MAX_TOKENS,
        {model: Pricing(*price) for model, price in PRICES.items()},
    )
    assert f"Estimated cost at most {usd(bound)}" in title

    # What the bot kept for each verse is what the provider's last chunk said.
    reported = arena.models.usage_sent()
    assert [model for model, _ in reported] == [QWEN, GROK]
    assert await bot.store.turn_usage(1) == [
        TokenUsage(usage["prompt_tokens"], usage["completion_tokens"], usage["cost"])
        for _, usage in reported
    ]
    spent = sum(usage["cost"] for _, usage in reported)
    assert spent > 0.01

    # A budget with room for one battle's bound but not for today's spend on top of it.
    budget = math.ceil(bound * 100) / 100
    assert budget < spent + bound
    changed = await arena.double.invoke_command(
        admin, arena.channel, "battle-settings", {"daily_budget_usd": f"{budget:.2f}"}
    )
    assert f"Daily budget ✏️ ${budget:,.2f} a day (UTC)" in embed_text(
        (await changed.response())["data"]
    )
    await arena.double.invoke_command(arena.alice, arena.channel, "battle-stop")
    await arena.wait_for(is_results)

    refused = await arena.battle()
    message = (await refused.wait_followup())["content"]
    tomorrow = datetime.datetime.now(datetime.UTC).date() + datetime.timedelta(days=1)
    midnight = datetime.datetime.combine(tomorrow, datetime.time(), datetime.UTC)
    assert f"could cost up to {usd(bound)}" in message
    assert f"of its {usd(budget)} daily budget" in message
    assert f"The budget resets <t:{int(midnight.timestamp())}:R>." in message
    assert len(arena.models.chat_requests()) == 2  # Nothing was asked of the models.

    cleared = await arena.double.invoke_command(
        admin, arena.channel, "battle-settings", {"daily_budget_usd": "none"}
    )
    assert "Daily budget" in embed_text((await cleared.response())["data"])
    again = await arena.battle()
    assert (await again.wait_followup())["content"].startswith("Battle #2 is on")
