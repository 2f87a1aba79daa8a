"""/battle-stats: how the judges' panel compares with the crowd, and what battles cost, on this
server and globally."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.engine.content_filter import withheld_lines
from bot.engine.discord_limits import EMBED_FIELD_VALUE_CHARS
from bot.engine.house_rules import utc_day_start
from bot.engine.judge_stats import fit_lines, judge_lines, judge_stats, summary_lines
from bot.engine.spend import spend_fields
from bot.stages.embeds import VERDICT_COLOUR

if TYPE_CHECKING:
    from bot.client import RapBattleBot

STATS_TITLE = "⚖️ Judges v the crowd"
SPEND_TITLE = "💸 Tokens and spend (verses and judges)"
WITHHELD_TITLE = "🛡️ Content filter: verses withheld, by model"
# Kept short: three embeds share one message's 6,000 characters.
WITHHELD_FIELD_CHARS = 500
STATS_NOTE = (
    "Agreement and the opening side's wins count battles with both votes and a verdict; "
    "abstentions and tokens count every judged battle. Brackets: 95% intervals (Wilson)."
)


class StatsCog(commands.Cog):
    def __init__(self, bot: RapBattleBot) -> None:
        self.bot = bot

    @app_commands.command(name="battle-stats")
    @app_commands.guild_only()
    async def battle_stats(self, interaction: discord.Interaction[RapBattleBot]) -> None:
        """How often the judges agree with the crowd, and what battles cost, here and globally."""
        assert interaction.guild_id is not None
        await interaction.response.defer(thinking=True)
        embed = discord.Embed(title=STATS_TITLE, description=STATS_NOTE, colour=VERDICT_COLOUR)
        for label, scope in (("This server", interaction.guild_id), ("Global", None)):
            stats = judge_stats(await self.bot.store.judge_ballot_rows(scope))
            embed.add_field(
                name=label,
                value=fit_lines(summary_lines(stats), EMBED_FIELD_VALUE_CHARS),
                inline=False,
            )
            if stats.judges:
                embed.add_field(
                    name=f"{label}: each judge's agreement (crowd · rest of the panel)",
                    value=fit_lines(judge_lines(stats.judges), EMBED_FIELD_VALUE_CHARS),
                    inline=False,
                )
        today = utc_day_start(discord.utils.utcnow()).timestamp()
        spend = discord.Embed(title=SPEND_TITLE, colour=VERDICT_COLOUR)
        report = await self.bot.store.spend_report(interaction.guild_id, today)
        for name, value in spend_fields(report):
            spend.add_field(name=name, value=value, inline=False)
        withheld = discord.Embed(title=WITHHELD_TITLE, colour=VERDICT_COLOUR)
        for label, scope in (("This server", interaction.guild_id), ("Global", None)):
            lines = withheld_lines(await self.bot.store.withheld_counts(scope))
            withheld.add_field(name=label, value=fit_lines(lines, WITHHELD_FIELD_CHARS))
        await interaction.followup.send(embeds=[embed, spend, withheld])


async def setup(bot: RapBattleBot) -> None:
    await bot.add_cog(StatsCog(bot))
