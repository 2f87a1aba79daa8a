"""What retries cost is counted: a verse's usage covers every attempt the provider reported one
for (a stream cut mid-verse that was billed, an empty verse), and the cost estimate that the
title card shows and the daily budget holds allows for the retries the bot makes."""

from __future__ import annotations

import pytest

from bot.engine.battle import Battle
from bot.engine.house_rules import (
    CHARS_PER_TOKEN,
    MESSAGE_OVERHEAD_TOKENS,
    Pricing,
    PromptSizes,
    battle_cost_upper_bound,
    estimate_tokens,
    spend_from_usage,
)
from bot.engine.prompts import messages_for
from bot.engine.verdicts import JUDGE_ASKS
from tests.fakes.model_server import StreamError, Verse
from tests.test_llm import MESSAGES, MODEL, llm  # noqa: F401 (a fixture)


async def test_a_billed_stream_that_failed_counts_in_the_verses_usage(llm, model_server):  # noqa: F811
    model_server.script(
        MODEL, StreamError("half a bar and", "provider died", 503, billed=True), Verse("one two")
    )
    written = await llm.write_verse(MODEL, MESSAGES)
    assert written.text == "one two"
    [(_, failed), (_, succeeded)] = model_server.usage_sent()
    assert failed["completion_tokens"] == 4 and succeeded["completion_tokens"] == 2
    assert written.usage is not None
    assert written.usage.prompt_tokens == failed["prompt_tokens"] + succeeded["prompt_tokens"]
    assert written.usage.completion_tokens == 4 + 2
    assert written.usage.cost_usd == pytest.approx(failed["cost"] + succeeded["cost"])


def test_the_bound_allows_each_verse_one_billed_retry_and_each_judge_its_asks():
    """Replays a battle in which every verse was billed twice at its longest (an empty or cut-off
    answer, then the verse) and every judge was asked JUDGE_ASKS times: the bound covers it."""
    battle = Battle("vendor/a", "vendor/b", rounds=3, topic="cats")
    max_tokens = 50
    pricing = {"vendor/a": Pricing(1e-6, 2e-6), "vendor/b": Pricing(3e-6, 5e-6)}
    judge = Pricing(2e-6, 10e-6)
    sizes = PromptSizes.for_battle(battle, clean=False, judge_prompt=900, judge_max_tokens=200)
    bound = battle_cost_upper_bound(battle, sizes, max_tokens, pricing, [judge] * 3)
    history, verses = [], 0.0
    for slot in battle.plan():
        if slot.side is None:
            history.append(battle.turn(slot, "Final round!"))
            continue
        messages = messages_for(battle, slot.side, history)
        prompt = estimate_tokens(sum(len(m["content"]) for m in messages))
        prompt += len(messages) * MESSAGE_OVERHEAD_TOKENS
        verses += 2 * spend_from_usage(prompt, max_tokens, pricing[battle.model(slot.side)])
        history.append(battle.turn(slot, "x" * (max_tokens * CHARS_PER_TOKEN)))
    transcript = sum(max_tokens + MESSAGE_OVERHEAD_TOKENS for t in history if t.side) + sum(
        estimate_tokens("Final round!") + MESSAGE_OVERHEAD_TOKENS for t in history if not t.side
    )
    judge_prompt = estimate_tokens(900) + 2 * MESSAGE_OVERHEAD_TOKENS + transcript
    judges = 3 * JUDGE_ASKS * spend_from_usage(judge_prompt, 200, judge)
    assert bound >= verses + judges
    assert bound <= (verses + judges) * 1.2  # and not wildly above
