"""The Discord stage: a battle posted to a channel as ordinary messages."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Mapping

import discord

from bot.engine.battle import Battle, Side, Turn
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
        self, battle: Battle, emoji: Mapping[Side, str], tally: Tally
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
