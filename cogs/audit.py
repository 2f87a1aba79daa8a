"""/battle-audit and /battle-voter: the vote audit, for a server's admins (Manage Server)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.errors import UserError
from bot.services.battles.audit import VoteAudit
from bot.services.battles.audit_lines import battle_pages, member_pages, server_pages
from bot.stages.embeds import TITLE_COLOUR
from bot.stages.paged_embed import PagedEmbed

if TYPE_CHECKING:
    from bot.client import RapBattleBot

MANAGE_SERVER = discord.Permissions(manage_guild=True)


class AuditCog(commands.Cog):
    battle_voter = app_commands.Group(
        name="battle-voter",
        description="Set a member's votes aside on this server, or count them again "
        "(needs Manage Server).",
        guild_only=True,
        default_permissions=MANAGE_SERVER,
    )

    def __init__(self, bot: RapBattleBot) -> None:
        self.bot = bot
        self.audit = VoteAudit(bot.store, bot.standings)

    @app_commands.command(name="battle-audit")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.describe(
        battle_id="A battle's number: who voted what, and which votes were set aside and why",
        member="A member: their votes, their agreement with the crowd, whether they are flagged",
    )
    async def battle_audit(
        self,
        interaction: discord.Interaction[RapBattleBot],
        battle_id: app_commands.Range[int, 1] | None = None,
        member: discord.User | None = None,
    ) -> None:
        """Who voted what, which votes were set aside and why, and outlier voters."""
        guild_id = _managed(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        shown = []
        if battle_id is not None:
            pages = battle_pages(await self.audit.battle(guild_id, battle_id))
            shown.append((f"🔎 Audit of battle #{battle_id}", pages))
        if member is not None:
            pages = member_pages(await self.audit.member(guild_id, member.id))
            shown.append((f"🔎 Audit of {member.display_name}'s votes", pages))
        if not shown:
            rules = await self.bot.arena.rules_for(guild_id)
            shown.append(("🔎 Vote audit", server_pages(await self.audit.server(guild_id, rules))))
        for title, pages in shown:
            view = PagedEmbed(title, pages, owner_id=interaction.user.id)
            await view.send(interaction, ephemeral=True)

    @battle_voter.command(name="exclude")
    @app_commands.describe(member="Whose votes on this server to set aside, past and future")
    async def exclude(
        self, interaction: discord.Interaction[RapBattleBot], member: discord.User
    ) -> None:
        """Set a member's votes aside on this server, past and future, and refit the board."""
        await self._change(interaction, member, excluded=True)

    @battle_voter.command(name="include")
    @app_commands.describe(member="Whose votes on this server to count again")
    async def include(
        self, interaction: discord.Interaction[RapBattleBot], member: discord.User
    ) -> None:
        """Count an excluded member's votes again, past and future, and refit the board."""
        await self._change(interaction, member, excluded=False)

    async def _change(
        self, interaction: discord.Interaction[RapBattleBot], member: discord.User, excluded: bool
    ) -> None:
        guild_id = _managed(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        change = await self.audit.set_excluded(
            guild_id, member.id, excluded, interaction.user.id, self.bot.arena.clock()
        )
        moved = "1 past vote" if change.votes_moved == 1 else f"{change.votes_moved} past votes"
        what = "set aside on this server" if excluded else "counted again on this server"
        text = (
            f"<@{member.id}>'s votes are {what}: {moved} moved, and the leaderboard follows. "
            "The change is logged (`/battle-audit member`)."
        )
        embed = discord.Embed(description=text, colour=TITLE_COLOUR)
        await interaction.followup.send(embed=embed, ephemeral=True)


def _managed(interaction: discord.Interaction[RapBattleBot]) -> int:
    """The server, once the member is known to have Manage Server there."""
    if interaction.guild_id is None or not interaction.permissions.manage_guild:
        raise UserError("The vote audit needs the Manage Server permission.")
    return interaction.guild_id


async def setup(bot: RapBattleBot) -> None:
    await bot.add_cog(AuditCog(bot))
