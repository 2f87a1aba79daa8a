"""/leaderboard, /battle-history and /transcript."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.engine import transcript
from bot.engine.discord_limits import (
    AUTOCOMPLETE_CHOICES,
)
from bot.engine.leaderboard import Board, pages
from bot.engine.seasons import ALL, CURRENT, PREVIOUS, SeasonLength, parse_season, season_length
from bot.engine.server_settings import SEASON
from bot.engine.verdicts import Decision, VerdictFile
from bot.errors import UserError
from bot.services.battles.history import history_lines
from bot.stages.paged_embed import PagedEmbed
from cogs.shared import model_choices

if TYPE_CHECKING:
    from bot.client import RapBattleBot


class LeaderboardCog(commands.Cog):
    def __init__(self, bot: RapBattleBot) -> None:
        self.bot = bot

    @app_commands.command(name="leaderboard")
    @app_commands.guild_only()
    @app_commands.describe(
        scope="This server's ratings, or every server's that shares them",
        board="Rated by the audience's votes, or by the judges' panel",
        season="With seasons on: current (the default), previous, all, or a name like 2026-12",
    )
    async def leaderboard(
        self,
        interaction: discord.Interaction[RapBattleBot],
        scope: Literal["server", "global"] = "server",
        board: Literal["crowd", "judges"] = "crowd",
        season: str | None = None,
    ) -> None:
        """Model ratings from the audience's votes or the judges' (Bradley-Terry, 95% intervals)."""
        assert interaction.guild_id is not None
        guild_id = None if scope == "global" else interaction.guild_id
        rated_by = Board(board)
        length = await self._season_length(interaction.guild_id, guild_id)
        chosen = parse_season(season, length, self.bot.arena.clock())
        rows = await self.bot.standings.standings(guild_id, rated_by, chosen)
        title = "🌍 Global leaderboard" if scope == "global" else "🏆 Server leaderboard"
        if rated_by is Board.JUDGES:
            title += " · ⚖️ judges"
        if chosen is not None:
            title += f" · 📅 season {chosen.name}"
        elif length is not None:
            title += " · all time"
        link = await self.bot.arena.board_page(guild_id)
        if link is not None and chosen is not None:
            link += f"?season={chosen.name}"
        view = PagedEmbed(title, pages(rows), owner_id=interaction.user.id, url=link)
        await view.send(interaction)

    async def _season_length(self, here: int, scope: int | None) -> SeasonLength | None:
        """How long the seasons of a board asked for on server ``here`` are: None when this
        server has seasons off; the global board's are calendar months whatever its length."""
        length = season_length((await self.bot.arena.rules_for(here))[SEASON])
        return SeasonLength.MONTH if length is not None and scope is None else length

    @leaderboard.autocomplete("season")
    async def season_autocomplete(
        self, interaction: discord.Interaction[RapBattleBot], current: str
    ) -> list[app_commands.Choice[str]]:
        """current, previous, all, then the seasons the board has, newest first."""
        assert interaction.guild_id is not None
        scope = None if interaction.namespace.scope == "global" else interaction.guild_id
        length = await self._season_length(interaction.guild_id, scope)
        if length is None:
            return [app_commands.Choice(name=ALL, value=ALL)]
        board = Board(interaction.namespace.board or Board.CROWD.value)
        had = await self.bot.standings.seasons(scope, board, length)
        names = [CURRENT, PREVIOUS, ALL, *(season.name for season in had)]
        typed = current.strip().lower()
        return [
            app_commands.Choice(name=name, value=name)
            for name in names
            if name.lower().startswith(typed)
        ][:AUTOCOMPLETE_CHOICES]

    @app_commands.command(name="battle-history")
    @app_commands.guild_only()
    @app_commands.describe(model="Only battles with this model")
    async def battle_history(
        self, interaction: discord.Interaction[RapBattleBot], model: str | None = None
    ) -> None:
        """Recent battles on this server."""
        assert interaction.guild_id is not None
        model_id = await self.bot.catalog.resolve(model) if model else None
        battles = await self.bot.store.recent_battles(interaction.guild_id, model_id)
        title = f"📜 Recent battles{f' with {model_id}' if model_id else ''}"
        view = PagedEmbed(title, [history_lines(battles)], owner_id=interaction.user.id)
        await view.send(interaction)

    @battle_history.autocomplete("model")
    async def model_autocomplete(
        self, interaction: discord.Interaction[RapBattleBot], current: str
    ) -> list[app_commands.Choice[str]]:
        return model_choices(self.bot, current)

    @app_commands.command(name="transcript")
    @app_commands.guild_only()
    @app_commands.describe(
        battle_id="The battle's number, as in /battle-history",
        audio="Also attach the battle's audio track (made now if it is not kept yet)",
    )
    async def transcript(
        self,
        interaction: discord.Interaction[RapBattleBot],
        battle_id: app_commands.Range[int, 1],
        audio: bool = False,
    ) -> None:
        """The battle's transcript as a Markdown file, and the judges' verdict as YAML if any."""
        stored = await self.bot.store.battle(battle_id)
        if stored is None or stored.guild_id != interaction.guild_id:
            raise UserError(f"There is no battle #{battle_id} on this server.")
        if stored.battle.blind and not stored.state.is_final:
            raise UserError("That battle is blind: its transcript is out when voting closes.")
        text = transcript.transcript_of(stored.battle, await self.bot.store.turns(battle_id))
        files = [discord.File(io.BytesIO(text.encode()), filename=f"battle-{battle_id}.md")]
        # Only once the vote has closed: the verdict never sways the crowd.
        verdict = await self.bot.store.stored_verdict(battle_id) if stored.state.is_final else None
        if verdict is not None and verdict.decision is not Decision.NONE:
            data = VerdictFile.of(verdict).to_yaml().encode()
            files.append(discord.File(io.BytesIO(data), filename=f"battle-{battle_id}.yml"))
        if not audio:
            await interaction.response.send_message(f"Battle #{battle_id}", files=files)
            return
        await interaction.response.defer(thinking=True)  # a track takes a while to make
        track = await self.bot.tracks.attachment(stored)
        if track.data is not None:
            files.append(discord.File(io.BytesIO(track.data), filename=track.filename))
        note = f"\n{track.note}" if track.note else ""
        await interaction.followup.send(f"Battle #{battle_id}{note}", files=files)


async def setup(bot: RapBattleBot) -> None:
    await bot.add_cog(LeaderboardCog(bot))
