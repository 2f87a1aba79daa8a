"""Ratings, the leaderboard, history, transcripts and server settings, as members use them."""

from __future__ import annotations

import asyncio

import pytest

from bot.engine.battle import Battle, Side
from bot.engine.transcript import parse
from bot.engine.votes import DEFAULT_EMOJI, Tally
from bot.store import NewBattle, open_store
from tests.e2e.conftest import Arena, embed_text, eventually, is_results, is_vote
from tests.fakes.discord_double import Permission
from tests.fakes.model_server import default_verse

QWEN, GROK = "qwen/qwen-max", "x-ai/grok-2"


async def battle_and_vote(arena: Arena, bot, channel, votes_a: int, votes_b: int, **options):
    """Runs a one-round battle in ``channel``, casts the votes, closes the vote: the results."""
    results_before = sum(is_results(m) for m in arena.bot_messages(channel))
    votes_before = sum(is_vote(m) for m in arena.bot_messages(channel))
    await arena.double.invoke_command(
        arena.alice,
        channel,
        "battle",
        {"model_a": "qwen-max", "model_b": "grok", "rounds": 1} | options,
    )
    await eventually(lambda: sum(is_vote(m) for m in arena.bot_messages(channel)) > votes_before)
    vote = [m for m in arena.bot_messages(channel) if is_vote(m)][-1]
    await eventually(lambda: int(vote["id"]) in bot.arena.votes)
    emoji = bot.arena.votes[int(vote["id"])].emoji
    voters = [channel.guild.add_member(f"voter{i}-{vote['id']}") for i in range(votes_a + votes_b)]
    for index, voter in enumerate(voters):
        await arena.double.react(voter, vote, emoji[Side.A if index < votes_a else Side.B])
    await arena.double.invoke_command(arena.alice, channel, "battle-stop")
    await eventually(
        lambda: sum(is_results(m) for m in arena.bot_messages(channel)) > results_before
    )
    return [m for m in arena.bot_messages(channel) if is_results(m)][-1]


async def test_results_then_leaderboard_then_transcript(arena: Arena):
    bot = await arena.start_bot()
    results = await battle_and_vote(arena, bot, arena.channel, 2, 1)
    text = embed_text(results)
    assert f"{QWEN} wins, 2–1" in text
    assert "Ratings" in text and "(new), rank #1" in text

    board = await arena.double.invoke_command(arena.bob, arena.channel, "leaderboard")
    answer = (await board.response())["data"]
    description = answer["embeds"][0]["description"]
    lines = description.splitlines()
    assert len(lines) == 2 and "qwen/qwen\\-max" not in lines[1]
    assert "1-0-0 · 1 battle · 2 votes" in lines[0] and "0-1-0 · 1 battle · 1 vote" in lines[1]
    assert lines[0].startswith("`#1  ` **qwen/qwen-max**")
    assert not answer.get("components")  # one page: no buttons

    got = await arena.double.invoke_command(
        arena.bob, arena.channel, "transcript", {"battle_id": 1}
    )
    message = (await got.response())["data"]
    await eventually(lambda: bool(arena.double.messages(arena.channel.id)[-1].get("files")))
    [file] = arena.double.messages(arena.channel.id)[-1]["files"]
    assert file["filename"] == "battle-1.md"
    transcript = parse(file["data"].decode())
    assert [t.text for t in transcript.turns] == [default_verse(QWEN, 1), default_verse(GROK, 1)]
    assert message["content"] == "Battle #1"

    # A second battle moves the ratings and says by how much.
    second = embed_text(await battle_and_vote(arena, bot, arena.channel, 0, 3))
    assert f"{GROK} wins, 3–0" in second
    assert "(+" in second and "(-" in second

    history = await arena.double.invoke_command(arena.bob, arena.channel, "battle-history")
    lines = (await history.response())["data"]["embeds"][0]["description"].splitlines()
    assert lines[0].startswith("`#2` qwen/qwen\\-max v x\\-ai/grok\\-2 · 🏆 x\\-ai/grok\\-2 3–0")
    assert lines[1].startswith("`#1`")
    missing = await arena.double.invoke_command(
        arena.bob, arena.channel, "transcript", {"battle_id": 99}
    )
    assert (await missing.response())["data"]["content"] == "There is no battle #99 on this server."


