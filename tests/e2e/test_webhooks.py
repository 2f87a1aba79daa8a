"""Each MC its own name and face: verses through the channel's webhook, where the bot may."""

from __future__ import annotations

from typing import Any

from bot.engine.splitting import verse_header
from tests.e2e.conftest import Arena, embed_text, eventually, is_results, is_vote
from tests.fakes.discord_double import Permission
from tests.fakes.model_server import Verse

QWEN, GROK = "qwen/qwen-max", "x-ai/grok-2"


def channel_webhook_requests(arena: Arena) -> list[Any]:
    """Every request about or through a channel webhook (interaction followups aside)."""
    application = str(arena.double.application_id)
    return [
        r
        for r in arena.double.requests
        if "/webhooks" in r.path and f"/webhooks/{application}/" not in r.path
    ]


async def battle_to_vote(arena: Arena, **options: Any) -> dict[str, Any]:
    vote_count = sum(1 for m in arena.bot_messages() if is_vote(m))
    started = await arena.battle(**options)
    followup = await started.wait_followup()
    assert "is on" in followup["content"], followup["content"]
    vote = await arena.wait_for(
        lambda m: is_vote(m) and sum(1 for x in arena.bot_messages() if is_vote(x)) > vote_count,
        timeout=20,
    )
    # The battle's place is free once its vote is open (the vote runs on its own).
    await eventually(lambda: not any(bot.arena.battles for bot in arena.bots))
    return vote


async def test_verses_come_from_each_mc_through_one_reused_webhook(arena: Arena):
    arena.double.grant(arena.channel, Permission.MANAGE_WEBHOOKS)
    await arena.start_bot(MODEL_AVATAR_URL="https://faces.example/{vendor}/{model}.png")
    vote = await battle_to_vote(arena)

    [hook] = arena.double.webhooks(arena.channel.id)
    assert int(hook["user"]["id"]) == arena.double.bot_user.id
    posts = arena.double.webhook_messages(arena.channel.id)
    assert [p.username for p in posts] == ["qwen-max", "grok-2"]
    assert [p.avatar_url for p in posts] == [
        "https://faces.example/qwen/qwen%2Fqwen-max.png",
        "https://faces.example/x-ai/x-ai%2Fgrok-2.png",
    ]
    assert all(p.allowed_mentions == {"parse": []} for p in posts)
    assert posts[0].content.startswith(verse_header(QWEN, 1, 1))
    # Title card, vote (and later the results) stay the bot's own messages.
    bot_messages = arena.bot_messages()
    assert "qwen" in embed_text(bot_messages[0]) and bot_messages[-1]["id"] == vote["id"]
    assert len(bot_messages) == 2
    # In the channel, the verses show under the MCs' names, between the title card and vote.
    authors = [m["author"]["username"] for m in arena.double.messages(arena.channel.id)]
    assert authors[1:3] == ["qwen-max", "grok-2"]

    await arena.double.react(arena.alice, vote, "🅰️")
    await (await arena.double.invoke_command(arena.alice, arena.channel, "battle-stop")).response()
    results = await arena.wait_for(is_results)
    assert int(results["author"]["id"]) == arena.double.bot_user.id

    # A second battle reuses the webhook: no lookup, no new webhook.
    arena.double.reset_request_counts()
    await battle_to_vote(arena, model_a="grok", model_b="qwen-max")
    assert len(arena.double.webhooks(arena.channel.id)) == 1
    counts = arena.double.request_counts()
    assert counts.of("GET", "/channels/{channel_id}/webhooks") == 0
    assert counts.of("POST", "/channels/{channel_id}/webhooks") == 0
    assert counts.webhook_executes == 2
    assert arena.double.invalid_requests == []


async def test_an_existing_webhook_of_the_bot_is_found_and_others_are_left_alone(arena: Arena):
    arena.double.grant(arena.channel, Permission.MANAGE_WEBHOOKS)
    someone_elses = arena.double.add_webhook(arena.channel, "rapbattle")  # the owner's, not ours
    bot = await arena.start_bot()
    await battle_to_vote(arena)
    hooks = arena.double.webhooks(arena.channel.id)
    assert len(hooks) == 2
    posts = arena.double.webhook_messages(arena.channel.id)
    assert {p.webhook_id for p in posts} == {int(hooks[1]["id"])} != {int(someone_elses["id"])}

    # After a restart the bot finds its own webhook instead of making another.
    await arena.stop_bot(bot)
    await arena.start_bot()
    await battle_to_vote(arena)
    assert len(arena.double.webhooks(arena.channel.id)) == 2
    assert {p.webhook_id for p in arena.double.webhook_messages(arena.channel.id)} == {
        int(hooks[1]["id"])
    }


