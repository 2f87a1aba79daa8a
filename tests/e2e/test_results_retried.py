"""Results the channel refused at the close (a 403: a permission taken away) are posted once the
bot may post again: when its access comes back, or at the next start. They are given up on only
when the channel is gone (a 404) or a week after the vote closed, with one line in the log."""

from __future__ import annotations

import asyncio
import logging
import time

from bot.engine.battle import Battle, Side
from bot.engine.votes import DEFAULT_EMOJI, Tally
from bot.store import BattleState, NewBattle, open_store
from bot.store.verdicts import VerdictState
from tests.e2e.conftest import Arena, embed_text, eventually, is_results, is_vote
from tests.e2e.test_judges import PANEL_ENV, is_verdict
from tests.fakes.discord_double import Permission

DAY = 86_400.0


async def refused_at_the_close(arena: Arena, bot) -> None:
    """A battle whose vote closes while the bot may not post in the channel (started here
    unless one already voting)."""
    if not bot.arena.votes:
        await arena.battle()
    vote = await arena.wait_for(is_vote)
    await eventually(lambda: bool(bot.arena.votes))
    await arena.double.react(arena.alice, vote, "🅰️")
    arena.channel.set_permissions(arena.guild.bot_member, deny=Permission.SEND_MESSAGES)
    await arena.double.invoke_command(arena.alice, arena.channel, "battle-stop")
    await eventually(lambda: not bot.arena.votes, timeout=10)
    await asyncio.sleep(0.2)


async def test_results_refused_at_the_close_are_posted_after_a_restart(arena: Arena):
    bot = await arena.start_bot()
    await refused_at_the_close(arena, bot)
    stored = await bot.store.battle(1)
    assert stored.state is BattleState.CLOSED and stored.results_message_id is None
    assert stored.reason is None  # not given up on
    assert [b.id for b in await bot.store.unannounced_results()] == [1]
    await arena.stop_bot(bot)

    arena.channel.set_permissions(arena.guild.bot_member)  # access restored while it was down
    restarted = await arena.start_bot()
    results = await arena.wait_for(is_results)
    assert "qwen/qwen-max wins, 1–0" in embed_text(results)
    await eventually(lambda: bool(arena.bot_messages()))
    async with asyncio.timeout(5):
        while (await restarted.store.battle(1)).results_message_id is None:
            await asyncio.sleep(0.02)
    assert (await restarted.store.battle(1)).results_message_id == int(results["id"])
    assert await restarted.store.unannounced_results() == []


async def test_results_refused_at_the_close_are_posted_once_access_is_back(arena: Arena):
    bot = await arena.start_bot()
    await refused_at_the_close(arena, bot)
    assert not [m for m in arena.bot_messages() if is_results(m)]
    # An admin gives the permission back (CHANNEL_UPDATE): no restart needed.
    arena.channel.set_permissions(arena.guild.bot_member)
    results = await arena.wait_for(is_results)
    assert "wins, 1–0" in embed_text(results)
    async with asyncio.timeout(5):
        while (await bot.store.battle(1)).results_message_id is None:
            await asyncio.sleep(0.02)
    # Another update of the channel posts nothing twice.
    arena.channel.set_permissions(arena.guild.bot_member, allow=Permission.SEND_MESSAGES)
    await asyncio.sleep(0.3)
    assert sum(is_results(m) for m in arena.bot_messages()) == 1


async def closed_battle(arena: Arena, channel_id: int, closed_at: float) -> None:
    store = await open_store(arena.database_url)
    try:
        created = await store.create_battle(
            NewBattle(arena.guild.id, channel_id, arena.alice.id, Battle("m/a", "m/b", 1)),
            now=closed_at - 20,
        )
        await store.open_voting(created.id, 4242 + created.id, closed_at, DEFAULT_EMOJI)
        await store.close_voting(created.id, Tally({arena.alice.id: Side.B}), closed_at)
    finally:
        await store.close()


async def test_results_are_given_up_on_when_the_channel_is_gone_or_after_a_week(
    arena: Arena, caplog
):
    locked = arena.guild.add_channel("locked")
    now = time.time()
    await closed_battle(arena, 987_654_321_000, now - 60)  # 1: its channel is gone (404)
    await closed_battle(arena, locked.id, now - 8 * DAY)  # 2: refused for over a week
    await closed_battle(arena, locked.id, now - 6 * DAY)  # 3: refused, within the week
    locked.set_permissions(arena.guild.bot_member, deny=Permission.SEND_MESSAGES)

    with caplog.at_level(logging.INFO):
        bot = await arena.start_bot()
        async with asyncio.timeout(10):
            while (await bot.store.battle(2)).reason is None:
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
    gone, old, recent = [await bot.store.battle(i) for i in (1, 2, 3)]
    assert "the channel is gone" in gone.reason
    assert "a week" in old.reason
    assert recent.reason is None
    assert [b.id for b in await bot.store.unannounced_results()] == [3]
    gave_up = [r.getMessage() for r in caplog.records if "Gave up posting" in r.getMessage()]
    assert len(gave_up) == 2
    assert "battle 1" in gave_up[0] and "battle 2" in gave_up[1]
    # Once access is back, the battle within the week gets its results.
    locked.set_permissions(arena.guild.bot_member)
    results = await arena.wait_for(is_results, channel=locked)
    assert "m/b wins, 1–0" in embed_text(results)
    await asyncio.sleep(0.3)
    assert len(arena.bot_messages(locked)) == 1


async def test_a_judged_battles_verdict_follows_its_late_results(arena: Arena):
    bot = await arena.start_bot(**PANEL_ENV)
    await arena.battle(judges=True)
    await arena.wait_for(is_vote)
    await eventually(lambda: sum(r.is_judge for r in arena.models.chat_requests()) == 3)
    await asyncio.sleep(0.3)  # the judges have answered
    await refused_at_the_close(arena, bot)
    assert (await bot.store.verdict_status(1)).state is VerdictState.STORED  # kept, not dropped
    arena.channel.set_permissions(arena.guild.bot_member)
    verdict = await arena.wait_for(is_verdict)
    messages = arena.bot_messages()
    [results] = [m for m in messages if is_results(m) and not is_verdict(m)]
    assert messages.index(results) < messages.index(verdict)
    async with asyncio.timeout(5):
        while (await bot.store.verdict_status(1)).state is not VerdictState.POSTED:
            await asyncio.sleep(0.02)
