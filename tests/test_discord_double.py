"""The Discord double, proven with the real discord.py client running in-process against it."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import io
import os
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import discord
import pytest
import yarl
from discord import app_commands
from discord.ext import commands
from discord.gateway import DiscordWebSocket

from tests.fakes.discord_double import (
    BOT_DEFAULT_PERMISSIONS,
    Channel,
    DiscordDouble,
    Guild,
    Member,
    MessageFlag,
    Permission,
)

SPEC = os.environ.get("DISCORD_OPENAPI_SPEC")
MODELS = ["qwen-max", "qwen-turbo", "llama-3-70b", "llama-3-8b", "gpt-4o"]
PRIVILEGED_INTENTS = discord.Intents(members=True, presences=True, message_content=True)


def bot_intents() -> discord.Intents:
    """What the real bot asks for: guilds and guild reactions, nothing privileged."""
    intents = discord.Intents.none()
    intents.guilds = True
    intents.guild_reactions = True
    return intents


class PagesView(discord.ui.View):
    def __init__(self) -> None:
        super().__init__(timeout=None)

    @discord.ui.button(label="Next", custom_id="next")
    async def next_page(
        self, interaction: discord.Interaction, button: discord.ui.Button[PagesView]
    ) -> None:
        await interaction.response.edit_message(content="page 2")


class BattleCog(commands.Cog):
    @app_commands.command(description="Check the bot is alive")
    async def ping(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message("pong", ephemeral=True)

    @app_commands.command(description="Start a rap battle")
    async def battle(
        self,
        interaction: discord.Interaction,
        model_a: str,
        model_b: str,
        rounds: app_commands.Range[int, 1, 5] = 3,
        blind: bool = False,
    ) -> None:
        await interaction.response.send_message(f"Battle: {model_a} vs {model_b}, {rounds} rounds")
        assert isinstance(interaction.channel, discord.TextChannel)
        vote = await interaction.channel.send("Vote! 🅰️ or 🅱️")
        await vote.add_reaction("🅰️")
        await vote.add_reaction("🅱️")
        await interaction.edit_original_response(
            content=f"Battle: {model_a} vs {model_b}, {rounds} rounds (voting open)"
        )

    @battle.autocomplete("model_a")
    @battle.autocomplete("model_b")
    async def model_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=m, value=m) for m in MODELS if current in m]

    @app_commands.command(description="Say something in the channel")
    async def say(self, interaction: discord.Interaction, text: str) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        assert isinstance(interaction.channel, discord.TextChannel)
        try:
            async with interaction.channel.typing():
                await interaction.channel.send(text)
        except discord.HTTPException as error:
            await interaction.followup.send(f"failed: {error.status} {error.code}")
        else:
            await interaction.followup.send("sent")

    @app_commands.command(description="Show pages")
    async def pages(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message("page 1", view=PagesView())


class BattleBot(commands.Bot):
    def __init__(self) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=bot_intents(),
            allowed_mentions=discord.AllowedMentions.none(),
            guild_ready_timeout=0.1,
        )
        self.ready = asyncio.Event()
        self.resumed = asyncio.Event()
        self.raw_reactions: asyncio.Queue[discord.RawReactionActionEvent] = asyncio.Queue()

    async def setup_hook(self) -> None:
        await self.add_cog(BattleCog())

    async def on_ready(self) -> None:
        self.ready.set()

    async def on_resumed(self) -> None:
        self.resumed.set()

    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        self.raw_reactions.put_nowait(payload)


class ShardedBot(commands.AutoShardedBot):
    def __init__(self, **sharding: Any) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=bot_intents(),
            allowed_mentions=discord.AllowedMentions.none(),
            guild_ready_timeout=0.1,
            **sharding,  # shard_count / shard_ids
        )
        self.ready = asyncio.Event()

    async def on_ready(self) -> None:
        self.ready.set()

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """No 5 s pause between shards' IDENTIFYs (the double has no identify limit)."""


@dataclass
class Scene:
    guild: Guild
    channel: Channel
    readonly: Channel  # the bot cannot send here
    restricted: Channel  # no Add Reactions, no Embed Links
    alice: Member
    bob: Member


