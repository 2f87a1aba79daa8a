"""The Discord stage: a battle posted to a channel as ordinary messages."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence

import discord

from bot.engine.battle import Battle, Side, Turn
from bot.engine.discord_limits import THREAD_NAME_CHARS
from bot.engine.leaderboard import RatingChange
from bot.engine.server_settings import THREADS, ServerRules
from bot.engine.spend import CostEstimate
from bot.engine.splitting import verse_messages
from bot.engine.verdicts import Verdict
from bot.engine.votes import LiveTally, Tally, Voter, side_for_emoji, tally
from bot.services.battles.referee import cancel_and_wait
from bot.services.stage import Attachment, Card, StageError
from bot.stages.embeds import (
    card_embed,
    notice_embed,
    results_embed,
    title_card_embed,
    verdict_embed,
    vote_embed,
)
from bot.stages.webhooks import AvatarUrls, ChannelWebhooks, WebhookUnavailable, WebhookVerses

log = logging.getLogger(__name__)

THREAD_ARCHIVE_MINUTES = 1440
# Discord's answer to a second thread from one message.
THREAD_ALREADY_OPEN = 160004
# Discord keeps a message nonce at most 25 characters long.
NONCE_CHARS = 25
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


@contextlib.contextmanager
def _as_stage_errors() -> Iterator[None]:
    """Discord's refusals as the stage's own error type, which the arena understands."""
    try:
        yield
    except discord.NotFound as error:  # the channel (or thread) deleted
        raise StageError(f"Discord refused: {error}", gone=True) from error
    except discord.Forbidden as error:  # a permission taken away, perhaps for a while
        raise StageError(f"Discord refused: {error}", lost_access=True) from error
    except discord.HTTPException as error:
        raise StageError(f"Discord failed: {error}") from error


def nonce_of(key: str) -> str:
    """A post's key (``bot.services.stage.post_key``) as a message nonce Discord accepts."""
    return hashlib.sha256(key.encode()).hexdigest()[:NONCE_CHARS]


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
        try:
            return await channel.get_partial_message(message_id).create_thread(
                name=name[:THREAD_NAME_CHARS], auto_archive_duration=THREAD_ARCHIVE_MINUTES
            )
        except discord.HTTPException as error:
            if error.code != THREAD_ALREADY_OPEN:
                raise
            # Opened before a restart that came before its record: it is the same thread, and a
            # thread opened from a message has that message's id.
            thread = await self._client.fetch_channel(message_id)
            assert isinstance(thread, discord.Thread)
            return thread


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

    async def _send(
        self, content: str | None = None, *, key: str | None = None, **options: object
    ) -> discord.Message:
        if key is not None:
            # With a nonce Discord enforces, the same post sent again shows the first one.
            options["nonce"] = nonce_of(key)
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
        message = await self._send(embed=title_card_embed(battle, starter_mention, estimate, label))
        self._title_card_at = time.monotonic()
        if self._battle_in_thread:
            assert self._open_thread is not None
            with _as_stage_errors():
                name = f"🎤 {battle.stage_name(Side.A)} v {battle.stage_name(Side.B)}"
                thread = await self._open_thread(message.channel.id, message.id, name)
            self.channel, self._thread_id = thread, thread.id

    async def post_vote(
        self,
        battle: Battle,
        emoji: Mapping[Side, str],
        closes_at: float,
        *,
        key: str | None = None,
    ) -> int:
        message = await self._send(embed=vote_embed(battle, emoji, closes_at), key=key)
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
                    # The vote message is the bot's own: its author is the bot reacting.
                    is_self = user.id == message.author.id
                    reactions[side].append(Voter(user.id, user.bot or is_self, is_self))
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
        attachment: Attachment | None = None,
        key: str | None = None,
    ) -> int:
        embed = results_embed(battle, emoji, tally, changes, notes, link)
        if attachment is None:
            return (await self._send(embed=embed, key=key)).id
        track = discord.File(io.BytesIO(attachment.data), filename=attachment.filename)
        return (await self._send(embed=embed, file=track, key=key)).id

    async def post_notice(self, text: str, *, key: str | None = None) -> None:
        await self._send(embed=notice_embed(text), key=key)

    async def post_verdict(
        self, battle: Battle, verdict: Verdict, crowd: Tally | None, *, key: str | None = None
    ) -> int:
        return (await self._send(embed=verdict_embed(battle, verdict, crowd), key=key)).id

    # Tournaments: cards edited as they go, and a thread of their own.

    async def post_card(self, card: Card, *, key: str | None = None) -> int:
        return (await self._send(embed=card_embed(card), key=key)).id

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
