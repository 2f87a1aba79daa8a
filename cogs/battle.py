"""/battle and /battle-stop."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.engine.battle import MAX_ROUNDS, MAX_TOPIC_LENGTH, MIN_ROUNDS, Battle, normalize_topic
from bot.engine.house_rules import clean_mode_applies
from bot.engine.server_settings import BLIND_DEFAULT, CLEAN, ROUNDS, THREADS, VOICE
from bot.errors import UserError
from bot.services.battles.arena import BattleRequest
from bot.services.battles.matchmaker import MATCHED_LABEL
from bot.stages.discord import missing_permissions
from bot.stages.voice import Vocal, live_channel, missing_voice_permissions
from cogs.shared import model_choices

if TYPE_CHECKING:
    from bot.client import RapBattleBot


class BattleCog(commands.Cog):
    def __init__(self, bot: RapBattleBot) -> None:
        self.bot = bot

    @app_commands.command(name="battle")
    @app_commands.guild_only()
    @app_commands.describe(
        model_a="The first model (it opens the battle); left out, the bot picks it",
        model_b="The second model; left out, the bot picks it for the leaderboard",
        rounds=f"Rounds, {MIN_ROUNDS} to {MAX_ROUNDS} (default 3)",
        topic=f"What the battle is about, up to {MAX_TOPIC_LENGTH} characters",
        blind="Hide the models' names until voting ends (default: the server's setting)",
        judges="A panel of LLM judges gives a verdict after the vote (default: server setting)",
        stage="A voice or Stage channel to perform the battle in, live, as it is posted",
    )
    async def battle(
        self,
        interaction: discord.Interaction[RapBattleBot],
        model_a: str | None = None,
        model_b: str | None = None,
        rounds: app_commands.Range[int, MIN_ROUNDS, MAX_ROUNDS] | None = None,
        topic: app_commands.Range[str, 1, MAX_TOPIC_LENGTH] | None = None,
        blind: bool | None = None,
        judges: bool | None = None,
        stage: Vocal | None = None,
    ) -> None:
        """Start a rap battle in this channel; models left out are matched for the leaderboard."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        assert interaction.guild_id is not None and interaction.channel is not None
        catalog, arena = self.bot.catalog, self.bot.arena
        rules = await arena.rules_for(interaction.guild_id)
        if rules[THREADS] and isinstance(interaction.channel, discord.Thread):
            raise UserError(
                "Battles here open threads of their own: start one in a channel, not a thread."
            )
        first = await catalog.resolve(model_a) if model_a is not None else None
        second = await catalog.resolve(model_b) if model_b is not None else None
        matched = first is None or second is None
        if first is None or second is None:
            picked = await self.bot.matchmaker.match(
                interaction.guild_id, interaction.channel.id, rules, fixed=first or second
            )
            # A model that was named keeps the side it was named for.
            first, second = picked[::-1] if second is not None else picked
        battle = Battle(
            first,
            second,
            rounds or rules[ROUNDS],
            normalize_topic(topic),
            rules[BLIND_DEFAULT] if blind is None else blind,
            clean=clean_mode_applies(rules[CLEAN], age_restricted(interaction.channel)),
        )
        voice = live_channel(interaction.user, stage, follow=rules[VOICE] == "follow")
        request = BattleRequest(
            guild_id=interaction.guild_id,
            channel_id=interaction.channel.id,
            starter_id=interaction.user.id,
            starter_mention=interaction.user.mention,
            missing_permissions=missing_permissions(
                interaction.app_permissions, threads=rules[THREADS]
            ),
            verses_by_webhook=interaction.app_permissions.manage_webhooks,
            judges=judges,
            label=MATCHED_LABEL if matched else None,
            pricing=catalog.pricing(battle.model_a, battle.model_b),
            voice_channel_id=voice.id if voice else None,
            missing_voice_permissions=missing_voice_permissions(
                voice, voice.permissions_for(voice.guild.me)
            )
            if voice
            else (),
        )
        session = await arena.start(request, battle)
        await interaction.followup.send(f"Battle #{session.stored.id} is on!", ephemeral=True)

    @battle.autocomplete("model_a")
    @battle.autocomplete("model_b")
    async def model_autocomplete(
        self, interaction: discord.Interaction[RapBattleBot], current: str
    ) -> list[app_commands.Choice[str]]:
        return model_choices(self.bot, current)

    @app_commands.command(name="battle-stop")
    @app_commands.guild_only()
    async def battle_stop(self, interaction: discord.Interaction[RapBattleBot]) -> None:
        """Stop the battle in this channel (its starter, or anyone with Manage Server)."""
        if interaction.channel_id is None:
            raise UserError("Use this in the battle's channel.")
        may_manage = bool(interaction.permissions.manage_guild)
        user = interaction.user
        message = self.bot.arena.stop(
            interaction.channel_id, user.id, user.display_name, may_manage
        )
        await interaction.response.send_message(message, ephemeral=True)


def age_restricted(channel: object) -> bool:
    """Whether a channel is age-restricted (NSFW); a thread follows its parent. A channel known
    only by its id (a PartialMessageable) counts as not, which keeps clean mode on."""
    if isinstance(channel, discord.TextChannel | discord.Thread | discord.VoiceChannel):
        return channel.is_nsfw()
    return False


async def setup(bot: RapBattleBot) -> None:
    await bot.add_cog(BattleCog(bot))
