"""An embed whose pages turn with buttons: the leaderboard and the battle history."""

from __future__ import annotations

from collections.abc import Sequence

import discord

from bot.engine.discord_limits import EMBED_DESCRIPTION_CHARS, EMBED_TITLE_CHARS
from bot.stages.embeds import TITLE_COLOUR


class PagedEmbed(discord.ui.View):
    """An embed whose pages its owner turns with buttons; one page needs no buttons."""

    PAGE_TIMEOUT_SECONDS = 300.0

    def __init__(
        self, title: str, page_texts: Sequence[str], owner_id: int, url: str | None = None
    ) -> None:
        super().__init__(timeout=self.PAGE_TIMEOUT_SECONDS)
        self.title = title[:EMBED_TITLE_CHARS]
        self.url = url  # the title links here (the web arena's page), when set
        self.page_texts = list(page_texts) or [""]
        self.owner_id = owner_id
        self.page = 0
        self._sync_buttons()

    def embed(self) -> discord.Embed:
        embed = discord.Embed(
            title=self.title,
            description=self.page_texts[self.page][:EMBED_DESCRIPTION_CHARS],
            colour=TITLE_COLOUR,
            url=self.url,
        )
        if len(self.page_texts) > 1:
            embed.set_footer(text=f"Page {self.page + 1} of {len(self.page_texts)}")
        return embed

    async def send(self, interaction: discord.Interaction, *, ephemeral: bool = False) -> None:
        """The first page, as the answer (or, after a deferral, the followup)."""
        view = discord.utils.MISSING if len(self.page_texts) == 1 else self
        if view is discord.utils.MISSING:
            self.stop()
        if interaction.response.is_done():
            await interaction.followup.send(embed=self.embed(), view=view, ephemeral=ephemeral)
        else:
            await interaction.response.send_message(
                embed=self.embed(), view=view, ephemeral=ephemeral
            )

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.user.id == self.owner_id:
            return True
        await interaction.response.send_message(
            "These pages belong to whoever asked for them; run the command yourself.",
            ephemeral=True,
        )
        return False

    @discord.ui.button(label="◀ Previous", style=discord.ButtonStyle.secondary)
    async def previous(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await self._turn(interaction, -1)

    @discord.ui.button(label="Next ▶", style=discord.ButtonStyle.secondary)
    async def next(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await self._turn(interaction, +1)

    async def _turn(self, interaction: discord.Interaction, step: int) -> None:
        self.page = min(max(self.page + step, 0), len(self.page_texts) - 1)
        self._sync_buttons()
        await interaction.response.edit_message(embed=self.embed(), view=self)

    def _sync_buttons(self) -> None:
        self.previous.disabled = self.page == 0
        self.next.disabled = self.page >= len(self.page_texts) - 1
