"""``DiscordDouble``: the server (REST + gateway on one port) and the API tests drive it with."""

from __future__ import annotations

import contextlib
import os
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from aiohttp import web

from .errors import MAX_FILE_BYTES
from .gateway import OP_RECONNECT, Gateway, GatewaySession
from .interactions import (
    AutocompleteResult,
    Interaction,
    InteractionType,
    build_command_data,
    command_permission_ok,
    find_component,
)
from .model import (
    Channel,
    Guild,
    Json,
    Member,
    MessageFlag,
    Permission,
    StoredMessage,
    Thread,
    User,
    Webhook,
)
from .openapi import load_validator
from .ratelimit import RateLimiter
from .rest import API_PREFIX, WEBHOOK_ROUTE, RecordedRequest, RestApi, major_parameter
from .state import CommandSync, State, TypingEvent, WebhookExecution
from .voice_double import VoiceActions, VoiceParts

DEFAULT_BOT_TOKEN = "MTAx.double.bot-token"
SPEC_ENV_VAR = "DISCORD_OPENAPI_SPEC"
UserRef = Member | User | int
MessageRef = StoredMessage | Mapping[str, Any] | int
_SELECT_TYPES = {3, 5, 6, 7, 8}
#: Reported webhook limits on Discord: about 5 requests per 2 s per webhook, 30 per minute
#: per channel.
WEBHOOK_RATE_LIMIT = (5, 2.0)
WEBHOOK_CHANNEL_RATE_LIMIT = (30, 60.0)


@dataclass(frozen=True)
class RequestCounts:
    """Requests that drew on the bot's global rate limit, per "METHOD /route" (429s
    included: Discord counts them), and channel webhook executes, which carry no bot
    Authorization and are counted apart."""

    bot: Mapping[str, int] = field(default_factory=dict)
    webhook_executes: int = 0

    @property
    def bot_total(self) -> int:
        return sum(self.bot.values())

    @property
    def total(self) -> int:
        """Everything a battle sent Discord's way except interaction answers."""
        return self.bot_total + self.webhook_executes

    def of(self, method: str, route: str) -> int:
        return self.bot.get(f"{method} {route}", 0)


