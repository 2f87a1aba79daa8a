"""/battle-settings: how battles run on this server, one option per entry of the settings table."""

from __future__ import annotations

import inspect
import time
from typing import TYPE_CHECKING, Any, Literal, Optional

import discord
from discord import app_commands
from discord.ext import commands

from bot.engine.server_settings import PUBLIC_PAGE, SETTINGS
from bot.engine.setting import Setting, SettingKind
from bot.errors import UserError
from bot.stages.discord import channel_fields
from bot.stages.embeds import settings_embed

if TYPE_CHECKING:
    from bot.client import RapBattleBot

COMMAND_NAME = "battle-settings"


def option_type(setting: Setting[Any]) -> object:
    """The slash-command option a setting takes; Discord enforces its range before we see it."""
    if setting.kind is SettingKind.SWITCH:
        return bool
    if setting.kind is SettingKind.CHOICE:
        return Literal[setting.choices]  # Discord offers the choices
    if setting.kind in (SettingKind.WHOLE_NUMBER, SettingKind.SECONDS):
        assert setting.low is not None and setting.high is not None
        return app_commands.Range[int, int(setting.low), int(setting.high)]
    return str


def settings_command(bot: RapBattleBot) -> app_commands.Command[Any, ..., None]:
    """The command, with an option for every setting in the table."""

    async def battle_settings(interaction: discord.Interaction[RapBattleBot], **given: Any) -> None:
        assert interaction.guild_id is not None
        if not interaction.permissions.manage_guild:
            raise UserError("Changing battle settings needs the Manage Server permission.")
        changes = {
            setting.name: await _parsed(bot, setting, given[setting.name])
            for setting in SETTINGS
            if given.get(setting.name) is not None
        }
        current = await bot.store.server_settings(interaction.guild_id)
        updated = current.changed(**changes)
        if changes:
            await bot.store.save_server_settings(interaction.guild_id, updated)
        rules = updated.apply_to(bot.arena.defaults)
        if changes.get(PUBLIC_PAGE.name) and interaction.guild is not None:
            # Its page shows its name from now on (kept current by cogs/server_events.py).
            await bot.store.name_server(interaction.guild_id, interaction.guild.name, time.time())
        here = channel_fields(interaction.app_permissions, rules)
        await interaction.response.send_message(
            embed=settings_embed(rules, changed=sorted(changes), here=here), ephemeral=True
        )

    interaction_parameter = inspect.Parameter(
        "interaction", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=discord.Interaction
    )
    battle_settings.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [interaction_parameter]
        + [
            inspect.Parameter(
                setting.name,
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
                default=None,
                annotation=Optional[option_type(setting)],  # noqa: UP045 (a runtime object)
            )
            for setting in SETTINGS
        ]
    )
    command = app_commands.Command(
        name=COMMAND_NAME,
        description="Show or change how battles run on this server (needs Manage Server).",
        callback=battle_settings,
    )
    command.guild_only = True
    command.default_permissions = discord.Permissions(manage_guild=True)
    return app_commands.describe(**{s.name: s.description for s in SETTINGS})(command)


async def _parsed(bot: RapBattleBot, setting: Setting[Any], raw: object) -> object:
    value = setting.parse(raw.strip() if isinstance(raw, str) else raw)
    if setting.kind is SettingKind.MODELS and value is not None:
        value = tuple(dict.fromkeys([await bot.catalog.resolve(name) for name in value]))
    return value


class SettingsCog(commands.Cog):
    def __init__(self, bot: RapBattleBot) -> None:
        self.bot = bot
        self.command = settings_command(bot)

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.command)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(COMMAND_NAME)


async def setup(bot: RapBattleBot) -> None:
    await bot.add_cog(SettingsCog(bot))
