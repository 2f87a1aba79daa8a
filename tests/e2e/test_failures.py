"""Failures are seen, and one channel's failure stays in that channel.

Found by taking the bot's Send Messages away in a channel, as a server admin might.
"""

from __future__ import annotations

import asyncio
import logging

from bot.engine.battle import Battle, Side
from bot.engine.votes import DEFAULT_EMOJI, Tally
from bot.store import BattleState, NewBattle, open_store
from tests.e2e.conftest import Arena, embed_text, eventually, is_results, is_vote
from tests.fakes.discord_double import Permission

UNDELIVERABLE = "the results could not be posted: the channel refused them for a week"


async def test_send_messages_taken_during_the_vote_leaves_a_closed_battle_that_says_why(
    arena: Arena, caplog
):
    bot = await arena.start_bot()
    await arena.battle()
    vote = await arena.wait_for(is_vote)
    await eventually(lambda: bool(bot.arena.votes))
    await arena.double.react(arena.alice, vote, "🅰️")
    arena.channel.set_permissions(arena.guild.bot_member, deny=Permission.SEND_MESSAGES)
    with caplog.at_level(logging.WARNING):
        await arena.double.invoke_command(arena.alice, arena.channel, "battle-stop")
        await eventually(lambda: not bot.arena.votes, timeout=10)
        await asyncio.sleep(0.2)
    stored = await bot.store.battle(1)
    assert stored.state is BattleState.CLOSED
    assert (stored.votes_a, stored.votes_b) == (1, 0)  # counted and rated all the same
    assert stored.reason is None  # kept for when access comes back (test_results_retried.py)
    assert not any("crashed" in record.getMessage() for record in caplog.records)
    assert any(
        "Results of battle 1" in r.getMessage() and "could not be posted" in r.getMessage()
        for r in caplog.records
    )
    assert [b.id for b in await bot.store.unannounced_results()] == [1]
    # The bot keeps serving other channels.
    other = arena.guild.add_channel("other-stage")
    await arena.battle(channel=other, member=arena.bob)
    assert await arena.wait_for(is_vote, channel=other)


async def test_recovery_announces_every_channel_even_when_one_refuses(arena: Arena):
    """Two closed battles whose results were never posted (a crash in between): the first
    channel now refuses the bot, the second must still get its results."""
    locked = arena.guild.add_channel("locked")
    store = await open_store(arena.database_url)
    try:
        for channel in (locked, arena.channel):
            created = await store.create_battle(
                NewBattle(arena.guild.id, channel.id, arena.alice.id, Battle("m/a", "m/b", 1)),
                now=1000.0,
            )
            await store.open_voting(created.id, 4242 + created.id, 1010.0, DEFAULT_EMOJI)
            await store.close_voting(created.id, Tally({arena.alice.id: Side.B}), 1011.0)
    finally:
        await store.close()
    locked.set_permissions(arena.guild.bot_member, deny=Permission.SEND_MESSAGES)

    bot = await arena.start_bot()
    results = await arena.wait_for(is_results)
    assert "m/b wins, 1–0" in embed_text(results)
    await eventually(lambda: arena.bot_messages(locked) == [])
    first, second = await bot.store.battle(1), await bot.store.battle(2)
    # Refused (a 403), so kept for when access comes back; given up on only a week after the
    # vote closed (this one closed in 1970: tests/e2e/test_results_retried.py).
    assert first.results_message_id is None and first.reason == UNDELIVERABLE
    assert second.results_message_id == int(results["id"])


async def test_a_vote_that_crashes_says_so_and_ends_as_a_no_contest(arena: Arena, monkeypatch):
    bot = await arena.start_bot()
    await arena.battle()
    await arena.wait_for(is_vote)
    await eventually(lambda: bool(bot.arena.votes))
    [vote] = bot.arena.votes.values()

    async def broken_recount() -> Tally:
        raise RuntimeError("a bug in counting")

    monkeypatch.setattr(vote, "recount", broken_recount)
    await arena.double.invoke_command(arena.alice, arena.channel, "battle-stop")
    notice = await arena.wait_for(lambda m: "failed on our side" in embed_text(m))
    assert "vote on battle #1" in embed_text(notice)
    stored = await bot.store.battle(1)
    assert stored.state is BattleState.NO_CONTEST
    assert stored.reason == "the vote failed on our side"