class DiscordDouble(VoiceActions):
    """A local Discord (REST v10 + gateway) for the real discord.py client.

    ``async with DiscordDouble() as double`` serves on 127.0.0.1 (free port); point the
    client at ``double.api_base`` and ``double.gateway_url``.
    """

    def __init__(
        self,
        *,
        openapi_spec: str | os.PathLike[str] | None = None,
        bot_token: str = DEFAULT_BOT_TOKEN,
        bot_name: str = "rapbattle",
        shard_count: int = 1,
        host: str = "127.0.0.1",
        port: int = 0,
        heartbeat_interval: float = 41.25,
        privileged_intents: int = 0,
        default_rate_limit: tuple[int, float] | None = (50, 1.0),
        webhook_rate_limit: tuple[int, float] | None = WEBHOOK_RATE_LIMIT,
        webhook_channel_rate_limit: tuple[int, float] | None = WEBHOOK_CHANNEL_RATE_LIMIT,
        interaction_timeout: float = 3.0,
    ) -> None:
        """
        :param openapi_spec: path of Discord's openapi.json (default: the
            ``DISCORD_OPENAPI_SPEC`` environment variable; "" turns validation off); request
            bodies are validated against it and violations recorded.
        :param shard_count: what ``GET /gateway/bot`` recommends; also the shards
            :meth:`wait_connected` waits for.
        :param privileged_intents: privileged intents enabled for the application; asking
            for others gets close code 4014 like on Discord.
        :param default_rate_limit: (requests, seconds) of every route's bucket, or None for
            no rate limiting and no X-RateLimit headers.
        :param webhook_rate_limit: (requests, seconds) of each channel webhook's executes.
        :param webhook_channel_rate_limit: (requests, seconds) of all webhook executes into
            one channel (and its threads), whichever webhook posts them.
        :param interaction_timeout: seconds the bot has to answer an interaction.
        """
        self.token = bot_token
        self.shard_count = shard_count
        self._host, self._port = host, port
        self._state = State(bot_name=bot_name, privileged_intents=privileged_intents)
        self._gateway = Gateway(
            world=self._state,
            token=bot_token,
            notifier=self._state.notifier,
            heartbeat_interval=heartbeat_interval,
            privileged_intents=privileged_intents,
        )
        self._state.emitter = self._gateway.dispatch
        self._limiter = RateLimiter(
            default_rate_limit,
            webhook=webhook_rate_limit,
            webhook_channel=webhook_channel_rate_limit,
        )
        if openapi_spec is None:
            openapi_spec = os.environ.get(SPEC_ENV_VAR)
        self.validator = load_validator(os.fspath(openapi_spec)) if openapi_spec else None
        self._rest = RestApi(
            state=self._state,
            gateway=self._gateway,
            token=bot_token,
            validator=self.validator,
            limiter=self._limiter,
            interaction_timeout=interaction_timeout,
            shard_count=shard_count,
        )
        # Voice (voice*.py): the op 4 handler, Stage routes and the voice server.
        self._voice = VoiceParts(self._state, host, self._flush)
        self._gateway.voice_state_handler = self._voice.world.on_voice_state_update
        self._rest.extra_routes = self._voice.routes.routes()
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(client_max_size=16 * MAX_FILE_BYTES)
        app.router.add_get("/gateway", self._gateway.handle)
        self._rest.install(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self._host, self._port).start()
        port = self._runner.addresses[0][1]
        self.base_url = f"http://{self._host}:{port}"
        self._gateway.url = f"ws://{self._host}:{port}/gateway"
        self._state.attachment_base = f"{self.base_url}/attachments"
        await self._voice.start()

    async def close(self) -> None:
        if self._runner is not None:
            await self._voice.close()
            await self._gateway.close()
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- addresses and records ------------------------------------------------------------

    @property
    def api_base(self) -> str:
        return self.base_url + API_PREFIX

    @property
    def gateway_url(self) -> str:
        return self._gateway.url

    @property
    def bot_user(self) -> User:
        return self._state.bot

    @property
    def application_id(self) -> int:
        return self._state.application_id

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every REST request (method, path, route, json, query, status, files, at)."""
        return self._rest.requests

    @property
    def violations(self) -> list[str]:
        """Protocol violations ("METHOD /path: problem"): schema, auth, unsupported routes."""
        return self._rest.violations

    @property
    def invalid_requests(self) -> list[RecordedRequest]:
        """Requests answered 401, 403 or 429: what Discord counts toward its temporary ban
        (10,000 in 10 minutes)."""
        return [r for r in self._rest.requests if r.status in (401, 403, 429)]

    @property
    def rate_limit_hits(self) -> int:
        """How many 429s were served."""
        return self._rest.rate_limit_hits

    @property
    def sessions(self) -> list[GatewaySession]:
        return self._gateway.sessions

    @property
    def identifies(self) -> list[Json]:
        """IDENTIFY payloads (``d`` without the token), in order."""
        return self._gateway.identifies

    @property
    def command_syncs(self) -> list[CommandSync]:
        return self._state.command_syncs

    @property
    def guilds(self) -> dict[int, Guild]:
        return self._state.guilds

    # -- world setup ------------------------------------------------------------------------

    def add_guild(
        self,
        name: str,
        *,
        id: int | None = None,
        shard: int | None = None,
        shard_count: int | None = None,
    ) -> Guild:
        """Add a guild with the bot in it (GUILD_CREATE if the bot is connected).

        ``shard`` picks an id that lands on that shard of ``shard_count`` (default: the
        double's ``shard_count``).
        """
        snowflakes = self._state.snowflakes
        if id is None:
            id = (
                snowflakes.next()
                if shard is None
                else snowflakes.next_on_shard(shard, shard_count or self.shard_count)
            )
        guild = Guild(id, name, self._state)
        self._state.guilds[id] = guild
        self._state.emit("GUILD_CREATE", guild.to_gateway(all_members=False), id)
        return guild

    def channel(self, channel_id: int) -> Channel:
        return self._state.channels[channel_id]

    def commands(self, guild_id: int | None = None) -> list[Json]:
        """The commands currently synced (globally, or for ``guild_id``)."""
        if guild_id is None:
            return self._state.global_commands
        return self._state.guild_commands.get(guild_id, [])

    def rate_limit_channel(self, channel_id: int, per: int = 5, seconds: float = 5.0) -> None:
        """Limit ``POST /channels/{channel_id}/messages`` to ``per`` per ``seconds``."""
        major = major_parameter({"channel_id": str(channel_id)})
        self._limiter.configure("POST", "/channels/{channel_id}/messages", major, per, seconds)

    def rate_limit_webhook(self, webhook_id: int, per: int = 5, seconds: float = 2.0) -> None:
        """Limit one webhook's executes to ``per`` per ``seconds``."""
        major = self._webhook_major(webhook_id)
        self._limiter.configure("POST", WEBHOOK_ROUTE, major, per, seconds)

    def inject_channel_429(
        self, channel_id: int, *, count: int = 1, retry_after: float = 0.25
    ) -> None:
        """The bot's next ``count`` ``POST /channels/{channel_id}/messages`` get a 429 with
        ``retry_after`` (and Discord's headers), as if another process used the bucket."""
        major = major_parameter({"channel_id": str(channel_id)})
        self._limiter.inject(
            "POST", "/channels/{channel_id}/messages", major, count=count, retry_after=retry_after
        )

    def inject_webhook_429(
        self, webhook_id: int, *, count: int = 1, retry_after: float = 0.25
    ) -> None:
        """The next ``count`` executes of the webhook get a 429 with ``retry_after``."""
        self._limiter.inject(
            "POST",
            WEBHOOK_ROUTE,
            self._webhook_major(webhook_id),
            count=count,
            retry_after=retry_after,
        )

    def _webhook_major(self, webhook_id: int) -> str:
        webhook = self._webhook(webhook_id)
        return major_parameter({"webhook_id": str(webhook.id), "webhook_token": webhook.token})

    # -- counting requests ----------------------------------------------------------------

    def request_counts(self) -> RequestCounts:
        """Requests drawing on the bot's global rate limit since the start (or the last
        :meth:`reset_request_counts`), per route; webhook executes apart."""
        return RequestCounts(dict(self._rest.bot_request_counts), self._rest.webhook_execute_count)

    def reset_request_counts(self) -> None:
        self._rest.bot_request_counts = Counter()
        self._rest.webhook_execute_count = 0

    # -- permissions ----------------------------------------------------------------------

    def grant(self, channel: Channel | int, permissions: int) -> None:
        """Allow the bot ``permissions`` in the channel (a thread: in its parent)."""
        self._channel_of(channel).grant_bot(permissions)

    def revoke(self, channel: Channel | int, permissions: int) -> None:
        """Deny the bot ``permissions`` in the channel (a thread: in its parent)."""
        self._channel_of(channel).revoke_bot(permissions)

    # -- webhooks and threads -------------------------------------------------------------

    def webhooks(self, channel_id: int) -> list[Json]:
        """The channel's webhooks (wire form, with tokens), oldest first."""
        return [w.to_wire() for w in self.channel(channel_id).webhooks.values()]

    def webhook_messages(self, channel_id: int) -> list[WebhookExecution]:
        """Posts made through webhooks, in order: for a channel, those through its webhooks
        (into it or its threads); for a thread, those into the thread."""
        channel = self.channel(channel_id)
        if channel.is_thread:
            return [e for e in self._state.webhook_executions if e.thread_id == channel_id]
        return [e for e in self._state.webhook_executions if e.channel_id == channel_id]

    def add_webhook(self, channel: Channel | int, name: str, *, by: UserRef | None = None) -> Json:
        """Someone (default: the guild owner) makes a webhook in the channel, as in the
        server's settings: it counts toward the channel's 15."""
        channel = self._channel_of(channel)
        creator = channel.guild.owner if by is None else self._member(by, channel.guild)
        return self._state.create_webhook(channel, name, creator.user).to_wire()

    async def delete_webhook(self, webhook_id: int) -> None:
        """A moderator deletes a webhook (WEBHOOKS_UPDATE); posting through it then gets 404
        Unknown Webhook."""
        self._state.delete_webhook(self._webhook(webhook_id))
        await self._flush()

    def threads(self, channel_id: int) -> list[Json]:
        """Threads started in the channel (wire form), oldest first."""
        channel = self.channel(channel_id)
        return [t.to_wire() for t in channel.guild.threads.values() if t.parent is channel]

    def thread(self, thread_id: int) -> Thread:
        found = self.channel(thread_id)
        if not isinstance(found, Thread):
            raise KeyError(f"channel {thread_id} is not a thread")
        return found

    def _webhook(self, webhook_id: int) -> Webhook:
        webhook = self._state.webhooks.get(webhook_id)
        if webhook is None:
            raise KeyError(f"no webhook {webhook_id}")
        return webhook

    # -- observing messages -------------------------------------------------------------

    def messages(self, channel_id: int, *, include_ephemeral: bool = False) -> list[Json]:
        """Messages in the channel, oldest first, as views: the wire form plus
        ``allowed_mentions`` as sent and ``files`` (filename, content_type, data bytes)."""
        bot_id = self._state.bot.id
        return [
            m.to_view(bot_id)
            for m in self.channel(channel_id).messages.values()
            if include_ephemeral or not m.ephemeral
        ]

    def message(self, message_id: int) -> Json:
        return self._stored(message_id).to_view(self._state.bot.id)

    async def wait_for_message(
        self,
        channel_id: int,
        predicate: Callable[[Json], bool] | None = None,
        *,
        timeout: float = 10.0,
    ) -> Json:
        """The first (oldest) visible, non-"thinking" message matching ``predicate``;
        edits count, so a deferred response matches once it is filled in."""

        bot_id = self._state.bot.id

        def check() -> Json | None:
            for stored in self.channel(channel_id).messages.values():
                if stored.flags & (MessageFlag.LOADING | MessageFlag.EPHEMERAL):
                    continue
                message = stored.to_view(bot_id)
                if predicate is None or predicate(message):
                    return message
            return None

        def describe() -> str:
            recent = [m["content"][:80] for m in self.messages(channel_id)[-5:]]
            return f"a matching message in channel {channel_id} (latest: {recent})"

        return await self._state.notifier.wait_for(check, timeout, describe)

    def typing(self, channel_id: int) -> list[TypingEvent]:
        return [t for t in self._state.typing_events if t.channel_id == channel_id]

    def reactions(self, message: MessageRef, emoji: str) -> list[int]:
        """Ids of users who reacted with ``emoji``, in reaction order."""
        entry = self._stored(message).reactions.get(emoji)
        return [] if entry is None else list(entry.users)

    # -- users acting -------------------------------------------------------------------

    async def invoke_command(
        self,
        user: UserRef,
        channel: Channel | int,
        command: str,
        options: Mapping[str, Any] | None = None,
        *,
        locale: str = "en-US",
    ) -> Interaction:
        """Run a slash command as ``user`` ("battle" or "group sub"); options are typed
        from the synced command. Returns the record to await the bot's answer on."""
        channel = self._channel_of(channel)
        member = self._member(user, channel.guild)
        definition = self._command(channel, member, command)
        data = build_command_data(definition, command.split()[1:], options or {}, channel)
        return await self._start(
            InteractionType.APPLICATION_COMMAND, member, channel, command, data, locale=locale
        )

    async def autocomplete(
        self,
        user: UserRef,
        channel: Channel | int,
        command: str,
        options: Mapping[str, Any],
        *,
        focused: str,
        timeout: float = 3.0,
    ) -> AutocompleteResult:
        """Send an AUTOCOMPLETE interaction and return the bot's choices."""
        channel = self._channel_of(channel)
        member = self._member(user, channel.guild)
        definition = self._command(channel, member, command)
        data = build_command_data(
            definition, command.split()[1:], options, channel, focused=focused
        )
        interaction = await self._start(
            InteractionType.AUTOCOMPLETE, member, channel, command, data
        )
        body = await interaction.response(timeout)
        choices = (body.get("data") or {}).get("choices") or []
        return AutocompleteResult(choices, interaction.latency or 0.0)

    async def click(
        self, user: UserRef, message: MessageRef, custom_id: str, *, values: Iterable[str] = ()
    ) -> Interaction:
        """Click a button (or pick ``values`` in a select menu) on a message."""
        stored = self._stored(message)
        component = find_component(stored.components, custom_id)
        if component is None:
            raise ValueError(f"message {stored.id} has no component {custom_id!r}")
        if component.get("disabled"):
            raise ValueError(f"component {custom_id!r} is disabled")
        data: Json = {"custom_id": custom_id, "component_type": component["type"]}
        if component["type"] in _SELECT_TYPES:
            data["values"] = list(values)
        member = self._member(user, stored.channel.guild)
        return await self._start(
            InteractionType.MESSAGE_COMPONENT,
            member,
            stored.channel,
            custom_id,
            data,
            source=stored,
        )

    async def react(
        self, user: UserRef, message: MessageRef, emoji: str, *, burst: bool = False
    ) -> None:
        """``user`` reacts: stored, and MESSAGE_REACTION_ADD dispatched (or buffered for a
        RESUME while the gateway is down)."""
        stored = self._stored(message)
        member = self._member(user, stored.channel.guild)
        permissions = stored.channel.permissions_for(member)
        needed = Permission.VIEW_CHANNEL | Permission.READ_MESSAGE_HISTORY
        if emoji not in stored.reactions:
            needed |= Permission.ADD_REACTIONS
        if permissions & needed != needed:
            raise PermissionError(f"{member.name} may not react in #{stored.channel.name}")
        self._state.add_reaction(stored, member.user, emoji, burst=burst)
        await self._flush()

    async def unreact(self, user: UserRef, message: MessageRef, emoji: str) -> None:
        stored = self._stored(message)
        member = self._member(user, stored.channel.guild)
        self._state.remove_reaction(stored, member.id, emoji)
        await self._flush()

    def add_reactions_silently(
        self, message: MessageRef, emoji: str, users: Iterable[Member | User]
    ) -> None:
        """Store reactions without dispatching events (for load tests and recounts)."""
        stored = self._stored(message)
        for user in users:
            target = user.user if isinstance(user, Member) else user
            self._state.add_reaction(stored, target, emoji, dispatch=False)

    async def post_message(
        self, user: UserRef, channel: Channel | int, content: str, **fields: Any
    ) -> Json:
        """A user sends a message (MESSAGE_CREATE for bots with GUILD_MESSAGES)."""
        channel = self._channel_of(channel)
        member = self._member(user, channel.guild)
        needed = Permission.VIEW_CHANNEL | channel.send_permission
        if channel.permissions_for(member) & needed != needed:
            raise PermissionError(f"{member.name} may not send in #{channel.name}")
        message = self._state.create_message(channel, member.user, {"content": content, **fields})
        await self._flush()
        return message.to_view(self._state.bot.id)

    async def delete_message(self, message: MessageRef) -> None:
        """A moderator deletes a message (MESSAGE_DELETE)."""
        self._state.delete_message(self._stored(message))
        await self._flush()

    # -- gateway control ----------------------------------------------------------------

    async def disconnect(
        self, shard_id: int | None = None, *, code: int = 4000, hold: bool = False
    ) -> None:
        """Close the gateway websocket(s). Sessions stay resumable and keep collecting
        events; with ``hold`` the client's RESUME waits until :meth:`release`."""
        if hold:
            self._gateway.hold(shard_id)
        await self._gateway.disconnect(shard_id, code=code)

    def release(self, shard_id: int | None = None) -> None:
        self._gateway.release(shard_id)

    @contextlib.asynccontextmanager
    async def outage(
        self, shard_id: int | None = None, *, timeout: float = 10.0
    ) -> AsyncIterator[None]:
        """Gateway down for the block; on exit the client RESUMEs and gets what it missed."""
        await self.disconnect(shard_id, hold=True)
        try:
            yield
        finally:
            self.release(shard_id)
        await self.wait_connected(shard_id, timeout=timeout)

    async def request_reconnect(self, shard_id: int | None = None) -> None:
        """Send op 7 RECONNECT; discord.py closes and RESUMEs."""
        await self._gateway.send_op(OP_RECONNECT, None, shard_id)

    async def invalidate_session(
        self, shard_id: int | None = None, *, resumable: bool = False
    ) -> None:
        await self._gateway.invalidate(shard_id, resumable=resumable)

    def pause_dispatch(self) -> None:
        """Queue gateway events instead of sending them (until :meth:`resume_dispatch`)."""
        self._gateway.pause()

    def resume_dispatch(self) -> None:
        self._gateway.resume()

    async def wait_connected(self, shard_id: int | None = None, *, timeout: float = 10.0) -> None:
        """Wait until the shard (default: shards 0..shard_count-1) has a live session."""
        shards = range(self.shard_count) if shard_id is None else [shard_id]
        await self._state.notifier.wait_for(
            lambda: True if all(self._gateway.live(s) for s in shards) else None,
            timeout,
            f"gateway session(s) for shard(s) {list(shards)}",
        )

    async def wait_ready(self, shard_id: int | None = None, *, timeout: float = 10.0) -> None:
        """Like :meth:`wait_connected`, and READY/GUILD_CREATE (all queued events) sent."""
        await self.wait_connected(shard_id, timeout=timeout)
        await self._flush(timeout)

    # -- helpers ------------------------------------------------------------------------

    async def _flush(self, timeout: float = 5.0) -> None:
        await self._state.notifier.wait_for(
            lambda: True if self._gateway.flushed() else None,
            timeout,
            "gateway events to be sent",
        )

    def _channel_of(self, channel: Channel | int) -> Channel:
        return channel if isinstance(channel, Channel) else self.channel(channel)

    def _stored(self, message: MessageRef) -> StoredMessage:
        if isinstance(message, StoredMessage):
            return message
        message_id = message if isinstance(message, int) else int(message["id"])
        stored = self._state.message(message_id)
        if stored is None:
            raise KeyError(f"no message {message_id}")
        return stored

    @staticmethod
    def _member(user: UserRef, guild: Guild) -> Member:
        user_id = user if isinstance(user, int) else user.id
        member = guild.members.get(user_id)
        if member is None:
            raise ValueError(f"user {user_id} is not a member of {guild.name!r}")
        return member

    def _command(self, channel: Channel, member: Member, command: str) -> Json:
        name = command.split()[0]
        definition = self._state.find_command(channel.guild.id, name)
        if definition is None:
            synced = [c["name"] for c in self._state.global_commands]
            raise ValueError(f"/{name} is not synced (global commands: {synced})")
        permissions = channel.permissions_for(member)
        if not permissions & Permission.USE_APPLICATION_COMMANDS or not command_permission_ok(
            definition, channel.guild.permissions_for(member)
        ):
            raise PermissionError(f"{member.name} cannot use /{name} in #{channel.name}")
        return definition

    async def _start(
        self,
        kind: InteractionType,
        member: Member,
        channel: Channel,
        name: str,
        data: Json,
        *,
        source: StoredMessage | None = None,
        locale: str = "en-US",
    ) -> Interaction:
        guild = channel.guild
        if not self._gateway.has_session_for(guild.id):
            raise RuntimeError(f"no gateway session covers guild {guild.id}: is the bot up?")
        permissions = channel.permissions_for(member)
        if not permissions & Permission.VIEW_CHANNEL:
            raise PermissionError(f"{member.name} cannot see #{channel.name}")
        interaction = Interaction(
            id=self._state.snowflakes.next(),
            type=kind,
            application_id=self._state.application_id,
            user=member,
            channel=channel,
            name=name,
            notifier=self._state.notifier,
            source_message=source,
        )
        payload: Json = {
            "id": str(interaction.id),
            "application_id": str(self._state.application_id),
            "type": int(kind),
            "data": data,
            "token": interaction.token,
            "version": 1,
            "guild": {"id": str(guild.id), "locale": "en-US", "features": []},
            "guild_id": str(guild.id),
            "guild_locale": "en-US",
            "channel_id": str(channel.id),
            "channel": {**channel.to_wire(), "permissions": str(permissions)},
            "member": member.to_wire(permissions=permissions),
            "app_permissions": str(channel.permissions_for(guild.bot_member)),
            "locale": locale,
            "entitlements": [],
            "entitlement_sku_ids": [],
            "authorizing_integration_owners": {"0": str(guild.id)},
            "context": 0,
            "attachment_size_limit": MAX_FILE_BYTES,
        }
        if source is not None:
            payload["message"] = source.to_wire(self._state.bot.id)
        interaction.payload = payload
        self._state.interactions[interaction.id] = interaction
        self._state.emit("INTERACTION_CREATE", payload, guild.id)
        await self._flush()
        return interaction
