"""The Discord side of a load run: the double's world (servers, channels, members), acting as
members (/battle, reactions, /battle-stop, /leaderboard), and reading back what the bot posted,
with when each post reached the double."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.engine.battle import Side
from bot.engine.votes import DEFAULT_EMOJI
from tests.fakes.discord_double import Channel, DiscordDouble, Guild, Interaction, Member, User
from tests.fakes.model_server import DEFAULT_MODELS

MESSAGES_ROUTE = "/channels/{channel_id}/messages"
NONCE = re.compile(r"\n#(v\d+)\s*$")
VOTE_COUNT = re.compile(r"(\d+) votes?")


@dataclass(frozen=True)
class Layout:
    servers: int
    channels_per_server: int
    battles: int  # at most servers * channels_per_server
    voters: int  # per battle
    recount_voters: int
    messages_per_channel: tuple[int, float] | None  # Discord: 5 per 5 s


@dataclass
class Slot:
    """One battle's channel, who starts it and between which models."""

    guild: Guild
    channel: Channel
    starter: Member
    model_a: str
    model_b: str
    started: Interaction | None = None
    stopped: Interaction | None = None


@dataclass
class World:
    double: DiscordDouble
    slots: list[Slot]
    voters: list[User]
    recount_guild: Guild
    warmup_channel: Channel
    recount_channel: Channel
    host: Member
    recount_members: list[Member]
    # The big close's second battle, with reactions the bot never heard of.
    missed_recount_channel: Channel


def build_world(double: DiscordDouble, layout: Layout) -> World:
    """Builds the servers before the bot connects, so it learns them all at IDENTIFY.

    The recount server comes first and holds every voter: the double finds reaction users by
    scanning servers in order, so this keeps its lookups short.
    """
    recount = double.add_guild("recount")
    host = recount.add_member("host")
    members = [recount.add_member(f"r{i:05d}") for i in range(layout.recount_voters)]
    voter_users = [m.user for m in members[: layout.voters]]
    voter_users += [
        recount.add_member(f"v{i:03d}").user for i in range(len(voter_users), layout.voters)
    ]
    world = World(
        double,
        [],
        voter_users,
        recount,
        recount.add_channel("warmup"),
        recount.add_channel("recount"),
        host,
        members,
        recount.add_channel("recount-missed"),
    )
    for server in range(layout.servers):
        guild = double.add_guild(f"server-{server:04d}")
        starter = guild.add_member(f"mc-{server:04d}")
        for user in voter_users:
            guild.add_member(user)
        for index in range(layout.channels_per_server):
            if len(world.slots) == layout.battles:
                break
            channel = guild.add_channel(f"battle-{index}")
            if layout.messages_per_channel:
                double.rate_limit_channel(channel.id, *layout.messages_per_channel)
            model_a, model_b = model_pair(len(world.slots))
            world.slots.append(Slot(guild, channel, starter, model_a, model_b))
    return world


