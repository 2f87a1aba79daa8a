"""/tournament, /tournament-status and /tournament-stop: thin, over the tournament service."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.engine.server_settings import ROUNDS
from bot.engine.tournament import TournamentFormat
from bot.errors import UserError
from bot.services.tournaments.sessions import (
    SeedOrder,
    TournamentRequest,
    check_roster,
    parse_models,
    tournament_threading,
)
from bot.stages.discord import missing_permissions
from bot.stages.embeds import card_embed
from cogs.shared import TOURNAMENT_CHOICES, TOURNAMENT_DESCRIPTIONS

if TYPE_CHECKING:
    from bot.client import RapBattleBot

MANAGE_SERVER = discord.Permissions(manage_guild=True)


class TournamentCog(commands.Cog):
    def __init__(self, bot: RapBattleBot) -> None:
        self.bot = bot

    @app_commands.command(name="tournament")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.rename(tournament_format="format")
    @app_commands.describe(**TOURNAMENT_DESCRIPTIONS)
    @app_commands.choices(**TOURNAMENT_CHOICES)
    async def tournament(
        self,
        interaction: discord.Interaction[RapBattleBot],
        models: app_commands.Range[str, 1, 4000],
        tournament_format: str = TournamentFormat.SINGLE.value,
        seed: str = SeedOrder.GIVEN.value,
        judges: bool | None = None,
    ) -> None:
        """Run a tournament of 3 to 32 models as battles in a thread (needs Manage Server)."""
        assert interaction.guild_id is not None and interaction.channel is not None
        await interaction.response.defer(ephemeral=True, thinking=True)
        if not interaction.permissions.manage_guild:
            raise UserError("A tournament is long and costs money: it needs Manage Server.")
        names = parse_models(models)
        check_roster(names)  # before resolving: a wrong count needs no lookups
        resolved = tuple([await self.bot.catalog.resolve(name) for name in names])
        check_roster(resolved)  # two names for one model
        permissions = interaction.app_permissions
        in_thread = isinstance(interaction.channel, discord.Thread)
        thread_missing = () if in_thread else missing_permissions(permissions, threads=True)
        rules = await self.bot.arena.rules_for(interaction.guild_id)
        threaded = tournament_threading(
            missing_permissions(permissions), thread_missing, rules, in_thread=in_thread
        )
        session = await self.bot.tournaments.start(
            TournamentRequest(
                guild_id=interaction.guild_id,
                channel_id=interaction.channel.id,
                starter_id=interaction.user.id,
                models=resolved,
                tournament_format=TournamentFormat(tournament_format),
                seed=SeedOrder(seed),
                judges=judges,
                threaded=threaded,
                battle_rounds=rules[ROUNDS],
            )
        )
        message = f"Tournament #{session.id} is on: {len(resolved)} models."
        if thread_missing:
            message += (
                " It runs in this channel: I may not open a thread here "
                f"(missing: {', '.join(thread_missing)})."
            )
        await interaction.followup.send(message, ephemeral=True)

    @app_commands.command(name="tournament-status")
    @app_commands.guild_only()
    async def tournament_status(self, interaction: discord.Interaction[RapBattleBot]) -> None:
        """Show the bracket of this thread's tournament, or of the server's running one."""
        assert interaction.guild_id is not None and interaction.channel_id is not None
        card = await self.bot.tournaments.status(interaction.guild_id, interaction.channel_id)
        await interaction.response.send_message(embed=card_embed(card), ephemeral=True)

    @app_commands.command(name="tournament-stop")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    async def tournament_stop(self, interaction: discord.Interaction[RapBattleBot]) -> None:
        """End the server's running tournament (needs Manage Server)."""
        assert interaction.guild_id is not None and interaction.channel_id is not None
        if not interaction.permissions.manage_guild:
            raise UserError("Stopping a tournament needs the Manage Server permission.")
        await interaction.response.defer(ephemeral=True, thinking=True)
        message = await self.bot.tournaments.stop(
            interaction.guild_id, interaction.channel_id, interaction.user.display_name
        )
        await interaction.followup.send(message, ephemeral=True)


async def setup(bot: RapBattleBot) -> None:
    await bot.add_cog(TournamentCog(bot))
