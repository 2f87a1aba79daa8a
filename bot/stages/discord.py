"""The Discord stage: a battle posted to a channel as ordinary messages."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence

import discord

from bot.engine.battle import Battle, Side, Turn
from bot.engine.leaderboard import RatingChange
from bot.engine.server_settings import SETTINGS, ServerRules
from bot.engine.spend import CostEstimate
from bot.engine.splitting import escape_markdown, verse_messages
from bot.engine.votes import LiveTally, Tally, Voter, side_for_emoji, tally
from bot.stages.base import StageError
from bot.stages.webhooks import AvatarUrls, ChannelWebhooks, WebhookVerses

TITLE_COLOUR = discord.Colour.gold()
VOTE_COLOUR = discord.Colour.blurple()
RESULT_COLOUR = discord.Colour.green()
NO_CONTEST_COLOUR = discord.Colour.dark_grey()
THREAD_NAME_LIMIT = 100
THREAD_ARCHIVE_MINUTES = 1440
REQUIRED_PERMISSIONS = (
    ("view_channel", "View Channel"),
    ("send_messages", "Send Messages"),
    ("embed_links", "Embed Links"),
    ("add_reactions", "Add Reactions"),
    ("read_message_history", "Read Message History"),
)


THREAD_PERMISSIONS = (
    ("create_public_threads", "Create Public Threads"),
    ("send_messages_in_threads", "Send Messages in Threads"),
)


def missing_permissions(
    permissions: discord.Permissions, *, threads: bool = False
) -> tuple[str, ...]:
    """The permissions a battle needs in a channel that ``permissions`` lacks, by their names."""
    needed = REQUIRED_PERMISSIONS + (THREAD_PERMISSIONS if threads else ())
    return tuple(label for attribute, label in needed if not getattr(permissions, attribute))


@contextlib.contextmanager
def _as_stage_errors() -> Iterator[None]:
    """Discord's refusals as the stage's own error type, which the arena understands."""
    try:
        yield
    except (discord.Forbidden, discord.NotFound) as error:
        raise StageError(f"Discord refused: {error}", lost_access=True) from error
    except discord.HTTPException as error:
        raise StageError(f"Discord failed: {error}") from error


class DiscordStageFactory:
    """Stages for channels (or threads) by id: plain messages, or verses through the channel's
    webhook, and optionally the battle in a thread of its own."""

    def __init__(self, client: discord.Client, avatars: AvatarUrls) -> None:
        self._client = client
        self._webhooks = ChannelWebhooks(client)
        self._avatars = avatars

    def stage_for(
        self, channel_id: int, *, webhook: bool = False, thread: bool = False
    ) -> DiscordStage:
        verses = WebhookVerses(self._webhooks, self._avatars, channel_id) if webhook else None
        opener = self._open_thread if thread else None
        return DiscordStage(
            self._client.get_partial_messageable(channel_id), verses=verses, open_thread=opener
        )

    async def _open_thread(self, channel_id: int, message_id: int, name: str) -> discord.Thread:
        channel = self._client.get_channel(channel_id) or await self._client.fetch_channel(
            channel_id
        )
        assert isinstance(channel, discord.TextChannel)
        return await channel.get_partial_message(message_id).create_thread(
            name=name[:THREAD_NAME_LIMIT], auto_archive_duration=THREAD_ARCHIVE_MINUTES
        )


class DiscordStage:
    """Posts a battle to one channel as ordinary messages, showing typing while a model writes.

    With ``verses`` the MCs post through the channel's webhook under their own names; with
    ``open_thread`` everything after the title card happens in a thread opened from it.
    """

    def __init__(
        self,
        channel: discord.abc.Messageable,
        *,
        verses: WebhookVerses | None = None,
        open_thread: Callable[[int, int, str], Awaitable[discord.Thread]] | None = None,
    ) -> None:
        self.channel = channel
        self._verses = verses
        self._open_thread = open_thread
        self._thread_id: int | None = None

    @property
    def place_id(self) -> int:
        """Where the battle goes on: the channel, or the thread opened from its title card."""
        return self._thread_id or self.channel.id  # type: ignore[attr-defined,no-any-return]

    async def post_verse(self, battle: Battle, turn: Turn) -> None:
        assert turn.side is not None
        name = battle.stage_name(turn.side)
        for piece in verse_messages(name, turn.round, battle.rounds, turn.text):
            if not piece.strip():
                continue  # Discord refuses blank messages; a blank stretch shows nothing.
            if self._verses is None:
                await self._send(piece)
            else:
                with _as_stage_errors():
                    await self._verses.post(battle, turn.side, piece, self._thread_id)

    async def announce(self, battle: Battle, turn: Turn) -> None:
        await self._send(f"📣 **{turn.text}**")

    async def _send(self, content: str | None = None, **options: object) -> discord.Message:
        with _as_stage_errors():
            return await self.channel.send(content, **options)  # type: ignore[call-overload]

    @contextlib.asynccontextmanager
    async def writing(
        self, battle: Battle, turn: Turn, progress: Callable[[], int]
    ) -> AsyncIterator[None]:
        with _as_stage_errors():
            async with self.channel.typing():
                yield

    @contextlib.asynccontextmanager
    async def pausing(self, battle: Battle, seconds: float) -> AsyncIterator[None]:
        # The channel shows the verse being read; a countdown would only add noise.
        yield

    async def post_title_card(
        self, battle: Battle, starter_mention: str, estimate: CostEstimate | None = None
    ) -> None:
        a, b = (escape_markdown(battle.stage_name(side)) for side in (Side.A, Side.B))
        embed = discord.Embed(title=f"🎤 {a} v {b}"[:256], colour=TITLE_COLOUR)
        embed.add_field(name="Rounds", value=str(battle.rounds))
        if battle.topic:
            embed.add_field(name="Topic", value=battle.topic[:1024], inline=False)
        embed.add_field(name="Started by", value=starter_mention)
        if estimate is not None:
            embed.add_field(name="Estimated cost", value=estimate.shown)
        if battle.blind:
            embed.description = "Blind battle: the models' names are revealed when voting closes."
        message = await self._send(embed=embed)
        if self._open_thread is not None:
            with _as_stage_errors():
                name = f"🎤 {battle.stage_name(Side.A)} v {battle.stage_name(Side.B)}"
                thread = await self._open_thread(message.channel.id, message.id, name)
            self.channel, self._thread_id = thread, thread.id

    async def post_vote(self, battle: Battle, emoji: Mapping[Side, str], closes_at: float) -> int:
        lines = [f"{emoji[side]} **{escape_markdown(battle.stage_name(side))}**" for side in Side]
        embed = discord.Embed(
            title="🗳️ Who won? Vote with a reaction",
            description="\n".join(lines) + f"\n\nVoting closes <t:{int(closes_at)}:R>.",
            colour=VOTE_COLOUR,
        )
        message = await self._send(embed=embed)
        with _as_stage_errors():
            for side in Side:
                await message.add_reaction(emoji[side])
        return message.id

    async def recount(
        self, vote_message_id: int, emoji: Mapping[Side, str], live: LiveTally | None = None
    ) -> Tally:
        """Counts from Discord's reaction lists, so votes cast while disconnected count too;
        a complete live count that matches the message's counts saves paging through them."""
        with _as_stage_errors():
            message = await self.channel.fetch_message(vote_message_id)
            by_side = {
                side: reaction
                for reaction in message.reactions
                if (side := side_for_emoji(str(reaction.emoji), emoji)) is not None
            }
            if live is not None and live.matches(
                {side: reaction.normal_count for side, reaction in by_side.items()},
                {side: reaction.me for side, reaction in by_side.items()},
            ):
                return live.current()
            reactions: dict[Side, list[Voter]] = {Side.A: [], Side.B: []}
            for side, reaction in by_side.items():
                async for user in reaction.users(limit=None):
                    reactions[side].append(Voter(user.id, user.bot))
        return tally(reactions)

    async def post_results(
        self,
        battle: Battle,
        emoji: Mapping[Side, str],
        tally: Tally,
        changes: Sequence[RatingChange] = (),
    ) -> int:
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
        return (await self._send(embed=embed)).id

    async def post_notice(self, text: str) -> None:
        await self._send(embed=discord.Embed(description=text[:4096], colour=NO_CONTEST_COLOUR))


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


def settings_embed(rules: ServerRules, changed: Sequence[str] = ()) -> discord.Embed:
    """The server's battle settings, marking the ones just changed."""
    embed = discord.Embed(title="⚙️ Battle settings", colour=VOTE_COLOUR)
    for setting in SETTINGS:
        mark = " ✏️" if setting.name in changed else ""
        embed.add_field(name=f"{setting.label}{mark}", value=setting.show(rules[setting]))
    if changed:
        embed.set_footer(text="Changes apply from the next battle.")
    return embed
