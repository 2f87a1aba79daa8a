"""Reaction events feed the live count of open votes."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord.ext import commands

from bot.engine.votes import Voter

if TYPE_CHECKING:
    from bot.client import RapBattleBot


class VotingCog(commands.Cog):
    def __init__(self, bot: RapBattleBot) -> None:
        self.bot = bot

    @commands.Cog.listener()
    async def on_raw_reaction_add(self, event: discord.RawReactionActionEvent) -> None:
        if event.burst:
            return  # Super reactions never count, as in the recount.
        is_self = event.user_id == self.bot.user.id
        voter = Voter(event.user_id, bool(event.member and event.member.bot) or is_self, is_self)
        self.bot.arena.reaction(event.message_id, str(event.emoji), voter, added=True)

    @commands.Cog.listener()
    async def on_raw_reaction_remove(self, event: discord.RawReactionActionEvent) -> None:
        if event.burst:
            return
        self.bot.arena.reaction(event.message_id, str(event.emoji), Voter(event.user_id), False)

    @commands.Cog.listener()
    async def on_shard_connect(self, shard_id: int) -> None:
        # A new gateway session (not a resume): events before it may be lost.
        self.bot.gateway_sessions.started(shard_id)


async def setup(bot: RapBattleBot) -> None:
    await bot.add_cog(VotingCog(bot))
