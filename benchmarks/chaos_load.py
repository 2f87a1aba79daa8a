"""The chaos soak's load: servers and channels on the Discord double, battles started at a steady
rate by slash commands, fans voting with reactions, and one tournament.

Users act only through the double, as people do through Discord: a command sent while the bot is
down is lost, a reaction added while it is down waits on the message.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from benchmarks.chaos_messages import Kind, bot_posts, places
from bot.engine.battle import Side
from bot.engine.discord_limits import snowflake_time
from bot.engine.votes import DEFAULT_EMOJI
from tests.fakes.discord_double import Channel, DiscordDouble, Guild, Member, Permission

MODELS = (
    "qwen/qwen-max",
    "x-ai/grok-2",
    "openai/gpt-4o",
    "mistralai/mistral-large",
    "meta-llama/llama-3-70b-instruct",
)
TOURNAMENT_MODELS = ("qwen/qwen-max", "x-ai/grok-2", "openai/gpt-4o", "mistralai/mistral-large")
JUDGE_MODELS = ("anthropic/claude-3.5-sonnet", "deepseek/deepseek-r1")
THREAD_PERMISSIONS = Permission.CREATE_PUBLIC_THREADS | Permission.SEND_MESSAGES_IN_THREADS
FANS_PER_SERVER = 8
# A channel whose battle shows no title card this long after /battle never got it.
NEVER_STARTED_SECONDS = 20.0
# After its results, a judged battle's verdict is waited for this long before the next battle.
VERDICT_WAIT_SECONDS = 30.0
# A channel is given up on (and the checks will say why) after this long.
LANE_TIMEOUT_SECONDS = 180.0
# Fans vote no later than this before the vote closes, so every vote is in time.
VOTE_MARGIN_SECONDS = 4.0
ENDINGS = (Kind.RESULTS, Kind.END_NOTICE, Kind.CRASH_NOTICE)
BATTLE_NUMBER = re.compile(r"[Bb]attle #(\d+)")


@dataclass
class Server:
    guild: Guild
    channels: list[Channel]
    fans: list[Member]
    admin: Member
    threads: bool = False
    judges: bool = False
    tournament: bool = False


@dataclass
class Lane:
    """One channel's battles, one after another (a channel holds one battle at a time)."""

    server: Server
    channel: Channel
    starter: Member
    invoked_after: int | None = None  # a snowflake just before the last /battle
    invoked_at: float = 0.0  # time.monotonic()
    refused: bool = False
    results_at: float | None = None
    battle_id: int | None = None  # the last battle's number, once the bot said it
    earlier_ids: set[int] = field(default_factory=set)


@dataclass(frozen=True)
class Vote:
    message_id: int
    place_id: int
    user_id: int
    emoji: str
    at: float  # wall time
    bot_up: bool


@dataclass
class LoadRecord:
    commands: int = 0
    commands_lost: int = 0  # sent while no gateway session covered the server
    refusals: list[str] = field(default_factory=list)
    votes: list[Vote] = field(default_factory=list)
    lanes_given_up: list[int] = field(default_factory=list)
    tournament_reply: str | None = None


