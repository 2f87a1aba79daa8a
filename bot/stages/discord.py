"""The Discord stage: a battle posted to a channel as ordinary messages."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence

import discord

from bot.engine.battle import Battle, Side, Turn
from bot.engine.leaderboard import RatingChange
from bot.engine.server_settings import SETTINGS, THREADS, ServerRules
from bot.engine.spend import CostEstimate
from bot.engine.splitting import escape_markdown, verse_messages
from bot.engine.verdicts import Decision, Verdict
from bot.engine.votes import LiveTally, Tally, Voter, side_for_emoji, tally
from bot.services.battles.referee import cancel_and_wait
from bot.services.stage import Card, StageError
from bot.stages.webhooks import AvatarUrls, ChannelWebhooks, WebhookUnavailable, WebhookVerses

log = logging.getLogger(__name__)

TITLE_COLOUR = discord.Colour.gold()
VOTE_COLOUR = discord.Colour.blurple()
RESULT_COLOUR = discord.Colour.green()
NO_CONTEST_COLOUR = discord.Colour.dark_grey()
VERDICT_COLOUR = discord.Colour.purple()
VERDICT_TITLE = "⚖️ Judges' verdict"
# Discord's embed limits.
EMBED_TITLE_LIMIT = 256
EMBED_DESCRIPTION_LIMIT = 4096
EMBED_FIELDS_LIMIT = 25
FIELD_NAME_LIMIT = 256
FIELD_VALUE_LIMIT = 1024
EMBED_TOTAL_LIMIT = 6000
THREAD_NAME_LIMIT = 100
THREAD_ARCHIVE_MINUTES = 1440
# Typing shows only while a model really keeps the audience waiting: not for a wait shorter than
# this (an indicator that flashes for a moment is noise, and each costs a request) ...
TYPING_DELAY_SECONDS = 1.0
# ... and not while the title card is still being read, which is what the audience does first.
TITLE_CARD_READING_SECONDS = 3.0
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
        # A battle started inside a thread posts there, through its parent channel's webhook.
        known = self._client.get_channel(channel_id)
        in_thread = isinstance(known, discord.Thread)
        hook_channel = known.parent_id if isinstance(known, discord.Thread) else channel_id
        verses = WebhookVerses(self._webhooks, self._avatars, hook_channel) if webhook else None
        return DiscordStage(
            self._client.get_partial_messageable(channel_id),
            verses=verses,
            open_thread=self._open_thread,
            battle_in_thread=thread,
            thread_id=channel_id if in_thread else None,
        )

    async def _open_thread(self, channel_id: int, message_id: int, name: str) -> discord.Thread:
        channel = self._client.get_channel(channel_id) or await self._client.fetch_channel(
            channel_id
        )
        if isinstance(channel, discord.Thread):
            return channel  # Threads don't nest: a battle in a tournament's thread stays there.
        assert isinstance(channel, discord.TextChannel)
        return await channel.get_partial_message(message_id).create_thread(
            name=name[:THREAD_NAME_LIMIT], auto_archive_duration=THREAD_ARCHIVE_MINUTES
        )


class DiscordStage:
    """Posts a battle to one channel as ordinary messages, showing typing while a model writes.

    With ``verses`` the MCs post through the channel's webhook under their own names; with
    ``battle_in_thread`` everything after the title card happens in a thread opened from it
    (through ``open_thread``, which a tournament also uses for its own thread).
    """

    def __init__(
        self,
        channel: discord.abc.Messageable,
        *,
        verses: WebhookVerses | None = None,
        open_thread: Callable[[int, int, str], Awaitable[discord.Thread]] | None = None,
        battle_in_thread: bool = False,
        thread_id: int | None = None,
    ) -> None:
        self.channel = channel
        self._verses = verses
        self._open_thread = open_thread
        self._battle_in_thread = battle_in_thread and open_thread is not None
        self._thread_id = thread_id  # set when the stage is a thread, or once it opens one
        self._title_card_at: float | None = None  # time.monotonic() when it was posted

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
            if self._verses is not None:
                try:
                    with _as_stage_errors():
                        await self._verses.post(battle, turn.side, piece, self._thread_id)
                    continue
                except WebhookUnavailable as error:
                    # The battle goes on in the bot's own messages rather than failing.
                    log.warning("Verses go as plain messages: no webhook (%s)", error)
                    self._verses = None
            await self._send(piece)

    async def announce(self, battle: Battle, turn: Turn) -> None:
        await self._send(f"📣 **{turn.text}**")

    async def _send(self, content: str | None = None, **options: object) -> discord.Message:
        with _as_stage_errors():
            return await self.channel.send(content, **options)  # type: ignore[call-overload]

    @contextlib.asynccontextmanager
    async def writing(
        self, battle: Battle, turn: Turn, progress: Callable[[], int]
    ) -> AsyncIterator[None]:
        """Typing, once the wait has lasted long enough to be one (see TYPING_DELAY_SECONDS)."""
        delay = TYPING_DELAY_SECONDS
        if self._title_card_at is not None:
            reading_left = self._title_card_at + TITLE_CARD_READING_SECONDS - time.monotonic()
            delay = max(delay, reading_left)
        typing = asyncio.create_task(self._type_after(delay), name="typing")
        try:
            yield
        finally:
            # A refused typing request is no reason to stop: the post that follows says so.
            await cancel_and_wait(typing)

    async def _type_after(self, delay: float) -> None:
        await asyncio.sleep(delay)
        async with self.channel.typing():
            await asyncio.Event().wait()  # until the verse is written and this is cancelled

    @contextlib.asynccontextmanager
    async def pausing(self, battle: Battle, seconds: float) -> AsyncIterator[None]:
        # The channel shows the verse being read; a countdown would only add noise.
        yield

    async def post_title_card(
        self,
        battle: Battle,
        starter_mention: str,
        estimate: CostEstimate | None = None,
        *,
        label: str | None = None,
    ) -> None:
        a, b = (escape_markdown(battle.stage_name(side)) for side in (Side.A, Side.B))
        embed = discord.Embed(title=f"🎤 {a} v {b}"[:256], colour=TITLE_COLOUR)
        if label:
            embed.set_author(name=label[:256])
        embed.add_field(name="Rounds", value=str(battle.rounds))
        if battle.topic:
            embed.add_field(name="Topic", value=battle.topic[:1024], inline=False)
        embed.add_field(name="Started by", value=starter_mention)
        if estimate is not None:
            embed.add_field(name="Estimated cost", value=estimate.shown)
        if battle.blind:
            embed.description = "Blind battle: the models' names are revealed when voting closes."
        message = await self._send(embed=embed)
        self._title_card_at = time.monotonic()
        if self._battle_in_thread:
            assert self._open_thread is not None
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
        *,
        notes: Sequence[str] = (),
        link: str | None = None,
    ) -> int:
        embed = discord.Embed(
            title=results_title(battle, tally)[:256], colour=RESULT_COLOUR, url=link
        )
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
        if notes:
            embed.add_field(name="House rules", value="\n".join(notes)[:1024], inline=False)
        return (await self._send(embed=embed)).id

    async def post_notice(self, text: str) -> None:
        await self._send(embed=discord.Embed(description=text[:4096], colour=NO_CONTEST_COLOUR))

    async def post_verdict(self, battle: Battle, verdict: Verdict, crowd: Tally | None) -> int:
        return (await self._send(embed=verdict_embed(battle, verdict, crowd))).id

    # Tournaments: cards edited as they go, and a thread of their own.

    async def post_card(self, card: Card) -> int:
        return (await self._send(embed=card_embed(card))).id

    async def edit_card(self, message_id: int, card: Card) -> None:
        partial = self.channel.get_partial_message(message_id)  # type: ignore[attr-defined]
        with _as_stage_errors():
            await partial.edit(embed=card_embed(card))

    async def open_thread_from(self, message_id: int, name: str) -> int:
        if self._open_thread is None:
            raise StageError("This stage cannot open threads.")
        with _as_stage_errors():
            thread = await self._open_thread(self.channel.id, message_id, name)  # type: ignore[attr-defined]
        return thread.id


def verdict_embed(battle: Battle, verdict: Verdict, crowd: Tally | None) -> discord.Embed:
    """The judges' verdict as one embed within Discord's limits: the score, whether the judges
    agreed with the crowd, then each judge's pick with its statement, cut to share what room
    is left. Shown after the vote closed, so a blind battle's models are named."""
    a, b = verdict.votes(Side.A), verdict.votes(Side.B)
    names = {side: escape_markdown(_clip(verdict.model(side), 100)) for side in Side}
    if verdict.decision is Decision.NONE:
        headline = f"**No verdict**: {verdict.summary().removeprefix('no verdict: ')}."
    else:
        headline = f"**{names[Side.A]}** {a} – {b} **{names[Side.B]}**\n{verdict.summary()}"
    description = f"{headline}\n{_agreement(verdict, crowd, names)}"
    field_names, prefixes, texts = [], [], []
    for ballot in verdict.ballots:
        mark = " · same vendor as a contestant" if ballot.same_vendor else ""
        field_names.append(_clip(f"{ballot.judge}{mark}", FIELD_NAME_LIMIT))
        if ballot.pick is None:
            prefixes.append("Abstained")
            texts.append(ballot.abstained or "")
        else:
            prefixes.append(f"Picked **{names[ballot.pick]}**")
            texts.append(ballot.statement)
    # As many judges as their names and picks leave room for (a field for the rest).
    room = EMBED_TOTAL_LIMIT - len(VERDICT_TITLE) - len(description)
    costs = [
        len(name) + len(prefix) + 1 for name, prefix in zip(field_names, prefixes, strict=True)
    ]
    shown, extra = len(costs), ""
    while shown and (
        shown > EMBED_FIELDS_LIMIT - (shown < len(costs))
        or sum(costs[:shown]) > room - len(extra) * 2
    ):
        shown -= 1
        extra = f"… and {len(costs) - shown} more judges"
    shares = _fair_shares(
        [len(text) for text in texts[:shown]],
        room - len(extra) * 2 - sum(costs[:shown]),
        [FIELD_VALUE_LIMIT - len(prefix) - 1 for prefix in prefixes[:shown]],
    )
    embed = discord.Embed(title=VERDICT_TITLE, description=description, colour=VERDICT_COLOUR)
    for name, prefix, text, share in zip(field_names, prefixes, texts, shares, strict=False):
        body = _clip(text, share) if share > 0 else ""
        embed.add_field(name=name, value=f"{prefix}\n{body}" if body else prefix, inline=False)
    if extra:
        embed.add_field(name=extra, value=extra, inline=False)
    return embed