def model_pair(index: int) -> tuple[str, str]:
    models = DEFAULT_MODELS
    first = index % len(models)
    second = (first + 1 + (index // len(models)) % (len(models) - 1)) % len(models)
    return models[first], models[second]


# -- waiting, bounded --------------------------------------------------------------------------


async def wait_until(
    check: Callable[[], bool], limit: float, what: str, poll: float = 0.25
) -> float:
    """Polls ``check`` until it holds; returns when it did (monotonic). TimeoutError names
    ``what`` after ``limit`` seconds."""
    deadline = time.monotonic() + limit
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {limit:g}s waiting for {what}")
        await asyncio.sleep(poll)
    return time.monotonic()


async def at_rate(items: Sequence[Any], rate: float, act: Callable[[Any], Awaitable[None]]) -> None:
    """Runs ``act`` on each item in order, item i no earlier than i/rate seconds in."""
    started = time.monotonic()
    for index, item in enumerate(items):
        delay = started + index / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        await act(item)


# -- what the bot posted -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Post:
    kind: str  # title, verse, announce, vote, results, notice, other
    arrived_at: float  # when the double served the request (time.monotonic())
    message_id: int
    nonce: str | None = None
    text: str = ""


def kind_of(content: str, embeds: list[dict[str, Any]]) -> str:
    if content.startswith("🎤 **"):
        return "verse"
    if content.startswith("📣 **"):
        return "announce"
    title = (embeds[0].get("title") or "") if embeds else ""
    if title.startswith("🎤"):
        return "title"
    if title.startswith("🗳️"):
        return "vote"
    if "wins" in title or "draw" in title or "No votes" in title:
        return "results"
    return "notice" if embeds else "other"


def embed_text(embeds: list[dict[str, Any]]) -> str:
    parts = []
    for embed in embeds:
        parts += [embed.get("title") or "", embed.get("description") or ""]
        parts += [f"{f['name']} {f['value']}" for f in embed.get("fields", [])]
    return "\n".join(parts)


def bot_posts(double: DiscordDouble, channel_ids: Iterable[int]) -> dict[int, list[Post]]:
    """Each channel's bot messages in order, with when their request reached the double."""
    wanted = set(channel_ids)
    arrivals: dict[int, list[float]] = {cid: [] for cid in wanted}
    for request in double.requests:
        if request.method == "POST" and request.route == MESSAGES_ROUTE and request.status == 200:
            channel_id = int(request.path.split("/")[2])
            if channel_id in wanted:
                arrivals[channel_id].append(request.at)
    bot_id = double.bot_user.id
    posts: dict[int, list[Post]] = {}
    for channel_id in wanted:
        messages = [
            m
            for m in sorted(double.channel(channel_id).messages.values(), key=lambda m: m.id)
            if m.author.id == bot_id and not m.ephemeral and m.interaction is None
        ]
        times = arrivals[channel_id]
        if len(times) != len(messages):  # never expected; keeps the mapping honest
            raise RuntimeError(
                f"channel {channel_id}: {len(messages)} messages but {len(times)} requests"
            )
        posts[channel_id] = [
            Post(
                kind_of(m.content, m.embeds),
                at,
                m.id,
                _nonce(m.content),
                m.content or embed_text(m.embeds),
            )
            for m, at in zip(messages, times, strict=True)
        ]
    return posts


def _nonce(content: str) -> str | None:
    match = NONCE.search(content)
    return match.group(1) if match else None


def count_kind(double: DiscordDouble, channel: Channel, kind: str) -> int:
    """How many bot messages of ``kind`` the channel holds now (cheap enough to poll)."""
    bot_id = double.bot_user.id
    return sum(
        1
        for m in list(channel.messages.values())
        if m.author.id == bot_id and m.interaction is None and kind_of(m.content, m.embeds) == kind
    )


def vote_message(double: DiscordDouble, channel: Channel) -> int | None:
    """The id of the channel's vote message once the bot has added both its reactions."""
    bot_id = double.bot_user.id
    for message in list(channel.messages.values()):
        if message.author.id == bot_id and kind_of(message.content, message.embeds) == "vote":
            reacted = [message.reactions.get(e) for e in DEFAULT_EMOJI.values()]
            if all(entry is not None and bot_id in entry.users for entry in reacted):
                return message.id
    return None


def result_votes(post: Post) -> tuple[int, ...]:
    """The vote counts a results message shows, side A first."""
    return tuple(int(n) for n in VOTE_COUNT.findall(post.text))


# -- model server records ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Generation:
    nonce: str
    model: str
    received_at: float
    finished_at: float


def generations(record: Path) -> dict[str, Generation]:
    """Every verse the model server finished sending, by nonce."""
    found = {}
    if record.exists():
        for line in record.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            found[row["nonce"]] = Generation(**row)
    return found


# -- acting as members ---------------------------------------------------------------------------


async def start_battle(double: DiscordDouble, slot: Slot, rounds: int | None = None) -> None:
    options: dict[str, Any] = {"model_a": slot.model_a, "model_b": slot.model_b}
    if rounds is not None:
        options["rounds"] = rounds
    slot.started = await double.invoke_command(slot.starter, slot.channel, "battle", options)


async def stop_battle(double: DiscordDouble, slot: Slot) -> None:
    slot.stopped = await double.invoke_command(slot.starter, slot.channel, "battle-stop")


def ballots(voters: Sequence[User], share_a: float) -> list[tuple[User, str]]:
    """Who votes what on one battle: the first ``share_a`` of the voters for A, the rest B."""
    split = round(len(voters) * share_a)
    return [
        (v, DEFAULT_EMOJI[Side.A] if i < split else DEFAULT_EMOJI[Side.B])
        for i, v in enumerate(voters)
    ]


@dataclass
class VoteBlast:
    events: int = 0
    first_at: float = 0.0
    sent_at: float = 0.0  # when the double had sent the last event
    errors: list[str] = field(default_factory=list)


async def react_everywhere(
    double: DiscordDouble,
    targets: Sequence[tuple[int, User, str]],
    concurrency: int,
) -> VoteBlast:
    """``double.react`` for each (message, user, emoji), ``concurrency`` at a time: each call
    stores the reaction and sends MESSAGE_REACTION_ADD over the gateway."""
    blast = VoteBlast(first_at=time.monotonic())
    queue = iter(targets)

    async def worker() -> None:
        for message_id, user, emoji in queue:
            try:
                await double.react(user.id, message_id, emoji)
                blast.events += 1
            except Exception as error:
                blast.errors.append(repr(error))

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    blast.sent_at = time.monotonic()
    return blast


async def round_trip(double: DiscordDouble, member: Member, channel: Channel) -> float:
    """An autocomplete through the gateway, answered once the bot has read every event sent
    before it; returns when the answer arrived."""
    await double.autocomplete(
        member, channel, "battle", {"model_a": "qwen"}, focused="model_a", timeout=300
    )
    return time.monotonic()