def build_world(double: DiscordDouble, shard_count: int) -> tuple[list[Server], Server]:
    """Three servers of battles (plain with a webhook channel, threads, judges) and one for the
    tournament; with shards, the servers alternate between them."""
    shards = iter(range(100))

    def guild(name: str) -> Guild:
        shard = next(shards) % shard_count if shard_count > 1 else None
        return double.add_guild(name, shard=shard)

    servers = []
    for name, count, options in (
        ("Plain Club", 3, {}),
        ("Thread Club", 2, {"threads": True}),
        ("Judged Club", 2, {"judges": True}),
    ):
        made = guild(name)
        channels = [made.add_channel(f"battles-{i}") for i in range(count)]
        fans = [made.add_member(f"fan{i}") for i in range(FANS_PER_SERVER)]
        admin = made.add_member("admin", permissions=Permission.MANAGE_GUILD)
        servers.append(Server(made, channels, fans, admin, **options))
    # Verses through a webhook in one channel of the plain and of the threaded server.
    double.grant(servers[0].channels[0], Permission.MANAGE_WEBHOOKS)
    double.grant(servers[1].channels[1], Permission.MANAGE_WEBHOOKS)
    for channel in servers[1].channels:
        double.grant(channel, THREAD_PERMISSIONS)
    made = guild("Tournament Club")
    channel = made.add_channel("tournament")
    double.grant(channel, THREAD_PERMISSIONS)
    fans = [made.add_member(f"fan{i}") for i in range(FANS_PER_SERVER)]
    admin = made.add_member("admin", permissions=Permission.MANAGE_GUILD)
    return servers, Server(made, [channel], fans, admin, tournament=True)


async def configure(double: DiscordDouble, servers: list[Server]) -> None:
    """The servers' settings, set with /battle-settings as an admin would."""
    for server in servers:
        options = {"threads": True} if server.threads else {"judges": True} if server.judges else {}
        if options:
            interaction = await double.invoke_command(
                server.admin, server.channels[0], "battle-settings", options
            )
            await interaction.response(timeout=20)


async def start_tournament(double: DiscordDouble, server: Server, record: LoadRecord) -> None:
    interaction = await double.invoke_command(
        server.admin, server.channels[0], "tournament", {"models": ", ".join(TOURNAMENT_MODELS)}
    )
    record.tournament_reply = (await interaction.wait_followup(timeout=30))["content"]


