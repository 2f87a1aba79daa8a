"""What the bot posted, as the chaos soak reads it from the Discord double: each message's kind
and time, and which battle it belongs to."""

from __future__ import annotations

import enum
import re
from collections.abc import Iterator
from dataclasses import dataclass

from bot.engine.discord_limits import snowflake_time
from tests.fakes.discord_double import DiscordDouble, MessageFlag, Thread
from tests.fakes.discord_double.model import Channel, StoredMessage

VERSE = re.compile(r"I'm (?P<model>\S+), verse (?P<turn>\d+), hear me spit")
NONCE = re.compile(r"#(v\d{7})")
CLOSES = re.compile(r"<t:(\d+):R>")


class Kind(enum.Enum):
    TITLE_CARD = "title card"
    VERSE = "verse"
    ANNOUNCEMENT = "announcement"  # the final round's call
    VOTE = "vote"
    RESULTS = "results"
    VERDICT = "verdict"
    END_NOTICE = "end notice"  # a battle ended without a vote: interrupted, no contest, stopped
    CRASH_NOTICE = "crash notice"  # "something went wrong on our side"
    TOURNAMENT = "tournament card"
    TOURNAMENT_NOTICE = "tournament notice"
    OTHER = "other"


@dataclass(frozen=True)
class Posted:
    id: int
    place_id: int  # the channel or thread it is in
    kind: Kind
    text: str  # content and embed text together
    at: float  # wall time
    by_webhook: bool

    @property
    def verse(self) -> tuple[str, int] | None:
        found = VERSE.search(self.text)
        return (found["model"], int(found["turn"])) if found else None

    @property
    def nonce(self) -> str | None:
        found = NONCE.search(self.text)
        return found[1] if found else None

    @property
    def closes_at(self) -> float | None:
        found = CLOSES.search(self.text)
        return float(found[1]) if found else None


def embed_text(embeds: list[dict]) -> str:
    parts = []
    for embed in embeds:
        parts += [embed.get("title", ""), embed.get("description", "") or ""]
        parts += [f"{f['name']} {f['value']}" for f in embed.get("fields", [])]
    return "\n".join(parts)


def classify(content: str, embeds: list[dict]) -> Kind:
    title = embeds[0].get("title", "") if embeds else ""
    description = (embeds[0].get("description") or "") if embeds else ""
    fields = [f["name"] for f in embeds[0].get("fields", [])] if embeds else []
    if embeds and title.startswith("🎤 ") and "Rounds" in fields:
        return Kind.TITLE_CARD
    if title.startswith("🗳️ Who won?"):
        return Kind.VOTE
    if title.startswith("No votes:") or title.startswith("🤝 A draw") or " wins, " in title:
        return Kind.RESULTS if not title.startswith("👑") else Kind.TOURNAMENT
    if title.startswith("⚖️ Judges' verdict"):
        return Kind.VERDICT
    if title.startswith(("🏆 Tournament", "👑 ")) or (embeds and "Tournament #" in title):
        return Kind.TOURNAMENT
    if embeds and not title:
        if "Tournament #" in description:
            return Kind.TOURNAMENT_NOTICE
        if "Something went wrong on our side" in description:
            return Kind.CRASH_NOTICE
        if "No contest" in description or "failed on our side" in description:
            return Kind.END_NOTICE
        return Kind.OTHER
    if content.startswith("📣 "):
        return Kind.ANNOUNCEMENT
    if VERSE.search(content):
        return Kind.VERSE
    return Kind.OTHER


def places(double: DiscordDouble) -> Iterator[Channel]:
    """Every channel and thread of every guild."""
    for guild in double.guilds.values():
        yield from guild.channels.values()
        yield from guild.threads.values()


def bot_posts(double: DiscordDouble, place: Channel, after: int = 0) -> list[Posted]:
    """What the bot (and its webhooks) posted in one channel or thread, oldest first."""
    bot_id = double.bot_user.id
    found = []
    for message in list(place.messages.values()):
        if message.id <= after or message.interaction is not None or not _by_bot(message, bot_id):
            continue
        if message.flags & (MessageFlag.EPHEMERAL | MessageFlag.LOADING) or message.type != 0:
            continue
        text = "\n".join([message.content, embed_text(message.embeds)])
        found.append(
            Posted(
                message.id,
                place.id,
                classify(message.content, message.embeds),
                text,
                snowflake_time(message.id),
                message.webhook is not None,
            )
        )
    return found


def _by_bot(message: StoredMessage, bot_id: int) -> bool:
    return message.webhook is not None or message.author.id == bot_id


def parent_of(place: Channel) -> int | None:
    return place.parent.id if isinstance(place, Thread) else None