async def test_settings_changes_take_effect_in_the_next_battle(arena: Arena):
    bot = await arena.start_bot()
    admin = arena.guild.add_member("admin", permissions=Permission.MANAGE_GUILD)
    # Discord only offers the command to members with Manage Server (its default permission).
    with pytest.raises(PermissionError):
        await arena.double.invoke_command(arena.bob, arena.channel, "battle-settings")
    [command] = [c for c in arena.double.commands() if c["name"] == "battle-settings"]
    assert int(command["default_member_permissions"]) == Permission.MANAGE_GUILD

    bad = await arena.double.invoke_command(
        admin, arena.channel, "battle-settings", {"emoji_a": "vote A"}
    )
    assert (await bad.response())["data"]["content"] == "`vote A` is not an emoji."

    changed = await arena.double.invoke_command(
        admin,
        arena.channel,
        "battle-settings",
        {
            "rounds": 1,
            "emoji_a": "🔥",
            "emoji_b": "💧",
            "blind_default": True,
            "vote_seconds": 10,
            "pace": "0",
        },
    )
    shown = embed_text((await changed.response())["data"])
    assert "Default rounds ✏️ 1" in shown and "Vote emoji A ✏️ 🔥" in shown
    assert "Blind by default ✏️ yes" in shown

    await arena.double.invoke_command(
        arena.alice, arena.channel, "battle", {"model_a": "qwen-max", "model_b": "grok"}
    )
    vote = await arena.wait_for(is_vote)
    await eventually(lambda: bool(bot.arena.votes))
    messages = arena.bot_messages()
    assert "MC A v MC B" in embed_text(messages[0])
    assert sum(1 for m in messages if m["content"].startswith("🎤")) == 2  # one round
    assert "🔥 **MC A**" in embed_text(vote) and "💧 **MC B**" in embed_text(vote)
    assert arena.double.reactions(vote, "🔥") == [arena.double.bot_user.id]

    show = await arena.double.invoke_command(admin, arena.channel, "battle-settings")
    assert "✏️" not in embed_text((await show.response())["data"])


async def test_allow_list_and_cooldown(arena: Arena):
    await arena.start_bot()
    admin = arena.guild.add_member("admin", permissions=Permission.MANAGE_GUILD)
    await (
        await arena.double.invoke_command(
            admin,
            arena.channel,
            "battle-settings",
            {"allowed_models": "qwen-max, llama-3-70b", "cooldown_seconds": 600},
        )
    ).response()
    refused = await arena.double.invoke_command(
        arena.alice, arena.channel, "battle", {"model_a": "qwen-max", "model_b": "grok"}
    )
    assert (await refused.wait_followup())["content"].startswith(
        "`x-ai/grok-2` is not allowed on this server. Allowed: "
        "`meta-llama/llama-3-70b-instruct`, `qwen/qwen-max`."
    )
    ok = await arena.double.invoke_command(
        arena.alice,
        arena.channel,
        "battle",
        {"model_a": "qwen-max", "model_b": "llama-3-70b", "rounds": 1},
    )
    assert (await ok.wait_followup())["content"].startswith("Battle #1 is on")
    other = arena.guild.add_channel("other")
    again = await arena.double.invoke_command(
        arena.alice, other, "battle", {"model_a": "qwen-max", "model_b": "llama-3-70b"}
    )
    assert (await again.wait_followup())["content"].startswith("You can start another battle")
    await (
        await arena.double.invoke_command(
            admin, arena.channel, "battle-settings", {"allowed_models": "all"}
        )
    ).response()
    fine = await arena.double.invoke_command(
        arena.bob, other, "battle", {"model_a": "qwen-max", "model_b": "grok"}
    )
    assert (await fine.wait_followup())["content"].startswith("Battle #2 is on")


async def test_global_leaderboard_leaves_out_servers_that_opt_out(arena: Arena):
    bot = await arena.start_bot()
    private = arena.double.add_guild("Private Club")
    private_channel = private.add_channel("battles")
    private_admin = private.add_member("owner", permissions=Permission.MANAGE_GUILD)
    await eventually(lambda: bot.get_guild(private.id) is not None)
    await (
        await arena.double.invoke_command(
            private_admin, private_channel, "battle-settings", {"global_opt_out": True}
        )
    ).response()
    await battle_and_vote(arena, bot, arena.channel, 3, 0)
    arena.alice = private.add_member("alice2")
    await battle_and_vote(arena, bot, private_channel, 0, 5)

    board = await arena.double.invoke_command(
        arena.bob, arena.channel, "leaderboard", {"scope": "global"}
    )
    data = (await board.response())["data"]["embeds"][0]
    assert data["title"] == "🌍 Global leaderboard"
    first = data["description"].splitlines()[0]
    assert "qwen" in first and "1-0-0 · 1 battle · 3 votes" in first
    local = await arena.double.invoke_command(private_admin, private_channel, "leaderboard")
    first_private = (await local.response())["data"]["embeds"][0]["description"].splitlines()[0]
    assert "grok" in first_private and "5 votes" in first_private


