"""/battle-schedule and /tournament-schedule on the Discord double: add, list (with a Discord
timestamp), remove, the refusals, and a schedule due while the bot was down starting its battle
(once) when the bot comes back, while one whose channel is gone is dropped."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bot.engine.schedules import BattlePlan
from bot.store import open_store
from bot.store.base import NewSchedule
from tests.e2e.conftest import Arena, embed_text
from tests.fakes.discord_double import Member, Permission

FAST = {"BATTLE_ROUNDS": "1"}


def admin_of(arena: Arena) -> Member:
    return arena.guild.add_member("admin", permissions=Permission.MANAGE_GUILD)


async def deferred(arena: Arena, member: Member, command: str, options: dict[str, Any]) -> str:
    interaction = await arena.double.invoke_command(member, arena.channel, command, options)
    reply = await interaction.wait_followup()
    assert interaction.ephemeral
    return reply["content"]


async def answered(
    arena: Arena, member: Member, command: str, options: dict[str, Any] | None = None
) -> dict[str, Any]:
    interaction = await arena.double.invoke_command(member, arena.channel, command, options)
    body = await interaction.response()
    assert interaction.ephemeral
    return body["data"]


async def test_add_list_and_remove_schedules(arena: Arena):
    await arena.start_bot(**FAST)
    names = {c["name"]: c for c in arena.double.commands()}
    for group in ("battle-schedule", "tournament-schedule"):
        assert int(names[group]["default_member_permissions"]) == Permission.MANAGE_GUILD
        assert {o["name"] for o in names[group]["options"]} == {"add", "list", "remove"}
    admin = admin_of(arena)

    too_often = await deferred(arena, admin, "battle-schedule add", {"every": "5m"})
    assert "at most once every 10 minutes" in too_often
    reply = await deferred(
        arena,
        admin,
        "battle-schedule add",
        {"every": "6h", "model_a": "qwen-max", "model_b": "grok", "topic": "Winter"},
    )
    assert reply.startswith("Schedule #1 is added. Battle: `qwen/qwen-max` v `x-ai/grok-2`")
    assert "every 6h; the first run is <t:" in reply
    monthly = await deferred(
        arena,
        admin,
        "tournament-schedule add",
        {"every": "4w", "models": "qwen-max, grok, gpt-4o", "format": "swiss"},
    )
    assert monthly.startswith("Schedule #2 is added. Tournament: 3 models, swiss")

    listed = embed_text(await answered(arena, admin, "battle-schedule list"))
    assert "`#1` every 6h · Battle: `qwen/qwen-max` v `x-ai/grok-2`" in listed
    assert f"in <#{arena.channel.id}> · next <t:" in listed and ":R>" in listed
    assert "#2" not in listed
    tournaments = embed_text(await answered(arena, admin, "tournament-schedule list"))
    assert "`#2` every 4w · Tournament: 3 models, swiss" in tournaments

    wrong = await answered(arena, admin, "battle-schedule remove", {"id": 2})
    assert wrong["content"].startswith("This server has no battle schedule #2")
    removed = await answered(arena, admin, "battle-schedule remove", {"id": 1})
    assert removed["content"] == "Schedule #1 is removed."
    empty = embed_text(await answered(arena, admin, "battle-schedule list"))
    assert "No battle schedules on this server" in empty


async def test_a_schedule_due_while_the_bot_was_down_starts_its_battle(arena: Arena):
    bot = await arena.start_bot(**FAST)
    admin = admin_of(arena)
    reply = await deferred(
        arena,
        admin,
        "battle-schedule add",
        {"every": "1h", "model_a": "qwen-max", "model_b": "grok", "rounds": 1},
    )
    assert reply.startswith("Schedule #1 is added.")
    await arena.stop_bot(bot)
    # Down for three hours: its run is long due.
    store = await open_store(arena.database_url)
    try:
        [schedule] = await store.schedules()
        long_ago = time.time() - 3 * 3600
        assert await store.advance_schedule(schedule.id, schedule.next_run_at, long_ago)
        # And one in a channel deleted meanwhile: it is dropped at its run.
        gone = NewSchedule(arena.guild.id, 404, admin.id, 3600, BattlePlan("m/a", "m/b"), long_ago)
        assert await store.add_schedule(gone, time.time(), 10) is not None
    finally:
        await store.close()

    await arena.start_bot(**FAST)
    title = await arena.wait_for(lambda m: "Scheduled battle, every 1h" in _author(m))
    assert "qwen" in embed_text(title).lower()
    store = await open_store(arena.database_url)
    try:
        [battle] = await store.recent_battles(arena.guild.id)
        assert battle.scheduled
        async with asyncio.timeout(5):  # the deleted channel's is dropped
            while len(await store.schedules()) > 1:
                await asyncio.sleep(0.02)
        [schedule] = await store.schedules()
        assert schedule.channel_id == arena.channel.id
        assert time.time() < schedule.next_run_at <= time.time() + 3600  # once, not three times
    finally:
        await store.close()
    assert len([m for m in arena.bot_messages() if _author(m).startswith("Scheduled")]) == 1


def _author(message: dict[str, Any]) -> str:
    return " ".join((e.get("author") or {}).get("name", "") for e in message.get("embeds") or [])
