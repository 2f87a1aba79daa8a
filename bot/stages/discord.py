"""The Discord stage: a battle posted to a channel as ordinary messages."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Mapping, Sequence

import discord

from bot.engine.battle import Battle, Side, Turn
from bot.engine.leaderboard import RatingChange
from bot.engine.server_settings import ServerRules
from bot.engine.splitting import escape_markdown, verse_messages
from bot.engine.votes import Tally

TITLE_COLOUR = discord.Colour.gold()
VOTE_COLOUR = discord.Colour.blurple()
RESULT_COLOUR = discord.Colour.green()
NO_CONTEST_COLOUR = discord.Colour.dark_grey()


class DiscordStage:
    """Posts verses and announcements to one channel, showing typing while a model writes."""

    def __init__(self, channel: discord.abc.Messageable) -> None:
        self.channel = channel

    async def post_verse(self, battle: Battle, turn: Turn) -> None:
        assert turn.side is not None
        name = battle.stage_name(turn.side)
        for piece in verse_messages(name, turn.round, battle.rounds, turn.text):
            if piece.strip():  # Discord refuses blank messages; a blank stretch shows nothing.
                await self.channel.send(piece)

    async def announce(self, battle: Battle, turn: Turn) -> None:
        await self.channel.send(f"📣 **{turn.text}**")

    @contextlib.asynccontextmanager
    async def writing(
        self, battle: Battle, turn: Turn, progress: Callable[[], int]
    ) -> AsyncIterator[None]:
        async with self.channel.typing():
            yield

    @contextlib.asynccontextmanager
    async def pausing(self, battle: Battle, seconds: float) -> AsyncIterator[None]:
        # The channel shows the verse being read; a countdown would only add noise.
        yield

    async def post_title_card(self, battle: Battle, starter_mention: str) -> discord.Message:
        a, b = (escape_markdown(battle.stage_name(side)) for side in (Side.A, Side.B))
        embed = discord.Embed(title=f"🎤 {a} v {b}"[:256], colour=TITLE_COLOUR)
        embed.add_field(name="Rounds", value=str(battle.rounds))
        if battle.topic:
            embed.add_field(name="Topic", value=battle.topic[:1024], inline=False)
        embed.add_field(name="Started by", value=starter_mention)
        if battle.blind:
            embed.description = "Blind battle: the models' names are revealed when voting closes."
        return await self.channel.send(embed=embed)

    async def post_vote(
        self, battle: Battle, emoji: Mapping[Side, str], closes_at: float
    ) -> discord.Message:
        lines = [f"{emoji[side]} **{escape_markdown(battle.stage_name(side))}**" for side in Side]
        embed = discord.Embed(
            title="🗳️ Who won? Vote with a reaction",
            description="\n".join(lines) + f"\n\nVoting closes <t:{int(closes_at)}:R>.",
            colour=VOTE_COLOUR,
        )
        message = await self.channel.send(embed=embed)
        for side in Side:
            await message.add_reaction(emoji[side])
        return message

    async def post_results(
        self,
        battle: Battle,
        emoji: Mapping[Side, str],
        tally: Tally,
        changes: Sequence[RatingChange] = (),
    ) -> discord.Message:
        embed = discord.Embed(title=results_title(battle, tally)[:256], colour=RESULT_COLOUR)
        embed.description = "\n".join(
            f"{emoji[side]} {escape_markdown(battle.stage_name(side))}: {_votes(tally.votes(side))}"
            for side in Side
        )
        if battle.blind:
            embed.add_field(
                name="Revealed",
                value="\n".join(
                    f"{battle.stage_name(side)} was **{escape_markdown(battle.model(side))}**"
                    for side in Side
                ),
                inline=False,
            )
        if changes:
            embed.add_field(
                name="Ratings", value="\n".join(change.line() for change in changes), inline=False
            )
        return await self.channel.send(embed=embed)

    async def post_notice(self, text: str) -> discord.Message:
        return await self.channel.send(
            embed=discord.Embed(description=text[:4096], colour=NO_CONTEST_COLOUR)
        )


def results_title(battle: Battle, tally: Tally) -> str:
    a, b = tally.votes(Side.A), tally.votes(Side.B)
    if tally.total == 0:
        return "No votes: no winner this time"
    if tally.winner is None:
        return f"🤝 A draw, {a}–{b}"
    winner = tally.winner
    real_name = battle.model(winner)
    return f"🏆 {real_name} wins, {max(a, b)}–{min(a, b)}"


def _votes(count: int) -> str:
    return f"{count} vote" if count == 1 else f"{count} votes"


class PagedEmbed(discord.ui.View):
    """An embed whose pages its owner turns with buttons; one page needs no buttons."""

    PAGE_TIMEOUT_SECONDS = 300.0

    def __init__(self, title: str, page_texts: Sequence[str], owner_id: int) -> None:
        super().__init__(timeout=self.PAGE_TIMEOUT_SECONDS)
        self.title = title[:256]
        self.page_texts = list(page_texts) or [""]
        self.owner_id = owner_id
        self.page = 0
        self._sync_buttons()

    def embed(self) -> discord.Embed:
        embed = discord.Embed(
            title=self.title, description=self.page_texts[self.page][:4096], colour=TITLE_COLOUR
        )
        if len(self.page_texts) > 1:
            embed.set_footer(text=f"Page {self.page + 1} of {len(self.page_texts)}")
        return embed

    async def send(self, interaction: discord.Interaction) -> None:
        if len(self.page_texts) == 1:
            self.stop()
            await interaction.response.send_message(embed=self.embed())
        else:
            await interaction.response.send_message(embed=self.embed(), view=self)

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


SETTING_LABELS = {
    "pace": "Pace",
    "vote_seconds": "Vote window",
    "rounds": "Default rounds",
    "emoji_a": "Vote emoji A",
    "emoji_b": "Vote emoji B",
    "allowed_models": "Allowed models",
    "cooldown_seconds": "Cooldown",
    "max_battles": "Battles at once",
    "blind_default": "Blind by default",
    "global_opt_out": "Global leaderboard",
}


def settings_embed(rules: ServerRules, changed: Sequence[str] = ()) -> discord.Embed:
    """The server's battle settings, marking the ones just changed."""
    values = {
        "pace": "auto (reading time)" if rules.pace.is_auto else f"{rules.pace} s",
        "vote_seconds": f"{rules.vote_seconds} s",
        "rounds": str(rules.rounds),
        "emoji_a": rules.emoji[Side.A],
        "emoji_b": rules.emoji[Side.B],
        "allowed_models": (
            "every model"
            if rules.allowed_models is None
            else ", ".join(sorted(rules.allowed_models))[:1000]
        ),
        "cooldown_seconds": f"{rules.cooldown_seconds:g} s",
        "max_battles": str(rules.max_battles),
        "blind_default": "yes" if rules.blind_default else "no",
        "global_opt_out": "opted out" if rules.global_opt_out else "included",
    }
    embed = discord.Embed(title="⚙️ Battle settings", colour=VOTE_COLOUR)
    for name, label in SETTING_LABELS.items():
        mark = " ✏️" if name in changed else ""
        embed.add_field(name=f"{label}{mark}", value=values[name])
    if changed:
        embed.set_footer(text="Changes apply from the next battle.")
    return embed