async def test_a_long_leaderboard_is_paginated_with_buttons(arena: Arena):
    store = await open_store(arena.database_url)
    try:
        models = [f"vendor/model-{i:02d}" for i in range(23)]
        for index, (a, b) in enumerate(zip(models, models[1:] + models[:1], strict=True)):
            created = await store.create_battle(
                NewBattle(arena.guild.id, arena.channel.id, arena.alice.id, Battle(a, b, 1)),
                now=float(index),
            )
            await store.open_voting(created.id, 1000 + index, 0.0, DEFAULT_EMOJI)
            await store.close_voting(created.id, Tally({1: Side.A, 2: Side.A, 3: Side.B}), 1.0)
    finally:
        await store.close()
    await arena.start_bot()
    board = await arena.double.invoke_command(arena.bob, arena.channel, "leaderboard")
    data = (await board.response())["data"]
    assert data["embeds"][0]["footer"]["text"] == "Page 1 of 3"
    assert len(data["embeds"][0]["description"].splitlines()) == 10
    message = await arena.wait_for(lambda m: "Page 1 of 3" in str(m.get("embeds")))
    buttons = [c for row in message["components"] for c in row["components"]]
    previous, following = buttons
    assert previous.get("disabled") is True and not following.get("disabled")

    await arena.double.click(arena.bob, message, following["custom_id"])
    await eventually(
        lambda: "Page 2 of 3" in str(arena.double.message(int(message["id"]))["embeds"])
    )
    refused = await arena.double.click(arena.alice, message, following["custom_id"])
    await refused.response()
    assert refused.ephemeral
    await asyncio.sleep(0.1)
    assert "Page 2 of 3" in str(arena.double.message(int(message["id"]))["embeds"])
    await (await arena.double.click(arena.bob, message, following["custom_id"])).response()
    await eventually(
        lambda: "Page 3 of 3" in str(arena.double.message(int(message["id"]))["embeds"])
    )
    last = arena.double.message(int(message["id"]))
    assert len(last["embeds"][0]["description"].splitlines()) == 3
    last_buttons = [c for row in last["components"] for c in row["components"]]
    assert last_buttons[1].get("disabled") is True  # no page after the last


async def test_with_public_url_the_board_and_the_results_link_to_the_web_arena(arena: Arena):
    bot = await arena.start_bot(PUBLIC_URL="https://arena.example/")
    admin = arena.guild.add_member("boss", permissions=Permission.MANAGE_GUILD)
    await battle_and_vote(arena, bot, arena.channel, 1, 0)
    [results] = [m for m in arena.bot_messages() if is_results(m)]
    assert results["embeds"][0]["url"] == "https://arena.example/"  # a private server
    board = await arena.double.invoke_command(arena.bob, arena.channel, "leaderboard")
    assert (await board.response())["data"]["embeds"][0]["url"] == "https://arena.example/"

    shown = await arena.double.invoke_command(
        admin, arena.channel, "battle-settings", {"public_page": True}
    )
    await shown.response()
    await battle_and_vote(arena, bot, arena.channel, 2, 0)
    results = [m for m in arena.bot_messages() if is_results(m)][-1]
    assert results["embeds"][0]["url"] == "https://arena.example/battles/2"
    board = await arena.double.invoke_command(arena.bob, arena.channel, "leaderboard")
    expected = f"https://arena.example/servers/{arena.guild.id}"
    assert (await board.response())["data"]["embeds"][0]["url"] == expected


async def test_without_public_url_nothing_links_anywhere(arena: Arena):
    bot = await arena.start_bot()
    await battle_and_vote(arena, bot, arena.channel, 1, 0)
    [results] = [m for m in arena.bot_messages() if is_results(m)]
    assert "url" not in results["embeds"][0]
