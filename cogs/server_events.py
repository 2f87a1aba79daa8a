"""The server's own changes the bot follows: its name (kept for a public server's page) and the
bot's access (results a channel refused are posted once it may post there again)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import discord
from discord.ext import commands

if TYPE_CHECKING:
    from bot.client import RapBattleBot


class ServerEventsCog(commands.Cog):
    def __init__(self, bot: RapBattleBot) -> None:
        self.bot = bot

    @commands.Cog.listener()
    async def on_guild_update(self, before: discord.Guild, after: discord.Guild) -> None:
        if before.name != after.name:  # kept only for a server whose name is kept
            await self.bot.store.rename_server(after.id, after.name, time.time())

    # A channel's overwrites or a role's permissions changed: the bot may post again.

    @commands.Cog.listener()
    async def on_guild_channel_update(
        self, before: discord.abc.GuildChannel, after: discord.abc.GuildChannel
    ) -> None:
        self.bot.arena.undelivered.access_changed(after.guild.id)

    @commands.Cog.listener()
    async def on_guild_role_update(self, before: discord.Role, after: discord.Role) -> None:
        self.bot.arena.undelivered.access_changed(after.guild.id)


async def setup(bot: RapBattleBot) -> None:
    await bot.add_cog(ServerEventsCog(bot))
