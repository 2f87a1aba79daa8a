"""A local Discord double: REST API v10 and gateway, faithful enough for discord.py 2.7.

It runs in the test's event loop (aiohttp server on 127.0.0.1) and serves the real client,
in-process (set ``discord.http.Route.BASE`` and ``DiscordWebSocket.DEFAULT_GATEWAY``) or as a
subprocess (``DISCORD_API_BASE`` / ``DISCORD_GATEWAY_URL``). Tests build the world
(guilds, channels, members), act as users (slash commands, autocomplete, clicks,
reactions) and observe what the bot did (messages, typing, requests). Requests are
checked like Discord checks them (auth, limits, permissions, rate limits) and, given
Discord's OpenAPI description (``DISCORD_OPENAPI_SPEC``), against its schemas;
protocol mistakes land in ``double.violations``.

Voice and Stage channels, members' voice states, gateway op 4, Stage routes and a voice
server (websocket v8 over TLS + UDP/RTP) are in ``voice.py`` (``double.add_voice_channel``,
``double.join_voice``, ``double.voice``...).

Channel webhooks (``double.webhooks``, ``double.webhook_messages``, ``double.delete_webhook``,
``double.inject_webhook_429``) and public threads started from messages (``double.threads``)
are served too; ``double.grant``/``double.revoke`` change the bot's permissions in a channel,
and ``double.request_counts()`` counts what drew on the bot's global rate limit, per route.

    async with DiscordDouble(openapi_spec=os.environ.get("DISCORD_OPENAPI_SPEC")) as double:
        guild = double.add_guild("Test Server")
        channel = guild.add_channel("battles")
        alice = guild.add_member("alice")
        ...  # start the bot against double.api_base / double.gateway_url
        interaction = await double.invoke_command(alice, channel, "ping")
        assert (await interaction.response())["type"] == 4
"""

from .double import (
    DEFAULT_BOT_TOKEN,
    WEBHOOK_CHANNEL_RATE_LIMIT,
    WEBHOOK_RATE_LIMIT,
    DiscordDouble,
    RequestCounts,
)
from .errors import DiscordError
from .gateway import GatewaySession
from .interactions import AutocompleteResult, Interaction, InteractionType
from .model import (
    ALL_PERMISSIONS,
    BOT_DEFAULT_PERMISSIONS,
    EVERYONE_DEFAULT_PERMISSIONS,
    Channel,
    ChannelType,
    Guild,
    Intent,
    Member,
    MessageFlag,
    Permission,
    Role,
    Thread,
    User,
    Webhook,
    snowflake_shard,
)
from .rest import RecordedRequest
from .state import CommandSync, TypingEvent, WebhookExecution
from .voice import (
    OPUS_SILENCE,
    IpDiscovery,
    SpeakingEvent,
    VoiceConnection,
    VoiceFrame,
    VoiceServer,
)
from .voice_model import STAGE_MODERATOR, VoiceChannel

__all__ = [
    "ALL_PERMISSIONS",
    "BOT_DEFAULT_PERMISSIONS",
    "DEFAULT_BOT_TOKEN",
    "EVERYONE_DEFAULT_PERMISSIONS",
    "OPUS_SILENCE",
    "STAGE_MODERATOR",
    "WEBHOOK_CHANNEL_RATE_LIMIT",
    "WEBHOOK_RATE_LIMIT",
    "AutocompleteResult",
    "Channel",
    "ChannelType",
    "CommandSync",
    "DiscordDouble",
    "DiscordError",
    "GatewaySession",
    "Guild",
    "Intent",
    "Interaction",
    "InteractionType",
    "IpDiscovery",
    "Member",
    "MessageFlag",
    "Permission",
    "RecordedRequest",
    "RequestCounts",
    "Role",
    "SpeakingEvent",
    "Thread",
    "TypingEvent",
    "User",
    "VoiceChannel",
    "VoiceConnection",
    "VoiceFrame",
    "VoiceServer",
    "Webhook",
    "WebhookExecution",
    "snowflake_shard",
]
