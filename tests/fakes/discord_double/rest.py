"""REST API v10: the request pipeline and the routes the bot uses.

Every request goes through: Authorization check (not for interaction callbacks and webhook
token routes, which Discord authenticates by token) -> body parsing (JSON or multipart with
``payload_json``) -> OpenAPI validation (when a spec is configured) -> rate limit -> handler.
Broken protocol (missing auth, schema violations, unsupported routes, invalid JSON) answers
like Discord and is also appended to ``violations``. Permission rules follow Discord:

* no View Channel -> 403 50001 Missing Access for anything in the channel;
* sending needs Send Messages, files need Attach Files (403 50013); without Embed Links
  embeds are silently dropped;
* fetching one message needs Read Message History (403 50013); listing without it returns [];
* adding a reaction needs Read Message History, and Add Reactions unless someone already
  reacted with that emoji; listing reactions needs Read Message History;
* deleting others' messages/reactions needs Manage Messages;
* interaction responses and followups need no channel permission;
* in a thread the parent's overwrites apply, and sending (and typing) needs Send Messages in
  Threads instead of Send Messages; starting a thread from a message needs Create Public
  Threads;
* creating, listing, fetching and deleting webhooks needs Manage Webhooks; executing one needs
  only its token (no Authorization), and is rate limited per webhook and per channel.

Every request with the bot's Authorization draws on its global rate limit and is counted per
route (``bot_request_counts``); channel webhook executes are counted apart.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import BodyPartReader, hdrs, web

from .errors import (
    MAX_FILE_BYTES,
    UNKNOWN_CHANNEL,
    UNKNOWN_GUILD,
    UNKNOWN_INTERACTION,
    UNKNOWN_MEMBER,
    UNKNOWN_MESSAGE,
    UNKNOWN_USER,
    UNKNOWN_WEBHOOK,
    DiscordError,
    check_message_body,
    form_errors,
    missing_access,
    missing_permissions,
    unauthorized,
    unknown,
)
from .gateway import Gateway
from .interactions import ALLOWED_CALLBACKS, Interaction
from .model import (
    Channel,
    Guild,
    Json,
    MessageFlag,
    Permission,
    StoredMessage,
    Thread,
    Webhook,
    utcnow,
)
from .openapi import OpenApiValidator, discord_code
from .ratelimit import RATE_LIMITED_MESSAGE, Decision, RateLimiter
from .state import State, TypingEvent, UploadedFile

API_PREFIX = "/api/v10"
_log = logging.getLogger(__name__)
MAX_REACTION_EMOJIS = 20
MAX_WEBHOOKS_PER_CHANNEL = 15
#: Words Discord refuses in webhook names and in the usernames webhook posts ask for.
FORBIDDEN_WEBHOOK_NAME_WORDS = ("discord", "clyde")
WEBHOOK_ROUTE = "/webhooks/{webhook_id}/{webhook_token}"
_TRUE = {"1", "true", "True"}


@dataclass
class ApiRequest:
    method: str
    path: str  # without the /api/v10 prefix
    route: str  # the route template, as in Discord's OpenAPI description
    params: Mapping[str, str]
    query: Mapping[str, str]
    json: Any = None
    files: list[UploadedFile] = field(default_factory=list)

    def id(self, name: str) -> int:
        return int(self.params[name])

    def body(self) -> Json:
        return self.json if isinstance(self.json, dict) else {}

    def flag(self, name: str) -> bool:
        return self.query.get(name) in _TRUE


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    route: str
    json: Any
    query: dict[str, str]
    status: int
    files: list[str]
    at: float


NO_CONTENT = object()
Handler = Callable[[ApiRequest], Awaitable[Any]]


def json_response(
    body: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    """JSON with Content-Type exactly ``application/json`` (discord.py compares the string)."""
    return web.Response(
        status=status,
        body=json.dumps(body).encode(),
        headers={hdrs.CONTENT_TYPE: "application/json", **(headers or {})},
    )


def _aiohttp_pattern(route: str) -> str:
    return re.sub(r"\{(\w+_id)\}", r"{\1:\\d+}", route)


def major_parameter(params: Mapping[str, str]) -> str:
    """The part of a route that separates rate-limit buckets (channel, guild or webhook)."""
    if "channel_id" in params:
        return params["channel_id"]
    if "guild_id" in params:
        return params["guild_id"]
    return f"{params.get('webhook_id', '')}/{params.get('webhook_token', '')}"


def _int_param(api: ApiRequest, name: str, default: int, low: int, high: int) -> int:
    raw = api.query.get(name)
    try:
        value = default if raw is None else int(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise form_errors(
            [
                (
                    [name],
                    "NUMBER_TYPE_MAX" if value > high else "NUMBER_TYPE_MIN",
                    f"Must be between {low} and {high}.",
                )
            ]
        )
    return value


def _optional_id(api: ApiRequest, name: str) -> int | None:
    raw = api.query.get(name)
    return int(raw) if raw and raw.isdigit() else None


class RestApi:
    def __init__(
        self,
        *,
        state: State,
        gateway: Gateway,
        token: str,
        validator: OpenApiValidator | None,
        limiter: RateLimiter,
        interaction_timeout: float,
        shard_count: int,
    ) -> None:
        self.requests: list[RecordedRequest] = []
        self.violations: list[str] = []
        self.rate_limit_hits = 0
        #: "METHOD /route" -> requests that carried the bot's Authorization.
        self.bot_request_counts: Counter[str] = Counter()
        self.webhook_execute_count = 0
        self._state = state
        self._gateway = gateway
        self._token = token
        self._validator = validator
        self._limiter = limiter
        self._interaction_timeout = interaction_timeout
        self._shard_count = shard_count
        #: Routes served by other modules (voice_rest.py), set before ``install``.
        self.extra_routes: list[tuple[str, str, Handler, bool]] = []

    # -- pipeline -------------------------------------------------------------------------

    def install(self, app: web.Application) -> None:
        for method, route, handler, authenticated in self._routes():
            app.router.add_route(
                method,
                API_PREFIX + _aiohttp_pattern(route),
                self._endpoint(method, route, handler, authenticated=authenticated),
            )
        app.router.add_route("*", API_PREFIX + "/{tail:.*}", self._unsupported)
        app.router.add_get("/attachments/{channel_id}/{attachment_id}/{filename}", self._attachment)

    def violate(self, method: str, path: str, problem: str) -> None:
        self.violations.append(f"{method} {path}: {problem}")

    def _endpoint(
        self, method: str, route: str, handler: Handler, *, authenticated: bool
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def serve(request: web.Request) -> web.StreamResponse:
            api = ApiRequest(
                method,
                request.path.removeprefix(API_PREFIX),
                route,
                request.match_info,
                dict(request.query),
            )
            headers: dict[str, str] = {}
            self._count(request, api)
            try:
                if authenticated:
                    self._authenticate(request, api)
                await self._read_body(request, api)
                self._validate(api)
                if "interaction_id" not in api.params:
                    decision = self._rate_limit(api)
                    headers = decision.headers
                    if not decision.allowed:
                        self.rate_limit_hits += 1
                        raise _RateLimited(decision.retry_after)
                result = await handler(api)
                response: web.Response = (
                    web.Response(status=204, headers=headers)
                    if result is NO_CONTENT
                    else json_response(result, headers=headers)
                )
            except _RateLimited as limited:
                response = json_response(
                    {
                        "message": RATE_LIMITED_MESSAGE,
                        "retry_after": limited.retry_after,
                        "global": False,
                        "code": 0,
                    },
                    429,
                    headers,
                )
            except DiscordError as error:
                response = json_response(error.to_json(), error.status, headers)
            except Exception as error:
                # A bug in the double: fail the test, and answer 400 rather than 500 so
                # discord.py does not spend 16 s retrying.
                _log.exception("DiscordDouble failed on %s %s", method, api.path)
                self.violate(method, api.path, f"internal error in the double: {error!r}")
                response = json_response(
                    {"message": f"DiscordDouble error: {error!r}", "code": 0}, 400
                )
            self.requests.append(
                RecordedRequest(
                    method,
                    api.path,
                    route,
                    api.json,
                    dict(api.query),
                    response.status,
                    [f.filename for f in api.files],
                    time.monotonic(),
                )
            )
            return response

        return serve

    def _channel_webhook(self, api: ApiRequest) -> Webhook | None:
        """The channel webhook a ``/webhooks/{id}/...`` request names (None for interaction
        webhooks and unknown ids)."""
        if "webhook_id" not in api.params:
            return None
        return self._state.webhooks.get(api.id("webhook_id"))

    def _is_channel_webhook_execute(self, api: ApiRequest) -> bool:
        return (
            api.method == "POST"
            and api.route == WEBHOOK_ROUTE
            and api.id("webhook_id") != self._state.application_id
        )

    def _count(self, request: web.Request, api: ApiRequest) -> None:
        """Count what draws on the bot's global limit; interaction callbacks and followups
        don't (Discord exempts them), channel webhook executes are counted apart."""
        if self._is_channel_webhook_execute(api):
            self.webhook_execute_count += 1
        elif (
            request.headers.get(hdrs.AUTHORIZATION) == f"Bot {self._token}"
            and "interaction_id" not in api.params
            and not api.route.startswith(WEBHOOK_ROUTE)
        ):
            self.bot_request_counts[f"{api.method} {api.route}"] += 1

    def _rate_limit(self, api: ApiRequest) -> Decision:
        major = major_parameter(api.params)
        webhook = self._channel_webhook(api)
        if webhook is not None and self._is_channel_webhook_execute(api):
            return self._limiter.check_webhook(api.method, api.route, major, webhook.channel.id)
        return self._limiter.check(api.method, api.route, major)

    def _authenticate(self, request: web.Request, api: ApiRequest) -> None:
        header = request.headers.get(hdrs.AUTHORIZATION)
        if header != f"Bot {self._token}":
            problem = "no Authorization header" if header is None else "wrong Authorization"
            self.violate(api.method, api.path, problem)
            raise unauthorized()

    async def _read_body(self, request: web.Request, api: ApiRequest) -> None:
        if not request.body_exists:
            return
        if request.content_type == "multipart/form-data":
            reader = await request.multipart()
            while (part := await reader.next()) is not None:
                if not isinstance(part, BodyPartReader):
                    continue
                if part.name == "payload_json":
                    api.json = self._decode(api, await part.read())
                elif part.filename is not None:
                    content_type = part.headers.get(hdrs.CONTENT_TYPE, "application/octet-stream")
                    data = bytes(await part.read())
                    if len(data) > MAX_FILE_BYTES:
                        raise DiscordError(413, 40005, "Request entity too large")
                    api.files.append(UploadedFile(part.filename, content_type, data))
            return
        raw = await request.read()
        if raw:
            if request.content_type != "application/json":
                self.violate(
                    api.method,
                    api.path,
                    f"body sent as {request.content_type!r}, not application/json",
                )
            api.json = self._decode(api, raw)

    def _decode(self, api: ApiRequest, raw: bytes | bytearray) -> Any:
        try:
            return json.loads(raw)
        except ValueError:
            self.violate(api.method, api.path, "body is not valid JSON")
            raise DiscordError(400, 50109, "The request body contains invalid JSON.") from None

    def _validate(self, api: ApiRequest) -> None:
        if self._validator is None or api.json is None:
            return
        errors = self._validator.validate(api.route, api.method, api.json)
        if errors:
            self.violate(api.method, api.path, "; ".join(map(str, errors)))
            raise form_errors([(e.path, discord_code(e.keyword), e.message) for e in errors])

    async def _unsupported(self, request: web.Request) -> web.Response:
        path = request.path.removeprefix(API_PREFIX)
        self.violate(request.method, path, "route not supported by the double")
        return json_response({"message": "404: Not Found", "code": 0}, 404)

    async def _attachment(self, request: web.Request) -> web.Response:
        attachment = self._state.attachments.get(int(request.match_info["attachment_id"]))
        if attachment is None:
            return web.Response(status=404)
        return web.Response(
            body=attachment.data, headers={hdrs.CONTENT_TYPE: attachment.content_type}
        )

    def _routes(self) -> list[tuple[str, str, Handler, bool]]:
        message = "/channels/{channel_id}/messages/{message_id}"
        reaction = message + "/reactions/{emoji_name}"
        webhook = "/webhooks/{webhook_id}/{webhook_token}"
        commands = "/applications/{application_id}/commands"
        guild_commands = "/applications/{application_id}/guilds/{guild_id}/commands"
        bot = True
        return [
            ("GET", "/users/@me", self.get_current_user, bot),
            ("GET", "/users/{user_id}", self.get_user, bot),
            ("GET", "/oauth2/applications/@me", self.get_application, bot),
            ("GET", "/gateway", self.get_gateway, False),
            ("GET", "/gateway/bot", self.get_gateway_bot, bot),
            ("GET", commands, self.get_commands, bot),
            ("PUT", commands, self.put_commands, bot),
            ("GET", guild_commands, self.get_commands, bot),
            ("PUT", guild_commands, self.put_commands, bot),
            ("GET", "/guilds/{guild_id}", self.get_guild, bot),
            ("GET", "/guilds/{guild_id}/channels", self.get_guild_channels, bot),
            ("GET", "/guilds/{guild_id}/members/{user_id}", self.get_member, bot),
            ("GET", "/guilds/{guild_id}/threads/active", self.get_active_threads, bot),
            ("GET", "/channels/{channel_id}", self.get_channel, bot),
            ("GET", "/channels/{channel_id}/messages", self.list_messages, bot),
            ("POST", "/channels/{channel_id}/messages", self.create_message, bot),
            ("POST", "/channels/{channel_id}/typing", self.trigger_typing, bot),
            ("POST", "/channels/{channel_id}/webhooks", self.create_webhook, bot),
            ("GET", "/channels/{channel_id}/webhooks", self.list_webhooks, bot),
            ("GET", "/webhooks/{webhook_id}", self.get_webhook, bot),
            ("DELETE", "/webhooks/{webhook_id}", self.delete_webhook, bot),
            ("POST", message + "/threads", self.start_thread, bot),
            ("GET", message, self.get_message, bot),
            ("PATCH", message, self.edit_message, bot),
            ("DELETE", message, self.delete_message, bot),
            ("DELETE", message + "/reactions", self.clear_reactions, bot),
            ("PUT", reaction + "/@me", self.add_own_reaction, bot),
            ("DELETE", reaction + "/@me", self.remove_own_reaction, bot),
            ("DELETE", reaction + "/{user_id}", self.remove_user_reaction, bot),
            ("GET", reaction, self.list_reactions, bot),
            ("DELETE", reaction, self.clear_reactions, bot),
            (
                "POST",
                "/interactions/{interaction_id}/{interaction_token}/callback",
                self.interaction_callback,
                False,
            ),
            ("POST", webhook, self.execute_webhook, False),
            ("GET", webhook, self.get_webhook_with_token, False),
            ("DELETE", webhook, self.delete_webhook_with_token, False),
            ("GET", webhook + "/messages/@original", self.get_webhook_message, False),
            ("PATCH", webhook + "/messages/@original", self.edit_webhook_message, False),
            ("DELETE", webhook + "/messages/@original", self.delete_webhook_message, False),
            ("GET", webhook + "/messages/{message_id}", self.get_webhook_message, False),
            ("PATCH", webhook + "/messages/{message_id}", self.edit_webhook_message, False),
            ("DELETE", webhook + "/messages/{message_id}", self.delete_webhook_message, False),
            *self.extra_routes,
        ]

    # -- lookups and permissions --------------------------------------------------------

    def _bot_channel(self, api: ApiRequest, need: int = 0) -> tuple[Channel, int]:
        channel = self._state.channels.get(api.id("channel_id"))
        if channel is None:
            raise unknown(UNKNOWN_CHANNEL)
        permissions = channel.permissions_for(channel.guild.bot_member)
        if not permissions & Permission.VIEW_CHANNEL:
            raise missing_access()
        if permissions & need != need:
            raise missing_permissions()
        return channel, permissions

    def _channel_message(self, channel: Channel, api: ApiRequest) -> StoredMessage:
        message = channel.messages.get(api.id("message_id"))
        if message is None or message.ephemeral:
            raise unknown(UNKNOWN_MESSAGE)
        return message

    def _wire(self, message: StoredMessage) -> Json:
        return message.to_wire(self._state.bot.id)

    # -- login and gateway ----------------------------------------------------------------

    async def get_current_user(self, api: ApiRequest) -> Json:
        return {
            **self._state.bot.to_wire(),
            "verified": True,
            "mfa_enabled": False,
            "locale": "en-US",
            "email": None,
        }

    async def get_user(self, api: ApiRequest) -> Json:
        user = self._state.user(api.id("user_id"))
        if user is None:
            raise unknown(UNKNOWN_USER)
        return user.to_wire()

    async def get_application(self, api: ApiRequest) -> Json:
        state = self._state
        return {
            "id": str(state.application_id),
            "name": state.bot.name,
            "icon": None,
            "description": "",
            "summary": "",
            "type": None,
            "bot": state.bot.to_wire(),
            "bot_public": True,
            "bot_require_code_grant": False,
            "owner": state.application_owner.to_wire(),
            "team": None,
            "verify_key": "0" * 64,
            "flags": state.application_flags(),
            "redirect_uris": [],
            "interactions_endpoint_url": None,
            "approximate_guild_count": len(state.guilds),
            "integration_types_config": {"0": {}},
            "tags": [],
        }

    async def get_gateway(self, api: ApiRequest) -> Json:
        return {"url": self._gateway.url}

    async def get_gateway_bot(self, api: ApiRequest) -> Json:
        return {
            "url": self._gateway.url,
            "shards": self._shard_count,
            "session_start_limit": {
                "total": 1000,
                "remaining": 1000 - len(self._gateway.identifies),
                "reset_after": 86_400_000,
                "max_concurrency": 1,
            },
        }

    # -- application commands -------------------------------------------------------------

    def _command_guild(self, api: ApiRequest) -> int | None:
        if api.id("application_id") != self._state.application_id:
            raise missing_access()
        if "guild_id" not in api.params:
            return None
        if api.id("guild_id") not in self._state.guilds:
            raise missing_access()
        return api.id("guild_id")

    async def get_commands(self, api: ApiRequest) -> list[Json]:
        guild_id = self._command_guild(api)
        if guild_id is None:
            return self._state.global_commands
        return self._state.guild_commands.get(guild_id, [])

    async def put_commands(self, api: ApiRequest) -> list[Json]:
        guild_id = self._command_guild(api)
        return self._state.sync_commands(guild_id, api.json or [])

    # -- guilds and channels ----------------------------------------------------------------

    def _guild(self, api: ApiRequest) -> Guild:
        guild = self._state.guilds.get(api.id("guild_id"))
        if guild is None:
            raise unknown(UNKNOWN_GUILD)
        return guild

    async def get_guild(self, api: ApiRequest) -> Json:
        guild = self._guild(api)
        data = guild.to_wire()
        if api.flag("with_counts"):
            data["approximate_member_count"] = len(guild.members)
            data["approximate_presence_count"] = 0
        return data

    async def get_guild_channels(self, api: ApiRequest) -> list[Json]:
        guild = self._guild(api)
        return [
            c.to_wire()
            for c in guild.channels.values()
            if c.permissions_for(guild.bot_member) & Permission.VIEW_CHANNEL
        ]

    async def get_member(self, api: ApiRequest) -> Json:
        member = self._guild(api).members.get(api.id("user_id"))
        if member is None:
            raise unknown(UNKNOWN_MEMBER)
        return member.to_wire()

    async def get_channel(self, api: ApiRequest) -> Json:
        channel, _ = self._bot_channel(api)
        return channel.to_wire()

    # -- messages ---------------------------------------------------------------------------

    async def list_messages(self, api: ApiRequest) -> list[Json]:
        channel, permissions = self._bot_channel(api)
        limit = _int_param(api, "limit", 50, 1, 100)
        if not permissions & Permission.READ_MESSAGE_HISTORY:
            return []
        found = self._state.messages_between(
            channel,
            limit=limit,
            before=_optional_id(api, "before"),
            after=_optional_id(api, "after"),
            around=_optional_id(api, "around"),
        )
        return [self._wire(m) for m in found]

    async def create_message(self, api: ApiRequest) -> Json:
        channel, permissions = self._bot_channel(api)
        if not permissions & channel.send_permission:
            raise missing_permissions()
        body = api.body()
        if api.files and not permissions & Permission.ATTACH_FILES:
            raise missing_permissions()
        check_message_body(body, file_count=len(api.files))
        reference = body.get("message_reference") or {}
        if reference.get("message_id"):
            if not permissions & Permission.READ_MESSAGE_HISTORY:
                raise missing_permissions()
            referenced = channel.messages.get(int(reference["message_id"]))
            if referenced is None and reference.get("fail_if_not_exists", True):
                raise form_errors(
                    [
                        (
                            ["message_reference"],
                            "MESSAGE_REFERENCE_UNKNOWN_MESSAGE",
                            "Unknown message",
                        )
                    ]
                )
        if body.get("enforce_nonce") and body.get("nonce") is not None:
            for earlier in channel.messages.values():
                if earlier.nonce == body["nonce"] and earlier.author is self._state.bot:
                    return self._wire(earlier)
        message = self._state.create_message(
            channel,
            self._state.bot,
            body,
            api.files,
            strip_embeds=not permissions & Permission.EMBED_LINKS,
        )
        return self._wire(message)

    async def get_message(self, api: ApiRequest) -> Json:
        channel, _ = self._bot_channel(api, Permission.READ_MESSAGE_HISTORY)
        return self._wire(self._channel_message(channel, api))

    async def edit_message(self, api: ApiRequest) -> Json:
        channel, permissions = self._bot_channel(api)
        message = self._channel_message(channel, api)
        if message.author is not self._state.bot:
            raise DiscordError(403, 50005, "Cannot edit a message authored by another user")
        if api.files and not permissions & Permission.ATTACH_FILES:
            raise missing_permissions()
        check_message_body(api.body(), creating=False)
        self._state.edit_message(
            message, api.body(), api.files, strip_embeds=not permissions & Permission.EMBED_LINKS
        )
        return self._wire(message)

    async def delete_message(self, api: ApiRequest) -> object:
        channel, permissions = self._bot_channel(api)
        message = self._channel_message(channel, api)
        if message.author is not self._state.bot and not permissions & Permission.MANAGE_MESSAGES:
            raise missing_permissions()
        self._state.delete_message(message)
        return NO_CONTENT

    async def trigger_typing(self, api: ApiRequest) -> object:
        channel, permissions = self._bot_channel(api)
        if not permissions & channel.send_permission:
            raise missing_permissions()
        now = utcnow()
        bot = self._state.bot
        self._state.typing_events.append(TypingEvent(channel.id, bot.id, time.monotonic(), now))
        self._state.emit(
            "TYPING_START",
            {
                "channel_id": str(channel.id),
                "guild_id": str(channel.guild.id),
                "user_id": str(bot.id),
                "timestamp": int(now.timestamp()),
                "member": channel.guild.bot_member.to_wire(),
            },
            channel.guild.id,
        )
        return NO_CONTENT

    # -- reactions --------------------------------------------------------------------------

    async def add_own_reaction(self, api: ApiRequest) -> object:
        channel, permissions = self._bot_channel(api, Permission.READ_MESSAGE_HISTORY)
        message = self._channel_message(channel, api)
        emoji = api.params["emoji_name"]
        if emoji not in message.reactions:
            if not permissions & Permission.ADD_REACTIONS:
                raise missing_permissions()
            if len(message.reactions) >= MAX_REACTION_EMOJIS:
                raise DiscordError(400, 30010, "Maximum number of reactions reached (20)")
        self._state.add_reaction(
            message, self._state.bot, emoji, burst=api.query.get("type") == "1"
        )
        return NO_CONTENT

    async def remove_own_reaction(self, api: ApiRequest) -> object:
        channel, _ = self._bot_channel(api)
        message = self._channel_message(channel, api)
        self._state.remove_reaction(message, self._state.bot.id, api.params["emoji_name"])
        return NO_CONTENT

    async def remove_user_reaction(self, api: ApiRequest) -> object:
        channel, _ = self._bot_channel(api, Permission.MANAGE_MESSAGES)
        message = self._channel_message(channel, api)
        self._state.remove_reaction(message, api.id("user_id"), api.params["emoji_name"])
        return NO_CONTENT

    async def clear_reactions(self, api: ApiRequest) -> object:
        channel, _ = self._bot_channel(api, Permission.MANAGE_MESSAGES)
        message = self._channel_message(channel, api)
        self._state.clear_reactions(message, api.params.get("emoji_name"))
        return NO_CONTENT

    async def list_reactions(self, api: ApiRequest) -> list[Json]:
        """Users who reacted, by id ascending, ``limit`` 1..100 (default 25) after ``after``."""
        channel, _ = self._bot_channel(api, Permission.READ_MESSAGE_HISTORY)
        message = self._channel_message(channel, api)
        limit = _int_param(api, "limit", 25, 1, 100)
        after = _optional_id(api, "after") or 0
        burst = _int_param(api, "type", 0, 0, 1) == 1
        entry = message.reactions.get(api.params["emoji_name"])
        if entry is None:
            return []
        user_ids = sorted(u for u, b in entry.users.items() if b == burst and u > after)
        users = (self._state.user(u) for u in user_ids[:limit])
        return [u.to_wire() for u in users if u is not None]

    # -- threads ----------------------------------------------------------------------------

    async def start_thread(self, api: ApiRequest) -> Json:
        channel, _ = self._bot_channel(api, Permission.CREATE_PUBLIC_THREADS)
        if channel.is_thread:
            raise DiscordError(400, 50024, "Cannot execute action on this channel type")
        message = self._channel_message(channel, api)
        if message.thread is not None:
            raise DiscordError(400, 160004, "A thread has already been created for this message")
        body = api.body()
        thread = self._state.create_thread(
            message,
            self._state.bot,
            str(body.get("name") or ""),
            int(body.get("auto_archive_duration") or 1440),
        )
        return thread.to_wire()

    async def get_active_threads(self, api: ApiRequest) -> Json:
        guild = self._guild(api)
        bot = guild.bot_member
        threads = [
            t for t in guild.threads.values() if t.permissions_for(bot) & Permission.VIEW_CHANNEL
        ]
        members = [
            {
                "id": str(t.id),
                "user_id": str(bot.id),
                "join_timestamp": t.to_wire()["thread_metadata"]["create_timestamp"],
                "flags": 0,
            }
            for t in threads
            if bot.id in t.member_ids
        ]
        return {"threads": [t.to_wire() for t in threads], "members": members}

    # -- webhooks ---------------------------------------------------------------------------

    async def create_webhook(self, api: ApiRequest) -> Json:
        channel, _ = self._bot_channel(api, Permission.MANAGE_WEBHOOKS)
        if channel.is_thread:
            raise DiscordError(400, 50024, "Cannot execute action on this channel type")
        body = api.body()
        name = str(body.get("name") or "")
        _check_webhook_name(name, "name")
        if len(channel.webhooks) >= MAX_WEBHOOKS_PER_CHANNEL:
            raise DiscordError(
                400, 30007, f"Maximum number of webhooks reached ({MAX_WEBHOOKS_PER_CHANNEL})"
            )
        webhook = self._state.create_webhook(channel, name, self._state.bot, body.get("avatar"))
        return webhook.to_wire()

    async def list_webhooks(self, api: ApiRequest) -> list[Json]:
        channel, _ = self._bot_channel(api, Permission.MANAGE_WEBHOOKS)
        return [w.to_wire() for w in channel.webhooks.values()]

    def _managed_webhook(self, api: ApiRequest) -> Webhook:
        webhook = self._state.webhooks.get(api.id("webhook_id"))
        if webhook is None:
            raise unknown(UNKNOWN_WEBHOOK)
        channel = webhook.channel
        permissions = channel.permissions_for(channel.guild.bot_member)
        if not permissions & Permission.VIEW_CHANNEL:
            raise missing_access()
        if not permissions & Permission.MANAGE_WEBHOOKS:
            raise missing_permissions()
        return webhook

    async def get_webhook(self, api: ApiRequest) -> Json:
        return self._managed_webhook(api).to_wire()

    async def delete_webhook(self, api: ApiRequest) -> object:
        self._state.delete_webhook(self._managed_webhook(api))
        return NO_CONTENT

    def _webhook_by_token(self, api: ApiRequest) -> Webhook:
        webhook = self._state.webhooks.get(api.id("webhook_id"))
        if webhook is None:
            raise unknown(UNKNOWN_WEBHOOK)
        if webhook.token != api.params["webhook_token"]:
            raise DiscordError(401, 50027, "Invalid Webhook Token")
        return webhook

    async def get_webhook_with_token(self, api: ApiRequest) -> Json:
        return self._webhook_by_token(api).to_wire()

    async def delete_webhook_with_token(self, api: ApiRequest) -> object:
        self._state.delete_webhook(self._webhook_by_token(api))
        return NO_CONTENT

    async def execute_webhook(self, api: ApiRequest) -> object:
        """``POST /webhooks/{id}/{token}``: an interaction followup (the application's id) or
        a post through a channel webhook."""
        if api.id("webhook_id") == self._state.application_id:
            return await self.create_followup(api)
        webhook = self._webhook_by_token(api)
        body = api.body()
        if body.get("username") is not None:
            _check_webhook_name(str(body["username"]), "username")
        check_message_body(body, file_count=len(api.files))
        target: Channel = webhook.channel
        thread_id = _optional_id(api, "thread_id")
        if "thread_id" in api.query:
            thread = self._state.channels.get(thread_id) if thread_id is not None else None
            if not isinstance(thread, Thread) or thread.parent is not webhook.channel:
                raise unknown(UNKNOWN_CHANNEL)
            target = thread
        message = self._state.execute_webhook(webhook, target, body, api.files)
        return self._wire(message) if api.flag("wait") else NO_CONTENT

    # -- interactions -----------------------------------------------------------------------

    async def interaction_callback(self, api: ApiRequest) -> object:
        interaction = self._state.interactions.get(api.id("interaction_id"))
        if interaction is None or interaction.token != api.params["interaction_token"]:
            raise unknown(UNKNOWN_INTERACTION)
        if interaction.response_body is not None:
            raise DiscordError(400, 40060, "Interaction has already been acknowledged.")
        if time.monotonic() - interaction.created_at > self._interaction_timeout:
            raise unknown(UNKNOWN_INTERACTION)
        body = api.body()
        kind = body.get("type")
        if kind not in ALLOWED_CALLBACKS[interaction.type]:
            raise form_errors(
                [
                    (
                        ["type"],
                        "INTERACTION_RESPONSE_TYPE_INVALID",
                        "Invalid interaction response type for this interaction",
                    )
                ]
            )
        data = body.get("data") or {}
        message = self._respond(interaction, kind, data, api.files)
        interaction.response_body = body
        interaction.responded_at = time.monotonic()
        self._state.notifier.notify()
        if not api.flag("with_response"):
            return NO_CONTENT
        result: Json = {
            "interaction": {
                "id": str(interaction.id),
                "type": int(interaction.type),
                "response_message_loading": kind == 5,
                "response_message_ephemeral": bool(message and message.ephemeral),
            }
        }
        if message is not None:
            result["interaction"]["response_message_id"] = str(message.id)
            result["resource"] = {"type": kind, "message": self._wire(message)}
        return result

    def _respond(
        self, interaction: Interaction, kind: int, data: Json, files: list[UploadedFile]
    ) -> StoredMessage | None:
        """Carry out an initial response; returns the message it created or updated."""
        state = self._state
        channel = interaction.channel
        if kind == 4:
            check_message_body(data, file_count=len(files), prefix=("data",))
            interaction.original = state.create_message(
                channel, state.bot, data, files, interaction=interaction
            )
        elif kind == 5:
            flags = MessageFlag.LOADING | (int(data.get("flags") or 0) & MessageFlag.EPHEMERAL)
            interaction.original = state.create_message(
                channel, state.bot, {}, [], interaction=interaction, extra_flags=flags
            )
        elif kind in (6, 7) and interaction.source_message is not None:
            interaction.original = interaction.source_message
            if kind == 7:
                check_message_body(data, creating=False, prefix=("data",))
                state.edit_message(interaction.source_message, data, files)
        elif kind == 8 and len(data.get("choices") or []) > 25:
            raise form_errors(
                [(["data", "choices"], "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")]
            )
        return interaction.original if kind in (4, 5, 7) else None

    def _webhook_interaction(self, api: ApiRequest) -> Interaction:
        if api.id("webhook_id") != self._state.application_id:
            raise unknown(UNKNOWN_WEBHOOK)
        token = api.params["webhook_token"]
        interaction = next((i for i in self._state.interactions.values() if i.token == token), None)
        if interaction is None or interaction.response_body is None:
            raise unknown(UNKNOWN_WEBHOOK)
        if interaction.token_expired:
            raise DiscordError(401, 50027, "Invalid Webhook Token")
        return interaction

    def _webhook_message(self, interaction: Interaction, api: ApiRequest) -> StoredMessage:
        if "message_id" not in api.params:
            message = interaction.original
        else:
            message = next(
                (
                    m
                    for m in [interaction.original, *interaction.followup_messages]
                    if m is not None and m.id == api.id("message_id")
                ),
                None,
            )
        if message is None or message.id not in message.channel.messages:
            raise unknown(UNKNOWN_MESSAGE)
        return message

    async def create_followup(self, api: ApiRequest) -> object:
        interaction = self._webhook_interaction(api)
        body = api.body()
        check_message_body(body, file_count=len(api.files))
        original = interaction.original
        if (
            original is not None
            and interaction.response_type == 5
            and (original.flags & MessageFlag.LOADING)
        ):
            # The first followup after a "thinking" defer replaces the deferred message,
            # keeping the defer's ephemerality.
            message = self._state.edit_message(original, body, api.files)
        else:
            message = self._state.create_message(
                interaction.channel, self._state.bot, body, api.files, interaction=interaction
            )
        interaction.followup_messages.append(message)
        self._state.notifier.notify()
        return self._wire(message) if api.flag("wait") else NO_CONTENT

    async def get_webhook_message(self, api: ApiRequest) -> Json:
        interaction = self._webhook_interaction(api)
        return self._wire(self._webhook_message(interaction, api))

    async def edit_webhook_message(self, api: ApiRequest) -> Json:
        interaction = self._webhook_interaction(api)
        message = self._webhook_message(interaction, api)
        check_message_body(api.body(), creating=False)
        if message is interaction.original:
            interaction.edits.append(api.body())
        self._state.edit_message(message, api.body(), api.files)
        return self._wire(message)

    async def delete_webhook_message(self, api: ApiRequest) -> object:
        interaction = self._webhook_interaction(api)
        self._state.delete_message(self._webhook_message(interaction, api))
        return NO_CONTENT


def _check_webhook_name(name: str, field_name: str) -> None:
    if not 1 <= len(name) <= 80:
        raise form_errors(
            [([field_name], "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 80 in length.")]
        )
    for word in FORBIDDEN_WEBHOOK_NAME_WORDS:
        if word in name.lower():
            raise form_errors(
                [
                    (
                        [field_name],
                        "USERNAME_INVALID_CONTAINS",
                        f'Username cannot contain "{word}"',
                    )
                ]
            )


class _RateLimited(Exception):
    def __init__(self, retry_after: float) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after