def _agreement(verdict: Verdict, crowd: Tally | None, names: Mapping[Side, str]) -> str:
    if crowd is None or crowd.total == 0:
        return "The crowd did not vote, so there is nothing to compare."
    if verdict.decision is Decision.NONE:
        return "With no verdict, there is nothing to compare with the crowd."
    if crowd.winner is None:
        return "➖ The crowd drew, so the judges could not agree or disagree with it."
    if verdict.winner is None:
        return f"➖ The judges split; the crowd picked **{names[crowd.winner]}**."
    if verdict.winner is crowd.winner:
        return "✅ The judges agreed with the crowd."
    return f"❌ The judges disagreed with the crowd, which picked **{names[crowd.winner]}**."


def _fair_shares(lengths: Sequence[int], budget: int, caps: Sequence[int]) -> list[int]:
    """Characters for each text: short texts whole, the rest sharing what is left equally."""
    shares = [0] * len(lengths)
    wanted = sorted(range(len(lengths)), key=lambda i: min(lengths[i], caps[i]))
    left = max(budget, 0)
    for position, i in enumerate(wanted):
        fair = left // (len(wanted) - position)
        shares[i] = max(0, min(lengths[i], caps[i], fair))
        left -= shares[i]
    return shares


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"


def card_embed(card: Card) -> discord.Embed:
    """A card as an embed; the card's maker keeps it within Discord's limits."""
    embed = discord.Embed(
        title=card.title[:256], description=card.description[:4096] or None, colour=TITLE_COLOUR
    )
    for name, value in card.fields[:25]:
        embed.add_field(name=name[:256], value=value[:1024] or "\u200b", inline=False)
    return embed


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

    def __init__(
        self, title: str, page_texts: Sequence[str], owner_id: int, url: str | None = None
    ) -> None:
        super().__init__(timeout=self.PAGE_TIMEOUT_SECONDS)
        self.title = title[:256]
        self.url = url  # the title links here (the web arena's page), when set
        self.page_texts = list(page_texts) or [""]
        self.owner_id = owner_id
        self.page = 0
        self._sync_buttons()

    def embed(self) -> discord.Embed:
        embed = discord.Embed(
            title=self.title,
            description=self.page_texts[self.page][:4096],
            colour=TITLE_COLOUR,
            url=self.url,
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


def settings_embed(
    rules: ServerRules,
    changed: Sequence[str] = (),
    here: Sequence[tuple[str, str]] = (),
) -> discord.Embed:
    """The server's battle settings, marking the ones just changed; ``here``: fields about the
    channel the command was used in (see :func:`channel_fields`)."""
    embed = discord.Embed(title="⚙️ Battle settings", colour=VOTE_COLOUR)
    for setting in SETTINGS:
        mark = " ✏️" if setting.name in changed else ""
        embed.add_field(name=f"{setting.label}{mark}", value=setting.show(rules[setting]))
    for name, value in here:
        embed.add_field(name=name, value=value, inline=False)
    if changed:
        embed.set_footer(text="Changes apply from the next battle.")
    return embed


def channel_fields(
    permissions: discord.Permissions, rules: ServerRules
) -> tuple[tuple[str, str], ...]:
    """What /battle-settings says about the channel it is used in, from the bot's permissions
    there: whether the MCs' verses go through a webhook, and whether threads can be opened."""
    if permissions.manage_webhooks:
        verses = "Through a webhook: each MC posts under its own name and face."
    else:
        verses = (
            "As the bot's own messages. Give me **Manage Webhooks** in this channel "
            "for each MC to post under its own name and face."
        )
    fields = [("Verses in this channel", verses)]
    if rules[THREADS]:
        missing = [
            label for attribute, label in THREAD_PERMISSIONS if not getattr(permissions, attribute)
        ]
        fields.append(
            (
                "Threads in this channel",
                f"I need {' and '.join(f'**{name}**' for name in missing)} here."
                if missing
                else "Each battle opens a public thread from its title card.",
            )
        )
    return tuple(fields)
