"""The Discord bot: owns its resources, loads the cogs, and answers every command error."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import discord
import yarl
from discord import app_commands
from discord.ext import commands

from bot.audio.tracks import track_desk
from bot.errors import UserError
from bot.llm import LLMClient
from bot.models import ModelCatalog
from bot.moderation.filters import content_filter
from bot.ops.discord_requests import DiscordRequestMeter
from bot.ops.metrics import Metrics, MetricsServer
from bot.services.battles.arena import Arena
from bot.services.battles.matchmaker import Matchmaker
from bot.services.battles.standings import StandingsService
from bot.services.judging.factory import PanelFactory
from bot.services.schedules.scheduler import Missing, Place, Schedules
from bot.services.tournaments.sessions import Tournaments
from bot.settings import Settings
from bot.stages.discord import DiscordStageFactory, missing_permissions
from bot.stages.voice import live_shows
from bot.stages.webhooks import AvatarUrls
from bot.store import WebStore, open_store

log = logging.getLogger(__name__)

EXTENSIONS = (
    "cogs.battle",
    "cogs.voting",
    "cogs.leaderboard",
    "cogs.settings",
    "cogs.stats",
    "cogs.tournament",
    "cogs.schedules",
    "cogs.audit",
    "cogs.server_events",
)
GENERIC_ERROR = "Something went wrong on our side. It has been logged; please try again."


def point_discord_at(settings: Settings) -> None:
    """Aims discord.py at a Discord-compatible server (tests use a local double)."""
    if settings.discord_api_base:
        discord.http.Route.BASE = settings.discord_api_base.rstrip("/")
    if settings.discord_gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord_gateway_url)


class RapBattleTree(app_commands.CommandTree["RapBattleBot"]):
    """The one error hook: users get a clear ephemeral line, surprises get logged."""

    async def on_error(
        self, interaction: discord.Interaction[RapBattleBot], error: app_commands.AppCommandError
    ) -> None:
        cause = error.original if isinstance(error, app_commands.CommandInvokeError) else error
        if isinstance(cause, UserError):
            message = str(cause)
        elif isinstance(cause, app_commands.CheckFailure):
            message = str(cause) or "You can't use this command here."
        else:
            command = interaction.command.qualified_name if interaction.command else "?"
            log.error(
                "Command /%s failed (guild %s, channel %s, user %s)",
                command,
                interaction.guild_id,
                interaction.channel_id,
                interaction.user.id,
                exc_info=cause,
            )
            message = GENERIC_ERROR
        await reply(interaction, message)


async def reply(interaction: discord.Interaction, message: str) -> None:
    """An ephemeral answer, whether or not the interaction was already acknowledged."""
    if interaction.response.is_done():
        await interaction.followup.send(message, ephemeral=True)
    else:
        await interaction.response.send_message(message, ephemeral=True)


class GatewaySessions:
    """How many gateway sessions each shard has begun in this process.

    A resume replays missed events, so only a new session (a READY) can leave a gap in them.
    """

    def __init__(self, shard_of: Callable[[int], int]) -> None:
        self._shard_of = shard_of
        self._started: dict[int, int] = {}

    def started(self, shard_id: int) -> None:
        self._started[shard_id] = self._started.get(shard_id, 0) + 1

    def epoch(self, guild_id: int) -> int:
        return self._started.get(self._shard_of(guild_id), 0)


class RapBattleBot(commands.AutoShardedBot):
    """The bot; with SHARD_COUNT/SHARD_IDS it runs just those shards, so several processes
    can split a large bot while sharing one PostgreSQL database."""

    llm: LLMClient
    catalog: ModelCatalog
    store: WebStore
    standings: StandingsService
    matchmaker: Matchmaker
    arena: Arena
    tournaments: Tournaments
    schedules: Schedules

    def __init__(self, settings: Settings, **client_options: Any) -> None:
        intents = discord.Intents.none()
        intents.guilds = True
        intents.guild_reactions = True
        # Voice connections and following a starter into voice need the members' voice states.
        intents.voice_states = settings.max_voice_battles > 0
        # Made before the HTTP session, which takes the request meter's trace at login.
        metrics = Metrics()
        request_meter = DiscordRequestMeter(metrics)
        super().__init__(
            command_prefix=commands.when_mentioned,  # Unused: every command is a slash command.
            intents=intents,
            allowed_mentions=discord.AllowedMentions.none(),
            tree_cls=RapBattleTree,
            help_command=None,
            shard_count=settings.shard_count,
            shard_ids=list(settings.shard_ids) if settings.shard_ids is not None else None,
            http_trace=request_meter.trace,
            **client_options,
        )
        self.settings = settings
        self.metrics = metrics
        request_meter.attach(self.http)
        self.synced_commands = 0
        self.gateway_sessions = GatewaySessions(self.shard_of)

    async def setup_hook(self) -> None:
        self.llm = LLMClient(self.settings, observe=self.metrics)
        self.catalog = ModelCatalog(self.llm.list_models, self.settings.model_aliases)
        self.store = await open_store(self.settings.database_url)
        self.standings = StandingsService(self.store)
        self.matchmaker = Matchmaker(self.catalog, self.store, self.standings)
        self.tracks = track_desk(self.settings, self.store)
        self.content_filter = content_filter(self.settings, self.metrics)
        log.info("Verses are screened by %s", self.content_filter.engine)
        if self.settings.web_port is not None:  # the web arena in this process
            from bot.web.server import WebServer

            self.web = WebServer(
                self.settings, self.store, self.standings, tracks=self.tracks, metrics=self.metrics
            )
            await self.web.start()
        stages = DiscordStageFactory(
            self, AvatarUrls(self.settings.model_avatar_url, self.settings.public_url)
        )
        self.arena = Arena(
            self.settings,
            self.store,
            self.llm,
            self.standings,
            stages,
            self.owns_guild,
            self.gateway_sessions.epoch,
            judges=PanelFactory(
                self.llm, self.catalog.resolve, self.settings.judge_models, observe=self.metrics
            ),
            prices=self.catalog.pricing,
            tracks=self.tracks,
            observe=self.metrics,
            live=live_shows(self, self.settings),  # battles performed in voice channels
            content_filter=self.content_filter,  # every verse screened before it is shown
        )
        self.metrics.watch(lambda: len(self.arena.battles), lambda: len(self.arena.votes))
        if self.settings.metrics_port is not None:
            self.metrics_server = MetricsServer(
                self.metrics, self.settings.metrics_host, self.settings.metrics_port
            )
            await self.metrics_server.start()
        self.tournaments = Tournaments(
            self.arena, self.store, stages, may_use_webhooks=self.may_use_webhooks
        )
        self.schedules = Schedules(
            self.store,
            self.arena,
            self.tournaments,
            stages,
            self.schedule_place,
            matchmaker=self.matchmaker.match,
            prices=self.catalog.pricing,
        )
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        dev_guild = self.settings.dev_guild_id
        # With several processes, the one holding shard 0 (or the dev guild) syncs commands.
        if self.owns_guild(dev_guild) if dev_guild else self.owns_guild(0):
            guild = discord.Object(dev_guild) if dev_guild else None
            if guild is not None:
                self.tree.copy_global_to(guild=guild)
            self.synced_commands = len(await self.tree.sync(guild=guild))
        self.arena.in_background(self._recover_when_ready(), "recovery after start")

    def owns_guild(self, guild_id: int) -> bool:
        """Whether this process runs the shard a guild lives on."""
        if self.shard_ids is None or self.shard_count is None:
            return True
        return self.shard_of(guild_id) in self.shard_ids

    def may_use_webhooks(self, channel_id: int) -> bool:
        """Whether the bot has Manage Webhooks where a channel's (or thread's) webhook lives."""
        channel = self.get_channel(channel_id)
        if isinstance(channel, discord.Thread):
            channel = channel.parent
        if not isinstance(channel, discord.TextChannel):
            return False
        return channel.permissions_for(channel.guild.me).manage_webhooks

    def schedule_place(self, guild_id: int, channel_id: int) -> Place | Missing:
        """A schedule's channel as the bot finds it now, for its run (bot/services/schedules/)."""
        guild = self.get_guild(guild_id)
        if guild is None or guild.unavailable:
            return Missing.UNREACHABLE
        channel = guild.get_channel(channel_id)
        messageable = (discord.TextChannel, discord.VoiceChannel, discord.StageChannel)
        if not isinstance(channel, messageable):
            return Missing.GONE
        permissions = channel.permissions_for(guild.me)
        missing = missing_permissions(permissions)
        with_threads = missing_permissions(permissions, threads=True)
        return Place(
            missing,
            tuple(name for name in with_threads if name not in missing),
            verses_by_webhook=permissions.manage_webhooks,
            age_restricted=channel.is_nsfw(),
        )

    def shard_of(self, guild_id: int) -> int:
        return (guild_id >> 22) % (self.shard_count or 1)

    async def _recover_when_ready(self) -> None:
        await self.wait_until_ready()  # Channels must be reachable to post notices.
        await self.arena.recover()
        await self.tournaments.recover()  # after the arena's: their matches' battles are known
        self.schedules.start()  # after both: a run missed while down sees what already runs

    async def on_ready(self) -> None:
        assert self.user is not None
        log.info(
            "Ready as %s (id %s) in %d guilds, %d commands synced%s",
            self.user,
            self.user.id,
            len(self.guilds),
            self.synced_commands,
            f" to guild {self.settings.dev_guild_id}" if self.settings.dev_guild_id else "",
        )

    async def close(self) -> None:
        if hasattr(self, "schedules"):  # before all: no scheduled run starts while stopping
            await self.schedules.shutdown()
        if hasattr(self, "tournaments"):  # first: no new match starts while battles end
            await self.tournaments.shutdown()
        if hasattr(self, "arena"):
            await self.arena.shutdown()
        if hasattr(self, "tracks"):
            await self.tracks.close()
        await super().close()
        if hasattr(self, "llm"):
            await self.llm.close()
        if hasattr(self, "content_filter"):
            await self.content_filter.close()
        if hasattr(self, "web"):
            await self.web.stop()
        if hasattr(self, "metrics_server"):
            await self.metrics_server.stop()
        if hasattr(self, "store"):
            await self.store.close()
