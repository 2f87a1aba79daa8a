"""/battle-settings: how battles run on this server."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.engine.battle import MAX_ROUNDS, MIN_ROUNDS
from bot.engine.pacing import Pace
from bot.engine.server_settings import MAX_BATTLES_LIMIT, MAX_COOLDOWN_SECONDS
from bot.engine.votes import MAX_VOTE_SECONDS, MIN_VOTE_SECONDS
from bot.errors import UserError
from bot.stages.discord import settings_embed

if TYPE_CHECKING:
    from bot.client import RapBattleBot

EVERY_MODEL = "all"


class SettingsCog(commands.Cog):
    def __init__(self, bot: RapBattleBot) -> None:
        self.bot = bot

    @app_commands.command(name="battle-settings")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    @app_commands.describe(
        pace="Pause after each verse: seconds, 0 for none, or 'auto'",
        vote_seconds="How long voting stays open (10 s to 24 h)",
        rounds="Rounds when /battle doesn't say",
        emoji_a="Vote emoji for the first model",
        emoji_b="Vote emoji for the second model",
        allowed_models=f"Models allowed here, separated by commas, or '{EVERY_MODEL}'",
        cooldown_seconds="Seconds a member waits between starting battles",
        max_battles="Battles this server may run at once",
        blind_default="Whether battles are blind unless /battle says otherwise",
        global_opt_out="Keep this server's votes out of the global leaderboard",
    )
    async def battle_settings(
        self,
        interaction: discord.Interaction[RapBattleBot],
        pace: str | None = None,
        vote_seconds: app_commands.Range[int, MIN_VOTE_SECONDS, MAX_VOTE_SECONDS] | None = None,
        rounds: app_commands.Range[int, MIN_ROUNDS, MAX_ROUNDS] | None = None,
        emoji_a: str | None = None,
        emoji_b: str | None = None,
        allowed_models: str | None = None,
        cooldown_seconds: app_commands.Range[int, 0, MAX_COOLDOWN_SECONDS] | None = None,
        max_battles: app_commands.Range[int, 1, MAX_BATTLES_LIMIT] | None = None,
        blind_default: bool | None = None,
        global_opt_out: bool | None = None,
    ) -> None:
        """Show or change how battles run on this server (needs Manage Server)."""
        assert interaction.guild_id is not None
        if not interaction.permissions.manage_guild:
            raise UserError("Changing battle settings needs the Manage Server permission.")
        store, arena = self.bot.store, self.bot.arena
        current = await store.server_settings(interaction.guild_id)
        changes: dict[str, object] = {
            name: value
            for name, value in {
                "vote_seconds": vote_seconds,
                "rounds": rounds,
                "max_battles": max_battles,
                "cooldown_seconds": cooldown_seconds,
                "blind_default": blind_default,
                "global_opt_out": global_opt_out,
                "emoji_a": emoji_a.strip() if emoji_a else None,
                "emoji_b": emoji_b.strip() if emoji_b else None,
                "pace": Pace.parse(pace) if pace else None,
            }.items()
            if value is not None
        }
        if allowed_models is not None:
            changes["allowed_models"] = await self._allowed(allowed_models)
        updated = current.changed(**changes)
        if changes:
            await store.save_server_settings(interaction.guild_id, updated)
        rules = updated.apply_to(arena.defaults)
        await interaction.response.send_message(
            embed=settings_embed(rules, changed=sorted(changes)), ephemeral=True
        )

    async def _allowed(self, text: str) -> tuple[str, ...] | None:
        names = [name.strip() for name in text.split(",") if name.strip()]
        if not names or [n.lower() for n in names] == [EVERY_MODEL]:
            return None
        return tuple(dict.fromkeys([await self.bot.catalog.resolve(n) for n in names]))


async def setup(bot: RapBattleBot) -> None:
    await bot.add_cog(SettingsCog(bot))