class Load:
    """Battles at a steady rate in free channels, and fans voting on every vote posted."""

    def __init__(
        self,
        double: DiscordDouble,
        servers: list[Server],
        tournament: Server,
        rng: random.Random,
        bot_up: Callable[[], bool],
        interval: float,
    ) -> None:
        self.double = double
        self.servers = servers
        self.tournament = tournament
        self.rng = rng
        self.bot_up = bot_up
        self.interval = interval
        self.record = LoadRecord()
        self.lanes = [
            Lane(server, channel, server.guild.add_member(f"starter-{channel.name}"))
            for server in servers
            for channel in server.channels
        ]
        self.stopped = False  # set once the run has settled: no more votes
        self._seen_votes: set[int] = set()
        self._read_upto: dict[int, int] = {}  # by place: the last post read there
        self._voting: set[asyncio.Task[None]] = set()
        self._fans = {s.guild.id: s.fans for s in [*servers, tournament]}

    # -- battles ----------------------------------------------------------------------------

    async def start_battles(self, until: float) -> None:
        """Until ``until`` (monotonic): every ``interval`` s, a battle in a free channel."""
        while time.monotonic() < until:
            free = [lane for lane in self.lanes if self._free(lane)]
            if free:
                await self._battle(self.rng.choice(free))
            await asyncio.sleep(self.interval * self.rng.uniform(0.7, 1.3))

    async def _battle(self, lane: Lane) -> None:
        first, second = self.rng.sample(MODELS, 2)
        options = {"model_a": first, "model_b": second, "rounds": self.rng.choice((1, 1, 2))}
        lane.invoked_after = self.double._state.snowflakes.next()
        lane.invoked_at = time.monotonic()
        lane.refused, lane.results_at = False, None
        if lane.battle_id is not None:
            lane.earlier_ids.add(lane.battle_id)
            lane.battle_id = None
        self.record.commands += 1
        try:
            interaction = await self.double.invoke_command(
                lane.starter, lane.channel, "battle", options
            )
        except RuntimeError:  # no gateway session covers the server: the bot is down
            self.record.commands_lost += 1
            lane.invoked_after = None
            return
        except TimeoutError:  # sent, but the gateway is held: the channel will tell
            return
        asyncio.get_running_loop().create_task(self._answer(lane, interaction))

    async def _answer(self, lane: Lane, interaction: object) -> None:
        with contextlib.suppress(Exception):
            reply = await interaction.wait_followup(timeout=20)  # type: ignore[attr-defined]
            if reply["content"].startswith("Battle #"):
                lane.battle_id = int(BATTLE_NUMBER.search(reply["content"])[1])
            else:
                lane.refused = True
                self.record.refusals.append(reply["content"])

    def _free(self, lane: Lane) -> bool:
        """Whether the channel's last battle is over, as its channel shows it."""
        if lane.invoked_after is None or lane.refused:
            return True
        waited = time.monotonic() - lane.invoked_at
        if waited > LANE_TIMEOUT_SECONDS:
            self.record.lanes_given_up.append(lane.channel.id)
            return True
        # A notice about an earlier battle here (posted late, after a restart) is not this one's.
        posts = [
            p
            for p in self._posts_since(lane)
            if not ((m := BATTLE_NUMBER.search(p.text)) and int(m[1]) in lane.earlier_ids)
        ]
        kinds = [p.kind for p in posts]
        if Kind.TITLE_CARD not in kinds:
            return waited > NEVER_STARTED_SECONDS
        if not any(kind in ENDINGS for kind in kinds):
            return False
        if lane.server.judges and Kind.RESULTS in kinds and Kind.VERDICT not in kinds:
            if lane.results_at is None:
                lane.results_at = time.monotonic()
            return time.monotonic() - lane.results_at > VERDICT_WAIT_SECONDS
        return True

    def _posts_since(self, lane: Lane) -> list:
        assert lane.invoked_after is not None
        found = bot_posts(self.double, lane.channel, lane.invoked_after)
        for thread in lane.channel.guild.threads.values():
            if thread.parent is lane.channel and thread.id > lane.invoked_after:
                found += bot_posts(self.double, thread, lane.invoked_after)
        return found

    def busy(self) -> int:
        return sum(not self._free(lane) for lane in self.lanes)

    # -- votes ------------------------------------------------------------------------------

    async def watch_votes(self, until: Callable[[], bool]) -> None:
        """Every vote message posted gets 0 to 5 fans' votes, each in good time."""
        while not until():
            for place in list(places(self.double)):
                for posted in bot_posts(self.double, place, self._read_upto.get(place.id, 0)):
                    self._read_upto[place.id] = posted.id
                    if posted.kind is Kind.VOTE and posted.id not in self._seen_votes:
                        self._seen_votes.add(posted.id)
                        self._plan_votes(place, posted.id, posted.closes_at)
            await asyncio.sleep(0.4)
        if self._voting:
            await asyncio.gather(*self._voting, return_exceptions=True)

    def _plan_votes(self, place: Channel, message_id: int, closes_at: float | None) -> None:
        fans = self._fans.get(place.guild.id, [])
        latest = (closes_at or snowflake_time(message_id) + 10) - VOTE_MARGIN_SECONDS
        for fan in self.rng.sample(fans, self.rng.choice((0, 1, 2, 3, 3, 4, 5))):
            side = self.rng.choice((Side.A, Side.B))
            delay = self.rng.uniform(0.3, max(latest - time.time(), 0.4))
            task = asyncio.get_running_loop().create_task(
                self._vote(place, message_id, fan, DEFAULT_EMOJI[side], delay, latest)
            )
            self._voting.add(task)
            task.add_done_callback(self._voting.discard)

    async def _vote(
        self, place: Channel, message_id: int, fan: Member, emoji: str, delay: float, latest: float
    ) -> None:
        await asyncio.sleep(delay)
        if time.time() > latest:
            return  # too late to be sure it counts (the driver itself was slow)
        try:
            await self.double.react(fan, message_id, emoji)
        except (PermissionError, KeyError):
            return
        except TimeoutError:
            pass  # stored on the message; the gateway is held, so the bot gets it later
        self.record.votes.append(
            Vote(message_id, place.id, fan.id, emoji, time.time(), self.bot_up())
        )