async def test_a_deleted_webhook_is_recreated_and_loses_no_verse(arena: Arena):
    arena.double.grant(arena.channel, Permission.MANAGE_WEBHOOKS)
    await arena.start_bot()
    await battle_to_vote(arena)
    [first] = arena.double.webhooks(arena.channel.id)
    await arena.double.delete_webhook(int(first["id"]))
    arena.models.script(QWEN, Verse("qwen's second battle verse"))
    await battle_to_vote(arena, rounds=1)
    [second] = arena.double.webhooks(arena.channel.id)
    assert second["id"] != first["id"]
    posts = arena.double.webhook_messages(arena.channel.id)
    assert [p.username for p in posts] == ["qwen-max", "grok-2"] * 2
    assert "qwen's second battle verse" in posts[2].content
    assert {p.webhook_id for p in posts[2:]} == {int(second["id"])}


async def test_a_long_verse_is_split_and_429s_lose_or_reorder_nothing(arena: Arena):
    arena.double.grant(arena.channel, Permission.MANAGE_WEBHOOKS)
    await arena.start_bot(PUBLIC_URL="https://arena.example/")
    lines = [f"line {n:04d} of a verse that goes on and on and on" for n in range(292)]
    long_verse = "\n".join(lines)
    assert len(long_verse) >= 14_000
    arena.models.script(QWEN, Verse("short opener"))
    await battle_to_vote(arena)  # makes the webhook
    [hook] = arena.double.webhooks(arena.channel.id)
    arena.double.inject_webhook_429(int(hook["id"]), count=3, retry_after=0.2)
    arena.double.rate_limit_webhook(int(hook["id"]), per=5, seconds=2.0)
    arena.models.script(GROK, Verse(long_verse))
    before = len(arena.double.webhook_messages(arena.channel.id))
    await battle_to_vote(arena)

    posts = arena.double.webhook_messages(arena.channel.id)[before:]
    assert all(len(p.content) <= 2000 for p in posts)
    assert len(posts) >= 8
    assert posts[0].username == "qwen-max" and {p.username for p in posts[1:]} == {"grok-2"}
    assert [p.avatar_url for p in posts[:2]] == [
        "https://arena.example/avatars/qwen/qwen-max.png",
        "https://arena.example/avatars/x-ai/grok-2.png",
    ]
    posted = "\n".join(p.content for p in posts[1:])
    found = [line for line in posted.splitlines() if line.startswith("line ")]
    assert found == lines  # every line, once, in order
    assert arena.double.rate_limit_hits >= 3


async def test_blind_battles_use_neutral_names_and_faces(arena: Arena):
    arena.double.grant(arena.channel, Permission.MANAGE_WEBHOOKS)
    await arena.start_bot(
        PUBLIC_URL="https://arena.example", MODEL_AVATAR_URL="https://faces.example/{vendor}.png"
    )
    arena.models.script(QWEN, Verse("no names in here"))
    arena.models.script(GROK, Verse("none in here either"))
    await battle_to_vote(arena, blind=True)
    posts = arena.double.webhook_messages(arena.channel.id)
    assert [p.username for p in posts] == ["MC A", "MC B"]
    assert [p.avatar_url for p in posts] == [
        "https://arena.example/avatars/MC%20A.png",
        "https://arena.example/avatars/MC%20B.png",
    ]
    assert not any("qwen" in p.content.lower() or "grok" in p.content.lower() for p in posts)


async def test_without_manage_webhooks_verses_are_plain_and_no_webhook_is_asked(arena: Arena):
    await arena.start_bot()
    await battle_to_vote(arena)
    assert channel_webhook_requests(arena) == []
    assert arena.double.invalid_requests == []
    assert arena.double.webhooks(arena.channel.id) == []
    contents = [m["content"] for m in arena.bot_messages()[1:3]]
    assert contents[0].startswith(verse_header(QWEN, 1, 1))
    assert contents[1].startswith(verse_header(GROK, 1, 1))


async def test_battle_settings_says_how_verses_are_posted_in_this_channel(arena: Arena):
    await arena.start_bot()
    owner = arena.guild.owner
    shown = await arena.double.invoke_command(owner, arena.channel, "battle-settings")
    text = embed_text((await shown.response())["data"])
    assert "Verses in this channel" in text and "Manage Webhooks" in text
    assert "bot's own messages" in text

    arena.double.grant(arena.channel, Permission.MANAGE_WEBHOOKS)
    await eventually(lambda: True)
    shown = await arena.double.invoke_command(owner, arena.channel, "battle-settings")
    text = embed_text((await shown.response())["data"])
    assert "Through a webhook" in text and "Manage Webhooks" not in text


async def test_a_channel_full_of_webhooks_gets_plain_verses_and_the_battle_goes_on(arena: Arena):
    arena.double.grant(arena.channel, Permission.MANAGE_WEBHOOKS)
    for n in range(15):  # Discord's most per channel, none of them the bot's
        arena.double.add_webhook(arena.channel, f"someone's {n}")
    await arena.start_bot()
    vote = await battle_to_vote(arena)
    contents = [m["content"] for m in arena.bot_messages()[1:3]]
    assert contents[0].startswith(verse_header(QWEN, 1, 1))
    assert contents[1].startswith(verse_header(GROK, 1, 1))
    assert arena.double.webhook_messages(arena.channel.id) == []
    assert arena.bot_messages()[-1]["id"] == vote["id"]
