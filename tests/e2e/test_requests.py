"""Requests a battle costs the bot's global rate limit: typing only while a model keeps the
audience waiting, and nothing beyond the minimum but the vote's check."""

from __future__ import annotations

from tests.e2e.conftest import Arena, eventually, is_results, is_vote
from tests.fakes.model_server import Verse

QWEN, GROK = "qwen/qwen-max", "x-ai/grok-2"


async def test_typing_only_while_a_model_really_keeps_the_audience_waiting(arena: Arena):
    bot = await arena.start_bot(LLM_STALL_SECONDS="10")  # a 4 s wait is slow, not stalled
    arena.models.script(QWEN, Verse("quick opener", latency=0.2))  # read with the title card
    arena.models.script(GROK, Verse("slow answer", latency=4.0))
    arena.double.reset_request_counts()
    started = await arena.battle()
    await started.wait_followup()
    vote = await arena.wait_for(is_vote)
    [typing] = arena.double.typing(arena.channel.id)
    verse_b = next(m for m in arena.bot_messages() if "slow answer" in m["content"])
    verse_a = next(m for m in arena.bot_messages() if "quick opener" in m["content"])
    # Typing began a while after the first verse (the wait for the second) and before it.
    assert verse_a["id"] < verse_b["id"]
    assert typing.user_id == arena.double.bot_user.id

    await eventually(lambda: bool(bot.arena.votes))
    for voter in [arena.alice, arena.bob]:
        await arena.double.react(voter, vote, "🅰️")
    await arena.double.invoke_command(arena.alice, arena.channel, "battle-stop")
    await arena.wait_for(is_results)
    await eventually(lambda: not bot.arena.votes)
    counts = arena.double.request_counts()
    # Title, two verses, vote, two reactions, results: 7; plus the one typing and the vote's
    # fetch (checked against the live count, so no reaction pages).
    assert counts.of("POST", "/channels/{channel_id}/typing") == 1
    assert counts.of("GET", "/channels/{channel_id}/messages/{message_id}") == 1
    assert counts.bot_total == 9, counts.bot