async def eventually(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


@contextlib.contextmanager
def redirected(double: DiscordDouble) -> Iterator[None]:
    """Point discord.py at the double (process-wide class attributes), then restore."""
    old_base, old_gateway = discord.http.Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
    discord.http.Route.BASE = double.api_base
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(double.gateway_url)
    try:
        yield
    finally:
        discord.http.Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = old_base, old_gateway


@contextlib.asynccontextmanager
async def running(bot: BattleBot | ShardedBot, token: str) -> AsyncIterator[None]:
    """Run the bot until on_ready; close it cleanly afterwards."""
    task = asyncio.create_task(bot.start(token))
    ready = asyncio.create_task(bot.ready.wait())
    try:
        done, _ = await asyncio.wait({task, ready}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            task.result()
        assert ready in done, "bot did not become ready"
        yield
    finally:
        ready.cancel()
        await bot.close()
        await asyncio.wait_for(task, 5)


@pytest.fixture
async def double() -> AsyncIterator[DiscordDouble]:
    async with DiscordDouble() as server:  # validates if DISCORD_OPENAPI_SPEC is set
        yield server


@pytest.fixture
def scene(double: DiscordDouble) -> Scene:
    return make_scene(double)


def make_scene(double: DiscordDouble) -> Scene:
    guild = double.add_guild("Test Server")
    everything = int(BOT_DEFAULT_PERMISSIONS)
    return Scene(
        guild=guild,
        channel=guild.add_channel("battles"),
        readonly=guild.add_channel(
            "readonly", bot_permissions=everything & ~Permission.SEND_MESSAGES
        ),
        restricted=guild.add_channel(
            "restricted",
            bot_permissions=everything & ~(Permission.ADD_REACTIONS | Permission.EMBED_LINKS),
        ),
        alice=guild.add_member("alice"),
        bob=guild.add_member("bob"),
    )


@pytest.fixture
async def bot(double: DiscordDouble, scene: Scene) -> AsyncIterator[BattleBot]:
    client = BattleBot()
    with redirected(double):
        async with running(client, double.token):
            await client.tree.sync()
            yield client
    assert double.violations == []


def text_channel(bot: commands.Bot, channel: Channel) -> discord.TextChannel:
    found = bot.get_channel(channel.id)
    assert isinstance(found, discord.TextChannel)
    return found


async def test_login_ready_and_guild_create(
    double: DiscordDouble, scene: Scene, bot: BattleBot
) -> None:
    assert bot.user is not None and bot.user.id == double.bot_user.id
    assert bot.application_id == double.application_id
    assert [r.path for r in double.requests[:2]] == ["/users/@me", "/oauth2/applications/@me"]

    (identify,) = double.identifies
    assert identify["intents"] == bot_intents().value
    assert identify["intents"] & PRIVILEGED_INTENTS.value == 0
    assert double.sessions[0].connection is not None
    assert double.sessions[0].connection.heartbeats >= 1  # each one was ACKed (op 11)

    guild = bot.get_guild(scene.guild.id)
    assert guild is not None and guild.name == "Test Server"
    assert guild.default_role.id == guild.id
    assert guild.me is not None and any(role.is_bot_managed() for role in guild.me.roles)
    assert guild.member_count == len(scene.guild.members)
    battles = text_channel(bot, scene.channel)
    expected = scene.channel.permissions_for(scene.guild.bot_member)
    assert battles.permissions_for(guild.me).value == expected
    assert expected & BOT_DEFAULT_PERMISSIONS == BOT_DEFAULT_PERMISSIONS
    assert not text_channel(bot, scene.readonly).permissions_for(guild.me).send_messages

    late_channel = scene.guild.add_channel("late-arrival")
    late_guild = double.add_guild("Joined Later")
    await eventually(lambda: bot.get_channel(late_channel.id) is not None)
    await eventually(lambda: bot.get_guild(late_guild.id) is not None)


async def test_command_sync_is_recorded(
    double: DiscordDouble, scene: Scene, bot: BattleBot
) -> None:
    synced = {c["name"]: c for c in double.commands()}
    assert set(synced) == {"ping", "battle", "say", "pages"}
    assert all(
        c["application_id"] == str(double.application_id) and c["version"] for c in synced.values()
    )
    options = {o["name"]: o for o in synced["battle"]["options"]}
    assert options["model_a"]["type"] == 3 and options["model_a"]["autocomplete"]
    assert (options["rounds"]["type"], options["rounds"]["min_value"]) == (4, 1)
    fetched = await bot.tree.fetch_commands()
    assert {c.id for c in fetched} == {int(c["id"]) for c in synced.values()}

    guild = discord.Object(scene.guild.id)
    bot.tree.copy_global_to(guild=guild)
    await bot.tree.sync(guild=guild)
    assert double.command_syncs[-1].guild_id == scene.guild.id
    interaction = await double.invoke_command(scene.alice, scene.channel, "ping")
    assert interaction.payload["data"]["guild_id"] == str(scene.guild.id)
    assert (await interaction.response())["type"] == 4


async def test_slash_command_round_trip_is_ephemeral(
    double: DiscordDouble, scene: Scene, bot: BattleBot
) -> None:
    interaction = await double.invoke_command(scene.alice, scene.channel, "ping")
    body = await interaction.response()
    assert body["type"] == 4 and body["data"]["content"] == "pong"
    assert interaction.ephemeral and interaction.latency is not None
    assert double.messages(scene.channel.id) == []
    (hidden,) = double.messages(scene.channel.id, include_ephemeral=True)
    assert hidden["flags"] & MessageFlag.EPHEMERAL
    assert hidden["interaction_metadata"]["user"]["id"] == str(scene.alice.id)


async def test_battle_command_votes_and_reaction_events(
    double: DiscordDouble, scene: Scene, bot: BattleBot
) -> None:
    options = {"model_a": "qwen-max", "model_b": "llama-3-70b", "rounds": 2}
    interaction = await double.invoke_command(scene.alice, scene.channel, "battle", options)
    assert [o["type"] for o in interaction.payload["data"]["options"]] == [3, 3, 4]
    app_permissions = scene.channel.permissions_for(scene.guild.bot_member)
    assert int(interaction.payload["app_permissions"]) == app_permissions
    announcement = await interaction.wait_message(lambda m: "voting open" in m["content"])
    assert announcement["content"] == "Battle: qwen-max vs llama-3-70b, 2 rounds (voting open)"
    assert announcement["type"] == 20 and announcement["edited_timestamp"] is not None
    assert interaction.response_body is not None and not interaction.ephemeral
    assert interaction.response_body["data"]["content"].endswith("2 rounds")
    assert [edit["content"] for edit in interaction.edits] == [announcement["content"]]

    vote = await double.wait_for_message(
        scene.channel.id, lambda m: len(m.get("reactions", [])) == 2
    )
    assert vote["content"].startswith("Vote!")
    assert double.reactions(vote, "🅰️") == [double.bot_user.id]
    assert vote["allowed_mentions"] == {"parse": []}

    await double.react(scene.alice, vote, "🅰️")
    seen = [await asyncio.wait_for(bot.raw_reactions.get(), 5) for _ in range(3)]
    own, alice = seen[:2], seen[2]
    assert {p.user_id for p in own} == {double.bot_user.id}  # Discord echoes the bot's own
    assert alice.user_id == scene.alice.id and alice.emoji.name == "🅰️"
    assert alice.member is not None and alice.member.name == "alice"
    assert alice.message_author_id == double.bot_user.id
    assert (alice.event_type, alice.burst) == ("REACTION_ADD", False)
    assert double.reactions(vote, "🅰️") == [double.bot_user.id, scene.alice.id]

    with pytest.raises(ValueError, match="rounds"):
        await double.invoke_command(
            scene.alice, scene.channel, "battle", {**options, "rounds": "two"}
        )
    with pytest.raises(ValueError, match="requires"):
        await double.invoke_command(scene.alice, scene.channel, "battle", {"model_a": "x"})


async def test_autocomplete_returns_choices(
    double: DiscordDouble, scene: Scene, bot: BattleBot
) -> None:
    result = await double.autocomplete(
        scene.bob, scene.channel, "battle", {"model_a": "qwen"}, focused="model_a"
    )
    assert [c["name"] for c in result.choices] == ["qwen-max", "qwen-turbo"]
    assert 0 < result.elapsed < 3


async def test_typing_followups_and_content_limit(
    double: DiscordDouble, scene: Scene, bot: BattleBot
) -> None:
    said = await double.invoke_command(scene.alice, scene.channel, "say", {"text": "hello"})
    assert (await said.response())["type"] == 5
    assert (await said.wait_followup())["content"] == "sent"
    # The first followup after a thinking defer fills in the deferred (ephemeral) message.
    assert said.message is not None and said.message["content"] == "sent"
    assert said.message["flags"] & MessageFlag.EPHEMERAL
    posted = await double.wait_for_message(scene.channel.id, lambda m: m["content"] == "hello")
    (typing,) = double.typing(scene.channel.id)
    assert typing.timestamp <= datetime.datetime.fromisoformat(posted["timestamp"])

    too_long = await double.invoke_command(scene.alice, scene.channel, "say", {"text": "x" * 2001})
    assert (await too_long.wait_followup())["content"] == "failed: 400 50035"
    with pytest.raises(discord.HTTPException) as error:
        await text_channel(bot, scene.channel).send("y" * 2001)
    assert (error.value.status, error.value.code) == (400, 50035)
    assert "In content: Must be 2000 or fewer in length." in error.value.text
    assert [m["content"] for m in double.messages(scene.channel.id)] == ["hello"]


async def test_files_are_kept(double: DiscordDouble, scene: Scene, bot: BattleBot) -> None:
    channel = text_channel(bot, scene.channel)
    sent = await channel.send("verses", file=discord.File(io.BytesIO(b"bars"), "verse.txt"))
    stored = double.message(sent.id)
    assert [(f["filename"], f["data"]) for f in stored["files"]] == [("verse.txt", b"bars")]
    assert sent.attachments[0].filename == "verse.txt"
    assert await sent.attachments[0].read() == b"bars"


async def test_history_edit_and_delete(double: DiscordDouble, scene: Scene, bot: BattleBot) -> None:
    channel = text_channel(bot, scene.channel)
    first, second, third = [await channel.send(f"verse {n}") for n in (1, 2, 3)]
    assert [m.id async for m in channel.history(limit=2)] == [third.id, second.id]
    after = [m.id async for m in channel.history(after=first, oldest_first=True)]
    assert after == [second.id, third.id]

    await second.edit(content="verse 2 (remix)")
    stored = double.message(second.id)
    assert stored["content"] == "verse 2 (remix)" and stored["edited_timestamp"] is not None
    await third.delete()
    assert [m["content"] for m in double.messages(scene.channel.id)] == [
        "verse 1",
        "verse 2 (remix)",
    ]
    with pytest.raises(discord.NotFound):
        await channel.fetch_message(third.id)


async def test_reaction_users_are_paged(
    double: DiscordDouble, scene: Scene, bot: BattleBot
) -> None:
    channel = text_channel(bot, scene.channel)
    vote = await channel.send("Vote!")
    voters = [scene.guild.add_member(f"voter{i}") for i in range(250)]
    double.add_reactions_silently(vote.id, "🅰️", voters)

    fetched = await channel.fetch_message(vote.id)
    (reaction,) = fetched.reactions
    assert (reaction.emoji, reaction.count, reaction.me) == ("🅰️", 250, False)
    users = [user async for user in reaction.users()]
    voter_ids = sorted(v.id for v in voters)
    assert sorted(u.id for u in users) == voter_ids  # discord.py yields each page reversed
    listings = [r for r in double.requests if r.route.endswith("/reactions/{emoji_name}")]
    assert [r.query["limit"] for r in listings] == ["100", "100", "50"]
    assert "after" not in listings[0].query
    assert [r.query["after"] for r in listings[1:]] == [str(voter_ids[99]), str(voter_ids[199])]


async def test_rate_limit_is_honoured(double: DiscordDouble, scene: Scene, bot: BattleBot) -> None:
    double.rate_limit_channel(scene.channel.id, per=1, seconds=0.5)
    url = f"{double.api_base}/channels/{scene.channel.id}/messages"
    headers = {"Authorization": f"Bot {double.token}"}
    async with aiohttp.ClientSession() as session:  # another process using the same bucket
        async with session.post(url, json={"content": "first"}, headers=headers) as response:
            assert response.status == 200
            assert response.headers["X-RateLimit-Remaining"] == "0"

    await text_channel(bot, scene.channel).send("second")
    assert double.rate_limit_hits == 1
    posts = [
        r.status
        for r in double.requests
        if r.method == "POST" and r.path.endswith(f"/channels/{scene.channel.id}/messages")
    ]
    assert posts == [200, 429, 200]
    assert [m["content"] for m in double.messages(scene.channel.id)] == ["first", "second"]


async def test_permissions_are_enforced(
    double: DiscordDouble, scene: Scene, bot: BattleBot
) -> None:
    with pytest.raises(discord.Forbidden) as error:
        await text_channel(bot, scene.readonly).send("hi")
    assert (error.value.status, error.value.code) == (403, 50013)

    restricted = text_channel(bot, scene.restricted)
    message = await restricted.send("look", embed=discord.Embed(title="dropped"))
    assert message.embeds == []  # Discord silently drops embeds without Embed Links
    with pytest.raises(discord.Forbidden):
        await message.add_reaction("🅰️")
    await double.react(scene.alice, message.id, "🅰️")
    await message.add_reaction("🅰️")  # an existing reaction may be joined
    assert double.reactions(message.id, "🅰️") == [scene.alice.id, double.bot_user.id]


async def test_resume_delivers_events_missed_while_disconnected(
    double: DiscordDouble, scene: Scene, bot: BattleBot
) -> None:
    vote = await text_channel(bot, scene.channel).send("Vote!")
    async with double.outage():
        assert not double.sessions[0].live
        await double.react(scene.bob, vote.id, "🅱️")
        await asyncio.sleep(0.1)
        assert bot.raw_reactions.empty()
    payload = await asyncio.wait_for(bot.raw_reactions.get(), 5)
    assert (payload.user_id, payload.emoji.name) == (scene.bob.id, "🅱️")
    await asyncio.wait_for(bot.resumed.wait(), 5)
    assert double.sessions[0].resumes == 1 and len(double.identifies) == 1

    double.pause_dispatch()
    await double.react(scene.alice, vote.id, "🅰️")
    await asyncio.sleep(0.1)
    assert bot.raw_reactions.empty()
    double.resume_dispatch()
    payload = await asyncio.wait_for(bot.raw_reactions.get(), 5)
    assert (payload.user_id, payload.emoji.name) == (scene.alice.id, "🅰️")

    await double.request_reconnect()  # op 7: the client closes and resumes
    await eventually(lambda: double.sessions[0].resumes == 2 and double.sessions[0].live)
    await double.react(scene.alice, vote.id, "🅱️")
    payload = await asyncio.wait_for(bot.raw_reactions.get(), 5)
    assert payload.user_id == scene.alice.id


async def test_button_click_updates_message(
    double: DiscordDouble, scene: Scene, bot: BattleBot
) -> None:
    interaction = await double.invoke_command(scene.alice, scene.channel, "pages")
    page = await interaction.wait_message()
    click = await double.click(scene.bob, page, "next")
    assert (await click.response())["type"] == 7
    assert double.message(int(page["id"]))["content"] == "page 2"


async def test_sharded_bots_get_only_their_guilds() -> None:
    async with DiscordDouble(shard_count=2) as double:
        zero = double.add_guild("Zero", shard=0)
        ones = [double.add_guild("One", shard=1), double.add_guild("Uno", shard=1)]
        everyone = ShardedBot()  # shard count from GET /gateway/bot
        shard_one = ShardedBot(shard_count=2, shard_ids=[1])
        with redirected(double):
            async with running(everyone, double.token), running(shard_one, double.token):
                assert {g.id: g.shard_id for g in everyone.guilds} == {
                    zero.id: 0,
                    ones[0].id: 1,
                    ones[1].id: 1,
                }
                assert {g.id for g in shard_one.guilds} == {g.id for g in ones}
        assert sorted(tuple(i["shard"]) for i in double.identifies) == [(0, 2), (1, 2), (1, 2)]
        for session in double.sessions:
            expected = [zero.id] if session.shard_id == 0 else [g.id for g in ones]
            assert session.guild_ids == expected
            assert session.ended  # bot.close() closes with 1000, which ends the session
        assert double.violations == []


async def test_protocol_violations_are_recorded(double: DiscordDouble, scene: Scene) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{double.api_base}/gateway") as response:
            assert response.headers["Content-Type"] == "application/json"
        async with session.get(f"{double.api_base}/users/@me") as response:
            assert response.status == 401
    assert double.violations == ["GET /users/@me: no Authorization header"]


@pytest.mark.skipif(SPEC is None, reason="DISCORD_OPENAPI_SPEC is not set")
async def test_openapi_validation_flags_invalid_bodies(double: DiscordDouble, scene: Scene) -> None:
    url = f"{double.api_base}/channels/{scene.channel.id}/messages"
    headers = {"Authorization": f"Bot {double.token}"}
    async with aiohttp.ClientSession() as session:
        body = {"content": "hi", "tts": "yes", "allowed_mentions": {"users": [1, 2]}}
        async with session.post(url, json=body, headers=headers) as response:
            assert response.status == 400
            error = await response.json()
    assert error["code"] == 50035 and "tts" in error["errors"]
    (violation,) = double.violations
    assert violation.startswith(f"POST /channels/{scene.channel.id}/messages: $.tts")
    assert double.messages(scene.channel.id) == []


# -- webhooks ----------------------------------------------------------------------------------

STAGE_PERMISSIONS = Permission.MANAGE_WEBHOOKS | Permission.CREATE_PUBLIC_THREADS
QWEN_AVATAR = "https://example.org/qwen.png"


@contextlib.asynccontextmanager
async def bot_against(double: DiscordDouble) -> AsyncIterator[tuple[Scene, BattleBot]]:
    """A scene and a running bot on a double configured by the test."""
    scene = make_scene(double)
    client = BattleBot()
    with redirected(double):
        async with running(client, double.token):
            yield scene, client
    assert double.violations == []


def execute_statuses(double: DiscordDouble, webhook_id: int) -> list[int]:
    prefix = f"/webhooks/{webhook_id}/"
    return [
        r.status
        for r in double.requests
        if r.method == "POST" and r.path.startswith(prefix) and "/messages" not in r.path
    ]


async def test_webhook_create_list_and_execute_with_name_and_face(
    double: DiscordDouble, scene: Scene, bot: BattleBot
) -> None:
    double.grant(scene.channel, Permission.MANAGE_WEBHOOKS)
    channel = text_channel(bot, scene.channel)
    hook = await channel.create_webhook(name="rapbattle stage")
    assert hook.token and hook.channel_id == channel.id
    assert hook.user is not None and hook.user.id == double.bot_user.id
    listed = await channel.webhooks()
    assert [(w.id, w.token) for w in listed] == [(hook.id, hook.token)]
    assert [w["name"] for w in double.webhooks(scene.channel.id)] == ["rapbattle stage"]

    sent = await hook.send(
        "Bars from the east",
        username="qwen-max",
        avatar_url=QWEN_AVATAR,
        allowed_mentions=discord.AllowedMentions.none(),
        wait=True,
    )
    assert sent.webhook_id == hook.id and sent.channel.id == channel.id
    assert (sent.author.id, sent.author.name, sent.author.bot) == (hook.id, "qwen-max", True)
    assert sent.author.avatar is not None and str(hook.id) in sent.author.display_avatar.url
    # Without allowed_mentions the webhook still sends the client's default (none parsed):
    # discord.py merges the ConnectionState's default into state-bound webhooks' posts.
    await hook.send("Second verse <@&1> @everyone", username="llama-3-70b", wait=True)
    unnamed = await hook.send("Third", wait=True)
    assert unnamed.author.name == "rapbattle stage"  # no username: the webhook's own name

    posts = double.webhook_messages(scene.channel.id)
    assert [(p.username, p.avatar_url, p.thread_id) for p in posts] == [
        ("qwen-max", QWEN_AVATAR, None),
        ("llama-3-70b", None, None),
        (None, None, None),
    ]
    assert [p.allowed_mentions for p in posts] == [{"parse": []}] * 3
    assert [p.message_id for p in posts] == [sent.id, posts[1].message_id, unnamed.id]
    assert posts[0].content == "Bars from the east" and posts[0].webhook_id == hook.id

    # Channel history shows them as Discord does: authored by the webhook, with webhook_id.
    history = [m async for m in channel.history(limit=10, oldest_first=True)]
    assert [(m.author.name, m.webhook_id) for m in history] == [
        ("qwen-max", hook.id),
        ("llama-3-70b", hook.id),
        ("rapbattle stage", hook.id),
    ]
    stored = double.message(sent.id)
    assert stored["author"]["id"] == str(hook.id) and stored["webhook_id"] == str(hook.id)
    assert stored["author"]["bot"] is True and stored["author"]["discriminator"] == "0000"
    assert "member" not in stored  # a webhook is no member of the guild

    # Executes carry no bot Authorization: counted apart from the bot's global limit.
    counts = double.request_counts()
    assert counts.webhook_executes == 3
    assert not any(route.startswith("POST /webhooks") for route in counts.bot)
    assert counts.of("POST", "/channels/{channel_id}/webhooks") == 1
    assert counts.of("GET", "/channels/{channel_id}/webhooks") == 1


async def test_webhook_permission_name_and_count_refusals(
    double: DiscordDouble, scene: Scene, bot: BattleBot
) -> None:
    channel = text_channel(bot, scene.channel)
    with pytest.raises(discord.Forbidden) as refused:
        await channel.create_webhook(name="stage")
    assert (refused.value.status, refused.value.code) == (403, 50013)
    with pytest.raises(discord.Forbidden) as refused:
        await channel.webhooks()
    assert refused.value.code == 50013
    assert double.webhooks(scene.channel.id) == []

    double.grant(scene.channel, Permission.MANAGE_WEBHOOKS)
    for name in ("My Discord Stage", "clyde"):
        with pytest.raises(discord.HTTPException) as bad_name:
            await channel.create_webhook(name=name)
        assert (bad_name.value.status, bad_name.value.code) == (400, 50035)
        assert "name" in bad_name.value.text

    for number in range(14):
        double.add_webhook(scene.channel, f"someone else's {number}")
    fifteenth = await channel.create_webhook(name="stage")
    with pytest.raises(discord.HTTPException) as full:
        await channel.create_webhook(name="stage 2")
    assert (full.value.status, full.value.code) == (400, 30007)
    assert len(await channel.webhooks()) == 15
    assert double.webhooks(scene.channel.id)[-1]["id"] == str(fifteenth.id)

    double.revoke(scene.channel, Permission.MANAGE_WEBHOOKS)
    with pytest.raises(discord.Forbidden):
        await channel.webhooks()
    refused_routes = [(r.method, r.route, r.status) for r in double.invalid_requests]
    assert refused_routes == [
        ("POST", "/channels/{channel_id}/webhooks", 403),
        ("GET", "/channels/{channel_id}/webhooks", 403),
        ("GET", "/channels/{channel_id}/webhooks", 403),
    ]
    # Executing needs no permission of the bot: only the webhook's token.
    assert (await fifteenth.send("still here", wait=True)).webhook_id == fifteenth.id


async def test_webhook_post_limits(double: DiscordDouble, scene: Scene, bot: BattleBot) -> None:
    double.grant(scene.channel, Permission.MANAGE_WEBHOOKS)
    hook = await text_channel(bot, scene.channel).create_webhook(name="stage")
    with pytest.raises(discord.HTTPException) as too_long:
        await hook.send("x" * 2001, username="qwen-max", wait=True)
    assert (too_long.value.status, too_long.value.code) == (400, 50035)
    assert "content" in too_long.value.text
    with pytest.raises(discord.HTTPException) as bad_username:
        await hook.send("hi", username="Clyde the MC", wait=True)
    assert (bad_username.value.status, bad_username.value.code) == (400, 50035)
    assert (await hook.send("x" * 2000, wait=True)).content == "x" * 2000
    assert [p.content for p in double.webhook_messages(scene.channel.id)] == ["x" * 2000]
    # With the OpenAPI description, 2001 characters also break the webhook schema (which,
    # unlike the message one, says 2000): recorded as the client's mistake, made on purpose.
    schema_errors = [v for v in double.violations if "content" in v]
    assert len(schema_errors) == len(double.violations) == (1 if double.validator else 0)
    double.violations.clear()


async def test_deleted_webhook_answers_404_and_can_be_recreated(
    double: DiscordDouble, scene: Scene, bot: BattleBot
) -> None:
    double.grant(scene.channel, Permission.MANAGE_WEBHOOKS)
    channel = text_channel(bot, scene.channel)
    hook = await channel.create_webhook(name="stage")
    await hook.send("one", wait=True)
    await double.delete_webhook(hook.id)  # a moderator removes it
    with pytest.raises(discord.NotFound) as gone:
        await hook.send("two", wait=True)
    assert (gone.value.status, gone.value.code) == (404, 10015)
    assert await channel.webhooks() == []

    again = await channel.create_webhook(name="stage")
    assert again.id != hook.id
    await again.send("two", wait=True)
    await again.delete()  # the bot removes its own (DELETE /webhooks/{id}, Manage Webhooks)
    assert double.webhooks(scene.channel.id) == []
    with pytest.raises(discord.NotFound):
        await again.send("three", wait=True)
    third = await channel.create_webhook(name="stage")
    await third.delete(prefer_auth=False)  # DELETE /webhooks/{id}/{token}: no permission needed
    assert double.webhooks(scene.channel.id) == []
    with pytest.raises(discord.HTTPException) as nameless:
        await channel.create_webhook(name="x" * 81)
    assert nameless.value.code == 50035
    assert len(double.violations) == (1 if double.validator else 0)  # the schema says 80 too
    double.violations.clear()
    assert [p.content for p in double.webhook_messages(scene.channel.id)] == ["one", "two"]
    assert [m["content"] for m in double.messages(scene.channel.id)] == ["one", "two"]


async def test_webhook_429_then_retry_delivers_every_verse_in_order(
    double: DiscordDouble, scene: Scene, bot: BattleBot
) -> None:
    double.grant(scene.channel, Permission.MANAGE_WEBHOOKS)
    hook = await text_channel(bot, scene.channel).create_webhook(name="stage")
    double.inject_webhook_429(hook.id, count=2, retry_after=0.1)
    verses = [f"verse {n}" for n in range(1, 5)]
    sent = await asyncio.gather(*(hook.send(v, username="MC A", wait=True) for v in verses))
    assert [m.content for m in sent] == verses
    assert [p.content for p in double.webhook_messages(scene.channel.id)] == verses
    assert [m["content"] for m in double.messages(scene.channel.id)] == verses
    assert execute_statuses(double, hook.id) == [429, 429, 200, 200, 200, 200]
    assert double.rate_limit_hits == 2
    assert double.request_counts().webhook_executes == 6  # the refused ones count too


async def test_webhook_429_answer_is_discords() -> None:
    async with DiscordDouble(webhook_rate_limit=(1, 0.3)) as double:
        channel = make_scene(double).channel
        hook = double.add_webhook(channel, "stage")
        url = f"{double.api_base}/webhooks/{hook['id']}/{hook['token']}?wait=true"
        async with aiohttp.ClientSession() as session:
            async with session.post(url, json={"content": "first"}) as response:
                assert response.status == 200
                assert response.headers["X-RateLimit-Limit"] == "1"
                assert response.headers["X-RateLimit-Remaining"] == "0"
            async with session.post(url, json={"content": "second"}) as response:
                assert response.status == 429
                assert response.headers["Content-Type"] == "application/json"
                body = await response.json()
                assert body["global"] is False and 0 < body["retry_after"] <= 0.3
                assert float(response.headers["X-RateLimit-Reset-After"]) == body["retry_after"]
                assert response.headers["X-RateLimit-Scope"] == "user"
                assert response.headers["Via"]
            unknown = f"{double.api_base}/webhooks/{hook['id']}/wrong-token?wait=true"
            async with session.post(unknown, json={"content": "x"}) as response:
                assert (response.status, (await response.json())["code"]) == (401, 50027)
        assert [m["content"] for m in double.messages(channel.id)] == ["first"]
        assert double.violations == []


async def test_webhook_limits_per_webhook_and_per_channel_are_honoured() -> None:
    async with DiscordDouble(webhook_rate_limit=(2, 0.4), webhook_channel_rate_limit=None) as d:
        async with bot_against(d) as (scene, client):
            d.grant(scene.channel, Permission.MANAGE_WEBHOOKS)
            hook = await text_channel(client, scene.channel).create_webhook(name="stage")
            loop = asyncio.get_running_loop()
            started = loop.time()
            for n in range(5):
                await hook.send(f"verse {n}", wait=True)
            # The X-RateLimit headers make discord.py wait instead of getting 429s.
            assert loop.time() - started >= 0.75
            assert d.rate_limit_hits == 0
            assert len(d.webhook_messages(scene.channel.id)) == 5

    async with DiscordDouble(webhook_rate_limit=None, webhook_channel_rate_limit=(3, 0.6)) as d:
        async with bot_against(d) as (scene, client):
            d.grant(scene.channel, Permission.MANAGE_WEBHOOKS)
            channel = text_channel(client, scene.channel)
            hooks = [await channel.create_webhook(name=f"stage {n}") for n in (1, 2)]

            async def battle(hook: discord.Webhook, name: str) -> None:
                for n in range(4):
                    await hook.send(f"{name} verse {n}", wait=True)

            await asyncio.gather(battle(hooks[0], "left"), battle(hooks[1], "right"))
            # Two webhooks share the channel's bucket, so one of them runs into a 429 that
            # its own headers could not foresee; it waits and retries, losing nothing.
            assert d.rate_limit_hits >= 1
            posts = d.webhook_messages(scene.channel.id)
            for hook, name in zip(hooks, ("left", "right"), strict=True):
                mine = [p.content for p in posts if p.webhook_id == hook.id]
                assert mine == [f"{name} verse {n}" for n in range(4)]


# -- threads -----------------------------------------------------------------------------------


async def test_thread_from_a_message_and_everything_in_it(
    double: DiscordDouble, scene: Scene, bot: BattleBot
) -> None:
    double.grant(scene.channel, STAGE_PERMISSIONS)
    channel = text_channel(bot, scene.channel)
    title = await channel.send("qwen-max vs llama-3-70b")
    thread = await title.create_thread(name="qwen-max vs llama-3-70b")
    assert thread.id == title.id and thread.parent_id == channel.id
    assert (
        thread.owner_id == double.bot_user.id and thread.type is discord.ChannelType.public_thread
    )
    await eventually(lambda: bot.get_channel(thread.id) is not None)  # THREAD_CREATE
    assert channel.guild.get_thread(thread.id) is not None
    stored_title = double.message(title.id)
    assert stored_title["thread"]["id"] == str(thread.id)
    assert stored_title["flags"] & MessageFlag.HAS_THREAD
    (listed,) = double.threads(scene.channel.id)
    assert listed["parent_id"] == str(scene.channel.id) and listed["type"] == 11

    with pytest.raises(discord.HTTPException) as twice:
        await title.create_thread(name="again")
    assert (twice.value.status, twice.value.code) == (400, 160004)

    verse = await thread.send("First verse")
    assert verse.channel.id == thread.id
    async with thread.typing():
        pass
    vote = await thread.send("Vote!")
    await vote.add_reaction("🅰️")
    await vote.add_reaction("🅱️")
    await double.react(scene.alice, vote.id, "🅰️")
    fetched = await thread.fetch_message(vote.id)
    assert {(str(r.emoji), r.count) for r in fetched.reactions} == {("🅰️", 2), ("🅱️", 1)}
    reaction = next(r for r in fetched.reactions if str(r.emoji) == "🅰️")
    users = [u.id async for u in reaction.users()]
    assert sorted(users) == sorted([double.bot_user.id, scene.alice.id])

    hook = await channel.create_webhook(name="stage")
    in_thread = await hook.send("Second verse", username="llama-3-70b", thread=thread, wait=True)
    assert in_thread.channel.id == thread.id
    (post,) = double.webhook_messages(thread.id)
    assert (post.thread_id, post.channel_id, post.username) == (
        thread.id,
        scene.channel.id,
        "llama-3-70b",
    )
    assert double.webhook_messages(scene.channel.id) == [post]
    assert [m["content"] for m in double.messages(thread.id)] == [
        "",  # the thread starter message
        "First verse",
        "Vote!",
        "Second verse",
    ]
    assert [m["content"] for m in double.messages(scene.channel.id)] == [title.content]
    starter, *history = [m async for m in thread.history(oldest_first=True)]
    assert [m.content for m in history] == ["First verse", "Vote!", "Second verse"]
    assert starter.type is discord.MessageType.thread_starter_message
    assert starter.content == "" and starter.author.id == double.bot_user.id
    assert starter.reference is not None and starter.reference.message_id == title.id
    assert isinstance(starter.reference.resolved, discord.Message)
    assert starter.reference.resolved.content == title.content
    assert [t.id for t in await channel.guild.active_threads()] == [thread.id]

    # A webhook posts only into its own channel's threads.
    double.grant(scene.restricted, Permission.CREATE_PUBLIC_THREADS)
    elsewhere = await (await text_channel(bot, scene.restricted).send("x")).create_thread(name="x")
    for stranger in (elsewhere, discord.Object(scene.readonly.id)):
        with pytest.raises(discord.NotFound) as unknown:
            await hook.send("lost", thread=stranger, wait=True)
        assert unknown.value.code == 10003
    assert len(double.webhook_messages(scene.channel.id)) == 1


async def test_a_restarted_bot_finds_active_threads(
    double: DiscordDouble, scene: Scene, bot: BattleBot
) -> None:
    double.grant(scene.channel, Permission.CREATE_PUBLIC_THREADS)
    title = await text_channel(bot, scene.channel).send("title")
    thread = await title.create_thread(name="battle")
    await thread.send("verse")
    restarted = BattleBot()
    async with running(restarted, double.token):
        found = restarted.get_channel(thread.id)  # from GUILD_CREATE's threads
        assert isinstance(found, discord.Thread) and found.parent_id == scene.channel.id
        assert found.last_message_id is not None
        assert (found.message_count, found.total_message_sent) == (1, 1)
        assert [m.content async for m in found.history()] == ["verse", ""]  # newest first


async def test_thread_permission_refusals(
    double: DiscordDouble, scene: Scene, bot: BattleBot
) -> None:
    channel = text_channel(bot, scene.channel)
    title = await channel.send("title")
    with pytest.raises(discord.Forbidden) as refused:
        await title.create_thread(name="battle")
    assert (refused.value.status, refused.value.code) == (403, 50013)

    double.grant(scene.channel, Permission.CREATE_PUBLIC_THREADS)
    thread = await title.create_thread(name="battle")
    # Sending in a thread needs Send Messages in Threads, not Send Messages.
    double.revoke(scene.channel, Permission.SEND_MESSAGES)
    with pytest.raises(discord.Forbidden):
        await channel.send("in the channel")
    assert (await thread.send("in the thread")).channel.id == thread.id
    double.revoke(scene.channel, Permission.SEND_MESSAGES_IN_THREADS)
    with pytest.raises(discord.Forbidden) as refused:
        await thread.send("in the thread again")
    assert refused.value.code == 50013
    with pytest.raises(discord.Forbidden):
        async with thread.typing():
            pass
    double.grant(scene.channel, Permission.SEND_MESSAGES_IN_THREADS)

    # Overwrites on the parent apply in the thread.
    vote = await thread.send("Vote!")
    double.revoke(scene.channel, Permission.ADD_REACTIONS)
    with pytest.raises(discord.Forbidden):
        await vote.add_reaction("🅰️")
    double.revoke(scene.channel, Permission.VIEW_CHANNEL)
    with pytest.raises(discord.Forbidden) as hidden:
        await thread.send("hidden")
    assert hidden.value.code == 50001
    with pytest.raises(ValueError):
        double.thread(thread.id).set_permissions(scene.alice, deny=Permission.SEND_MESSAGES)
    assert [m["content"] for m in double.messages(thread.id)] == ["", "in the thread", "Vote!"]


# -- counting requests -------------------------------------------------------------------------


async def test_request_counts_cover_what_draws_on_the_global_limit(
    double: DiscordDouble, scene: Scene, bot: BattleBot
) -> None:
    double.grant(scene.channel, STAGE_PERMISSIONS)
    channel = text_channel(bot, scene.channel)
    assert double.request_counts().bot_total > 0  # login and command sync
    double.reset_request_counts()
    assert double.request_counts() == type(double.request_counts())()

    interaction = await double.invoke_command(scene.alice, scene.channel, "ping")
    await interaction.response()  # interaction answers are exempt
    title = await channel.send("title")
    thread = await title.create_thread(name="battle")
    hook = await channel.create_webhook(name="stage")
    async with thread.typing():
        await hook.send("verse A", username="MC A", thread=thread, wait=True)
    await hook.send("verse B", username="MC B", thread=thread, wait=True)
    vote = await thread.send("Vote!")
    await vote.add_reaction("🅰️")
    await vote.add_reaction("🅱️")

    counts = double.request_counts()
    assert counts.bot == {
        "POST /channels/{channel_id}/messages": 2,
        "POST /channels/{channel_id}/messages/{message_id}/threads": 1,
        "POST /channels/{channel_id}/webhooks": 1,
        "POST /channels/{channel_id}/typing": 1,
        "PUT /channels/{channel_id}/messages/{message_id}/reactions/{emoji_name}/@me": 2,
    }
    assert counts.webhook_executes == 2 and counts.total == 9


async def test_scripted_429_on_bot_messages_keeps_order(
    double: DiscordDouble, scene: Scene, bot: BattleBot
) -> None:
    double.inject_channel_429(scene.channel.id, count=1, retry_after=0.1)
    channel = text_channel(bot, scene.channel)
    await asyncio.gather(*(channel.send(f"line {n}") for n in range(3)))
    assert [m["content"] for m in double.messages(scene.channel.id)] == [
        f"line {n}" for n in range(3)
    ]
    assert double.rate_limit_hits == 1
