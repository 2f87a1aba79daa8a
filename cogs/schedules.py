"""/battle-schedule and /tournament-schedule (add, list, remove): thin, over the schedules."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.engine.battle import MAX_ROUNDS, MAX_TOPIC_LENGTH, MIN_ROUNDS, normalize_topic
from bot.engine.schedules import BattlePlan, ScheduleKind, SchedulePlan, TournamentPlan
from bot.engine.tournament import TournamentFormat
from bot.errors import UserError
from bot.services.schedules.scheduler import schedule_lines
from bot.services.tournaments.sessions import SeedOrder, check_roster, parse_models
from cogs.shared import TOURNAMENT_CHOICES, TOURNAMENT_DESCRIPTIONS, model_choices

if TYPE_CHECKING:
    from bot.client import RapBattleBot

MANAGE_SERVER = discord.Permissions(manage_guild=True)
EVERY = "How often: 30m, 6h, 1d or 1w (at least 10 minutes)"
TITLES = {
    ScheduleKind.BATTLE: "⏰ Battle schedules",
    ScheduleKind.TOURNAMENT: "⏰ Tournament schedules",
}


class SchedulesCog(commands.Cog):
    battle_schedule = app_commands.Group(
        name="battle-schedule",
        description="Battles this server runs by itself, every so often (needs Manage Server).",
        guild_only=True,
        default_permissions=MANAGE_SERVER,
    )
    tournament_schedule = app_commands.Group(
        name="tournament-schedule",
        description="Tournaments this server runs by itself, every so often (needs Manage Server).",
        guild_only=True,
        default_permissions=MANAGE_SERVER,
    )

    def __init__(self, bot: RapBattleBot) -> None:
        self.bot = bot

    @battle_schedule.command(name="add")
    @app_commands.describe(
        every=EVERY,
        model_a="The first model (left out: matched for the leaderboard at each run)",
        model_b="The second model (left out: matched for the leaderboard at each run)",
        rounds=f"Rounds, {MIN_ROUNDS} to {MAX_ROUNDS} (default: the server's setting)",
        topic=f"What each battle is about, up to {MAX_TOPIC_LENGTH} characters",
        blind="Hide the models' names until voting ends (default: the server's setting)",
        judges="A panel of LLM judges gives a verdict after the vote (default: server setting)",
    )
    async def battle_add(
        self,
        interaction: discord.Interaction[RapBattleBot],
        every: app_commands.Range[str, 1, 40],
        model_a: str | None = None,
        model_b: str | None = None,
        rounds: app_commands.Range[int, MIN_ROUNDS, MAX_ROUNDS] | None = None,
        topic: app_commands.Range[str, 1, MAX_TOPIC_LENGTH] | None = None,
        blind: bool | None = None,
        judges: bool | None = None,
    ) -> None:
        """Run a battle in this channel every so often (needs Manage Server)."""
        _check_may_manage(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        resolve = self.bot.catalog.resolve
        plan = BattlePlan(
            await resolve(model_a) if model_a else None,
            await resolve(model_b) if model_b else None,
            rounds,
            normalize_topic(topic),
            blind,
            judges,
        )
        await self._add(interaction, every, plan)

    @tournament_schedule.command(name="add")
    @app_commands.rename(tournament_format="format")
    @app_commands.describe(
        every=EVERY + ", e.g. 4w for a monthly tournament", **TOURNAMENT_DESCRIPTIONS
    )
    @app_commands.choices(**TOURNAMENT_CHOICES)
    async def tournament_add(
        self,
        interaction: discord.Interaction[RapBattleBot],
        every: app_commands.Range[str, 1, 40],
        models: app_commands.Range[str, 1, 4000],
        tournament_format: str = TournamentFormat.SINGLE.value,
        seed: str = SeedOrder.GIVEN.value,
        judges: bool | None = None,
    ) -> None:
        """Run a tournament in this channel every so often (needs Manage Server)."""
        _check_may_manage(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        names = parse_models(models)
        check_roster(names)  # before resolving: a wrong count needs no lookups
        resolved = tuple([await self.bot.catalog.resolve(name) for name in names])
        plan = TournamentPlan(resolved, TournamentFormat(tournament_format), seed, judges)
        await self._add(interaction, every, plan)

    async def _add(
        self, interaction: discord.Interaction[RapBattleBot], every: str, plan: SchedulePlan
    ) -> None:
        assert interaction.guild_id is not None and interaction.channel is not None
        if isinstance(interaction.channel, discord.Thread):
            raise UserError("A schedule runs in a channel, not a thread: add it in a channel.")
        added = await self.bot.schedules.add(
            interaction.guild_id, interaction.channel.id, interaction.user.id, every, plan
        )
        await interaction.followup.send(
            f"Schedule #{added.id} is added. {plan.describe()}, in this channel every "
            f"{every.strip()}; the first run is <t:{int(added.next_run_at)}:R>.",
            ephemeral=True,
        )

    @battle_schedule.command(name="list")
    async def battle_list(self, interaction: discord.Interaction[RapBattleBot]) -> None:
        """Show this server's battle schedules and when each runs next."""
        await self._list(interaction, ScheduleKind.BATTLE)

    @tournament_schedule.command(name="list")
    async def tournament_list(self, interaction: discord.Interaction[RapBattleBot]) -> None:
        """Show this server's tournament schedules and when each runs next."""
        await self._list(interaction, ScheduleKind.TOURNAMENT)

    async def _list(
        self, interaction: discord.Interaction[RapBattleBot], kind: ScheduleKind
    ) -> None:
        assert interaction.guild_id is not None
        listed = await self.bot.schedules.listed(interaction.guild_id, kind)
        embed = discord.Embed(title=TITLES[kind], description=schedule_lines(listed, kind))
        await interaction.response.send_message(embed=embed, ephemeral=True)

    @battle_schedule.command(name="remove")
    @app_commands.rename(schedule_id="id")
    @app_commands.describe(schedule_id="The schedule's number, as list shows it")
    async def battle_remove(
        self, interaction: discord.Interaction[RapBattleBot], schedule_id: int
    ) -> None:
        """Remove one of this server's battle schedules (needs Manage Server)."""
        await self._remove(interaction, schedule_id, ScheduleKind.BATTLE)

    @tournament_schedule.command(name="remove")
    @app_commands.rename(schedule_id="id")
    @app_commands.describe(schedule_id="The schedule's number, as list shows it")
    async def tournament_remove(
        self, interaction: discord.Interaction[RapBattleBot], schedule_id: int
    ) -> None:
        """Remove one of this server's tournament schedules (needs Manage Server)."""
        await self._remove(interaction, schedule_id, ScheduleKind.TOURNAMENT)

    async def _remove(
        self, interaction: discord.Interaction[RapBattleBot], schedule_id: int, kind: ScheduleKind
    ) -> None:
        assert interaction.guild_id is not None
        _check_may_manage(interaction)
        message = await self.bot.schedules.remove(interaction.guild_id, schedule_id, kind)
        await interaction.response.send_message(message, ephemeral=True)

    @battle_add.autocomplete("model_a")
    @battle_add.autocomplete("model_b")
    async def model_autocomplete(
        self, interaction: discord.Interaction[RapBattleBot], current: str
    ) -> list[app_commands.Choice[str]]:
        return model_choices(self.bot, current)


def _check_may_manage(interaction: discord.Interaction[RapBattleBot]) -> None:
    if not interaction.permissions.manage_guild:
        raise UserError("Schedules need the Manage Server permission.")


async def setup(bot: RapBattleBot) -> None:
    await bot.add_cog(SchedulesCog(bot))
