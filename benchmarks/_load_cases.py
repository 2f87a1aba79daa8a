"""The cases of benchmarks/load.py: each runs against one backend and returns a Report."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks._load_db import Database, History, closed_battles, fresh_database
from benchmarks._load_procs import (
    BotHandle,
    LoopLag,
    ProcReading,
    Sampler,
    bot_process,
    cpu_share,
    machine_cpu,
    model_server,
    py_spy,
    read_proc,
    settle,
    thread_cpu,
)
from benchmarks._load_report import Report, at_least, at_most, ms, percentile
from benchmarks._load_world import (
    Layout,
    Post,
    Slot,
    World,
    at_rate,
    ballots,
    bot_posts,
    build_world,
    count_kind,
    generations,
    model_pair,
    react_everywhere,
    result_votes,
    round_trip,
    start_battle,
    stop_battle,
    vote_message,
    wait_until,
)
from bot.engine.votes import DEFAULT_EMOJI
from tests.fakes.discord_double import DiscordDouble

BATTLES = "1 concurrent battles"
VOTES = "2 votes"
LEADERBOARD = "3 leaderboard"
# A battle of 3 rounds, as its channel shows it once voting has closed.
EXPECTED_KINDS = ["title", *["verse"] * 4, "announce", "verse", "verse", "vote", "results"]
VOTING_KINDS = EXPECTED_KINDS[:-1]
VERSES_PER_BATTLE = 6
WARM_UP_VERSES = 2  # the warm-up battle has one round
VOTE_SECONDS = 3600  # votes are closed with /battle-stop, not by the clock
API_KEY = "test-key"
SHARE_A = 0.6  # of each battle's voters vote A
REACTION_PAGES_PER_SECOND = 50  # the double's default bucket: 50 requests/s per route+channel
SATURATED_LAG = 0.005  # driver loop lag (p99) above which the double's timestamps run late
SATURATED_SHARE = 0.9  # of a core
DISCORD_GLOBAL_LIMIT = 50  # requests a second per bot, Discord's default global rate limit


@dataclass(frozen=True)
class Sizes:
    servers: int
    channels: int
    battles: int
    voters: int
    recount_voters: int
    latency: float
    pace: float
    start_rate: float  # /battle per second
    close_rate: float  # /battle-stop per second
    react_concurrency: int
    history_battles: int
    history_models: int
    leaderboard_requests: int
    channel_limit: tuple[int, float] | None
    chunk_size: int  # characters per streamed chunk of a verse

    def layout(self, battles: int | None = None) -> Layout:
        return Layout(
            self.servers,
            self.channels,
            self.battles if battles is None else battles,
            self.voters,
            self.recount_voters,
            self.channel_limit,
        )


# -- one bot with its double, model server and database -------------------------------------


@dataclass
class Session:
    double: DiscordDouble
    world: World
    database: Database
    bot: BotHandle
    record: Path  # the model server's JSON lines, one per verse sent
    model_pid: int
    bot_sampler: Sampler
    lag: LoopLag
    workdir: Path


@contextlib.asynccontextmanager
async def session(
    backend: str,
    layout: Layout,
    sizes: Sizes,
    workdir: Path,
    *,
    prepare: Callable[[Database, World], Awaitable[None]] | None = None,
    after: Callable[[Database], Awaitable[None]] | None = None,
) -> AsyncIterator[Session]:
    """The double (in this process), the model server and the bot (each in its own), and a
    fresh database: ``prepare`` runs before the bot starts, ``after`` once it has stopped."""
    record = workdir / f"generations-{time.monotonic_ns()}.jsonl"
    async with (
        DiscordDouble(openapi_spec="", default_rate_limit=(50, 1.0)) as double,
        model_server(sizes.latency, record, sizes.chunk_size) as models,
        fresh_database(backend, workdir) as database,
    ):
        world = build_world(double, layout)
        if prepare is not None:
            await prepare(database, world)
        settings = {
            "DISCORD_TOKEN": double.token,
            "DISCORD_API_BASE": double.api_base,
            "DISCORD_GATEWAY_URL": double.gateway_url,
            "LLM_BASE_URL": models.base_url,
            "LLM_API_KEY": API_KEY,
            "DATABASE_URL": database.url,
            "BATTLE_PACE": f"{sizes.pace:g}",
            "VOTE_SECONDS": str(VOTE_SECONDS),
            "BATTLE_COOLDOWN_SECONDS": "0",
            "MAX_BATTLES_PER_SERVER": str(sizes.channels),
            "LOG_LEVEL": "INFO",
        }
        lag = LoopLag()
        lag.start()
        try:
            async with bot_process(settings, workdir) as bot:
                sampler = Sampler(bot.pid)
                sampler.start()
                try:
                    yield Session(
                        double, world, database, bot, record, models.pid, sampler, lag, workdir
                    )
                finally:
                    await sampler.stop()
            if after is not None:
                await after(database)
        finally:
            await lag.stop()


def read_proc_self() -> ProcReading:
    return read_proc(os.getpid())


# -- case 1: concurrent battles --------------------------------------------------------------


@dataclass
class Readings:
    """/proc readings of the three processes and the bot's threads at one moment."""

    bot: ProcReading
    driver: ProcReading
    models: ProcReading
    threads: dict[int, float]
    machine: tuple[int, int]  # (busy, total) ticks of all cores

    @classmethod
    def take(cls, s: Session) -> Readings:
        return cls(
            s.bot_sampler.now(),
            read_proc_self(),
            read_proc(s.model_pid),
            thread_cpu(s.bot.pid),
            machine_cpu(),
        )


@dataclass
class Phase:
    """A stretch of a run between two sets of readings."""

    idle: ProcReading  # the bot, settled after its warm-up battle
    before: Readings
    after: Readings

    @property
    def started_at(self) -> float:
        return self.before.bot.at

    @property
    def ended_at(self) -> float:
        return self.after.bot.at

    def share(self, who: str) -> float:
        """Share of a core that ``who`` (bot, driver, models) used in the phase."""
        return cpu_share(getattr(self.before, who), getattr(self.after, who))

    def machine_busy(self) -> float:
        """Share of the machine's cores busy in the phase (anyone's work: PostgreSQL too)."""
        busy = self.after.machine[0] - self.before.machine[0]
        total = self.after.machine[1] - self.before.machine[1]
        return busy / total if total else 0.0

    def loop_thread_share(self, pid: int) -> float:
        """Share of a core that the bot's main thread, its event loop, used in the phase."""
        used = self.after.threads.get(pid, 0.0) - self.before.threads.get(pid, 0.0)
        return used / (self.ended_at - self.started_at)


async def warm_up(s: Session) -> None:
    """One short battle, so that first-use costs (imports, connections, caches) are paid before
    the idle baseline is read."""
    world = s.world
    slot = Slot(world.recount_guild, world.warmup_channel, world.host, *model_pair(0))
    await start_battle(s.double, slot, rounds=1)
    await wait_until(lambda: vote_message(s.double, slot.channel) is not None, 90, "warm-up vote")
    await stop_battle(s.double, slot)
    await wait_until(
        lambda: count_kind(s.double, slot.channel, "results") == 1, 60, "warm-up results"
    )
    await settle(s.bot.pid, limit=20)


def reached_its_end(s: Session, slot: Slot) -> bool:
    """The battle got as far as it will: voting, a no-contest notice, or a refused start."""
    if vote_message(s.double, slot.channel) is not None:
        return True
    if count_kind(s.double, slot.channel, "notice"):
        return True
    started = slot.started
    refused = started is not None and started.followup_messages and not accepted(slot)
    return bool(refused)


def accepted(slot: Slot) -> bool:
    started = slot.started
    return started is not None and any(
        m.content.startswith("Battle #") for m in started.followup_messages
    )


async def run_battles(s: Session, sizes: Sizes, *, profile: Path | None = None) -> Phase:
    """Starts every slot's battle, ``start_rate`` a second, and waits until each is voting."""
    await warm_up(s)
    idle = s.bot_sampler.now()
    slots = s.world.slots
    timeout = len(slots) / sizes.start_rate + 8 * max(sizes.pace, sizes.latency) + 180
    profiler = py_spy(s.bot.pid, profile) if profile else contextlib.nullcontext()
    async with profiler:
        before = Readings.take(s)
        await at_rate(slots, sizes.start_rate, lambda slot: start_battle(s.double, slot))
        pending = list(slots)

        def all_done() -> bool:
            pending[:] = [slot for slot in pending if not reached_its_end(s, slot)]
            return not pending

        await wait_until(all_done, timeout, "every battle to reach its vote", poll=0.5)
        after = Readings.take(s)
    return Phase(idle, before, after)


def live_battles(posts: dict[int, list[Post]]) -> list[tuple[float, int]]:
    """(time, battles live) at each change: a battle is live from its title card to its vote."""
    changes = []
    for channel in posts.values():
        title = next((p.arrived_at for p in channel if p.kind == "title"), None)
        vote = next((p.arrived_at for p in channel if p.kind == "vote"), None)
        if title is not None:
            changes.append((title, 1))
            if vote is not None:
                changes.append((vote, -1))
    live, timeline = 0, []
    for at, step in sorted(changes):
        live += step
        timeline.append((at, live))
    return timeline


def post_delays(
    channel: Sequence[Post], written: dict[str, float], pace: float
) -> list[tuple[Post, float]]:
    """The bot's own delay on each verse and announcement: from when the post was due to when
    its request reached the double. A post is due once its verse is written, the previous
    verse's pause is over, and the post before it is made."""
    delays = []
    previous_verse: Post | None = None
    previous: Post | None = None
    for post in channel:
        if post.kind in ("verse", "announce"):
            due = previous.arrived_at if previous is not None else post.arrived_at
            if previous_verse is not None:
                due = max(due, previous_verse.arrived_at + pace)
            if post.kind == "verse":
                if post.nonce not in written:
                    continue  # counted as lost
                due = max(due, written[post.nonce])
            delays.append((post, post.arrived_at - due))
        if post.kind == "verse":
            previous_verse = post
        if post.kind in ("title", "verse", "announce"):
            previous = post
    return delays


def battle_figures(s: Session, sizes: Sizes, phase: Phase) -> Report:
    report = Report()
    slots = s.world.slots
    n = len(slots)
    posts = bot_posts(s.double, [slot.channel.id for slot in slots])
    written = {nonce: g.finished_at for nonce, g in generations(s.record).items()}
    complete = sum(1 for slot in slots if kinds(posts[slot.channel.id]) == VOTING_KINDS)
    nonces = [p.nonce for slot in slots for p in posts[slot.channel.id] if p.kind == "verse"]
    posted = {nonce for nonce in nonces if nonce is not None}
    lost = n * VERSES_PER_BATTLE - len(posted)
    doubled = len(nonces) - len(posted)
    unposted = len(set(written) - posted) - WARM_UP_VERSES
    timed = [
        (slot, post, delay)
        for slot in slots
        for post, delay in post_delays(posts[slot.channel.id], written, sizes.pace)
    ]
    delays = [delay for _, _, delay in timed]
    write_delays(s.workdir / f"post-delays-{s.database.backend}.csv", timed, phase.started_at)
    timeline = live_battles(posts)
    peak = max((live for _, live in timeline), default=0)
    rss_at_peak = highest_rss_while(s.bot_sampler, timeline, peak)
    cpu = phase.after.bot.cpu_seconds - phase.before.bot.cpu_seconds
    lags = s.lag.between(phase.started_at, phase.ended_at)

    put = report.put
    put(BATTLES, "battles that reached the vote", complete, f"of {n}", target=at_least(n), digits=0)
    put(BATTLES, "verses lost or doubled", lost + doubled, target=at_most(0), digits=0)
    put(BATTLES, "peak battles live at once", peak, digits=0)
    put(BATTLES, "post delay p50", ms(percentile(delays, 50) or 0), "ms")
    put(BATTLES, "post delay p99", ms(percentile(delays, 99) or 0), "ms", target=at_most(50))
    put(BATTLES, "post delay max", ms(max(delays, default=0)), "ms")
    all_started = max(
        (p.arrived_at for c in posts.values() for p in c if p.kind == "title"), default=0
    )
    steady = [delay for _, post, delay in timed if post.arrived_at > all_started]
    put(BATTLES, "  p99 once every battle had started", ms(percentile(steady, 99) or 0), "ms")
    put(BATTLES, "RSS idle (after a warm-up battle)", phase.idle.rss_kb / 1024, "MB")
    put(BATTLES, "RSS at peak concurrency", rss_at_peak / 1024, "MB")
    put(BATTLES, "peak RSS (VmHWM)", phase.after.bot.hwm_kb / 1024, "MB")
    per_battle = (rss_at_peak - phase.idle.rss_kb) / max(peak, 1)
    put(BATTLES, "memory per live battle", per_battle, "KB", target=at_most(100))
    put(BATTLES, "bot CPU per battle", ms(cpu / n), "ms", target=at_most(40))
    put(BATTLES, "bot CPU load", 100 * phase.share("bot"), "% of a core")
    put(BATTLES, "  its event-loop thread", 100 * phase.loop_thread_share(s.bot.pid), "% of a core")
    put(BATTLES, "driver (double) CPU load", 100 * phase.share("driver"), "% of a core")
    put(BATTLES, "model server CPU load", 100 * phase.share("models"), "% of a core")
    cores = os.cpu_count() or 1
    put(BATTLES, "whole machine busy", 100 * phase.machine_busy(), f"% of {cores} cores")
    put(BATTLES, "double's event-loop lag p99", ms(percentile(lags, 99) or 0), "ms")
    mean_rate, peak_rate = request_rates(s.double, phase.started_at, phase.ended_at)
    put(BATTLES, "bot REST requests/s, mean", mean_rate, digits=0)
    put(BATTLES, "bot REST requests/s, busiest second", peak_rate, digits=0)
    put(BATTLES, "429s served to the bot", s.double.rate_limit_hits, digits=0)
    ideal = sizes.latency + (VERSES_PER_BATTLE - 1) * max(sizes.latency, sizes.pace)
    put(BATTLES, "battles one core sustains (est.)", ideal / (cpu / n), digits=0)

    if unposted > 0:
        report.note(f"{unposted} verses were written but never posted (retried or cancelled)")
    if retries := s.bot.count_in_log("Retrying"):
        report.note(f"the bot retried {retries} verse requests")
    report.notes += saturation(phase, lags, s.bot.pid)
    if peak_rate > DISCORD_GLOBAL_LIMIT:
        report.note(
            f"the bot sent up to {peak_rate:.0f} REST requests in a second; Discord allows a bot "
            f"{DISCORD_GLOBAL_LIMIT}/s in all unless it raises the limit (the double has none)"
        )
    broken = [slot for slot in slots if kinds(posts[slot.channel.id]) != VOTING_KINDS]
    for slot in broken[:3]:
        shown = kinds(posts[slot.channel.id])
        report.note(f"#{slot.channel.name} in {slot.guild.name} showed {shown}")
    return report


def request_rates(double: DiscordDouble, start: float, end: float) -> tuple[float, float]:
    """The bot's REST requests per second (interaction answers left out, as Discord leaves
    them out of its global limit), on average and in the busiest second."""
    times = [
        r.at
        for r in double.requests
        if start <= r.at <= end and not r.route.startswith(("/interactions/", "/webhooks/"))
    ]
    per_second = Counter(int(at - start) for at in times)
    return len(times) / max(end - start, 1e-9), max(per_second.values(), default=0)


def write_delays(path: Path, timed: list[tuple[Slot, Post, float]], start: float) -> None:
    """Every post's delay, for a closer look (arrival in seconds from the first /battle)."""
    with path.open("w", encoding="utf-8") as out:
        out.write("channel,kind,nonce,arrived_s,delay_ms\n")
        for slot, post, delay in sorted(timed, key=lambda row: row[1].arrived_at):
            arrived = post.arrived_at - start
            out.write(f"{slot.channel.id},{post.kind},{post.nonce or ''},{arrived:.4f},")
            out.write(f"{ms(delay):.2f}\n")


def kinds(channel: Sequence[Post]) -> list[str]:
    return [p.kind for p in channel]


def highest_rss_while(sampler: Sampler, timeline: list[tuple[float, int]], live: int) -> int:
    """The highest RSS read while ``live`` battles were live (or the reading nearest to it)."""
    windows = [
        (at, timeline[i + 1][0] if i + 1 < len(timeline) else at)
        for i, (at, count) in enumerate(timeline)
        if count == live
    ]
    readings = [r.rss_kb for start, end in windows for r in sampler.between(start, end)]
    if readings:
        return max(readings)
    at = windows[0][0] if windows else time.monotonic()
    return min(sampler.readings, key=lambda r: abs(r.at - at)).rss_kb


def saturation(phase: Phase, lags: list[float], bot_pid: int) -> list[str]:
    notes = []
    lag_p99 = percentile(lags, 99) or 0
    if lag_p99 > SATURATED_LAG:
        notes.append(
            f"the double's event loop ran up to {ms(lag_p99):.0f} ms late (p99): post delays "
            "include that much of the double's own delay"
        )
    for who, share in (
        ("the bot's event-loop thread", phase.loop_thread_share(bot_pid)),
        ("the driver (double)", phase.share("driver")),
        ("the model server", phase.share("models")),
    ):
        if share > SATURATED_SHARE:
            notes.append(f"{who} used {100 * share:.0f}% of a core: saturated")
    return notes


# -- case 2: votes -----------------------------------------------------------------------------


async def run_votes(s: Session, sizes: Sizes) -> Report:
    """``voters`` reactions on every battle over the gateway, then every vote closed with
    /battle-stop and recounted."""
    report = Report()
    slots = [slot for slot in s.world.slots if vote_message(s.double, slot.channel) is not None]
    votes_of = {slot.channel.id: vote_message(s.double, slot.channel) for slot in slots}
    # Voter by voter across all battles, as a crowd would arrive.
    targets = [
        (votes_of[slot.channel.id], user, emoji)
        for user, emoji in ballots(s.world.voters, SHARE_A)
        for slot in slots
    ]
    await asyncio.sleep(1.0)  # the last votes opened (the bot stores the vote message first)
    before = s.bot_sampler.now()
    blast = await react_everywhere(s.double, targets, sizes.react_concurrency)
    caught_up = await round_trip(s.double, s.world.host, s.world.warmup_channel)
    after = s.bot_sampler.now()
    events = max(blast.events, 1)
    report.put(VOTES, "reaction events sent", blast.events, target=at_least(len(targets)), digits=0)
    report.put(
        VOTES, "ingest throughput", events / (caught_up - blast.first_at), "events/s", digits=0
    )
    sending = blast.sent_at - blast.first_at
    report.put(VOTES, "  the driver's sending rate", events / sending, "events/s", digits=0)
    cpu = after.cpu_seconds - before.cpu_seconds
    report.put(VOTES, "bot CPU per reaction event", 1e6 * cpu / events, "µs", digits=0)
    if caught_up - blast.sent_at < 0.5:
        report.note(
            "the bot kept up with the driver, so the ingest throughput is the driver's sending "
            f"rate, a lower bound; its CPU per event puts its ceiling near {events / cpu:,.0f} "
            "events/s on one core"
        )
    for error in blast.errors[:3]:
        report.note(f"a reaction failed: {error}")
    report.extend(await close_votes(s, sizes, slots))
    return report


async def close_votes(s: Session, sizes: Sizes, slots: list[Slot]) -> Report:
    """/battle-stop in every channel (``close_rate`` a second); each results message must show
    every vote."""
    report = Report()
    before = s.bot_sampler.now()
    await at_rate(slots, sizes.close_rate, lambda slot: stop_battle(s.double, slot))
    pending = list(slots)

    def all_closed() -> bool:
        pending[:] = [x for x in pending if not count_kind(s.double, x.channel, "results")]
        return not pending

    await wait_until(all_closed, 120 + len(slots) / 20, "every vote's results", poll=0.5)
    after = s.bot_sampler.now()
    posts = bot_posts(s.double, [slot.channel.id for slot in slots])
    for_a = round(sizes.voters * SHARE_A)
    expected = (for_a, sizes.voters - for_a)
    counted, delays = 0, []
    for slot in slots:
        channel = posts[slot.channel.id]
        results = next(p for p in channel if p.kind == "results")
        if kinds(channel) == EXPECTED_KINDS and result_votes(results) == expected:
            counted += 1
        assert slot.stopped is not None
        delays.append(results.arrived_at - slot.stopped.created_at)
    n = len(slots)
    report.put(
        VOTES, f"results showing {expected[0]}–{expected[1]}", counted, f"of {n}",
        target=at_least(n), digits=0,
    )  # fmt: skip
    report.put(VOTES, "/battle-stop → results p50", ms(percentile(delays, 50) or 0), "ms", digits=0)
    report.put(VOTES, "/battle-stop → results p99", ms(percentile(delays, 99) or 0), "ms", digits=0)
    cpu = after.cpu_seconds - before.cpu_seconds
    report.put(VOTES, "bot CPU per vote closed", ms(cpu / max(n, 1)), "ms")
    return report


async def run_recounts(s: Session, sizes: Sizes) -> Report:
    """The big close twice: with every reaction seen over an intact gateway session, then with
    reactions the bot never heard of (as after a lost session)."""
    report = await run_recount(s, sizes, by_events=True)
    report.extend(await run_recount(s, sizes, by_events=False))
    return report


async def run_recount(s: Session, sizes: Sizes, *, by_events: bool) -> Report:
    """One battle whose vote holds ``recount_voters`` reactions.

    ``by_events``: each reaction reaches the bot as a gateway event (the session intact), so
    the live count is complete and matches the vote message's counts, and closing trusts it
    (target 0.5 s). Otherwise they are added without events, as votes cast while a session
    was lost: the counts differ, and closing recounts them all from the reaction lists, 100 a
    page (every vote found; about 2 s at 50 pages a second)."""
    report = Report()
    world = s.world
    channel = world.recount_channel if by_events else world.missed_recount_channel
    slot = Slot(world.recount_guild, channel, world.host, *model_pair(0))
    await start_battle(s.double, slot, rounds=1)
    await wait_until(
        lambda: vote_message(s.double, slot.channel) is not None, 120, "the recount battle's vote"
    )
    message_id = vote_message(s.double, slot.channel)
    assert message_id is not None
    by_emoji: dict[str, list] = {}
    for user, emoji in ballots([m.user for m in world.recount_members], SHARE_A):
        by_emoji.setdefault(emoji, []).append(user)
    if by_events:
        targets = [(message_id, user, emoji) for emoji, users in by_emoji.items() for user in users]
        blast = await react_everywhere(s.double, targets, sizes.react_concurrency)
        for error in blast.errors[:3]:
            report.note(f"a reaction failed: {error}")
        await round_trip(s.double, world.host, world.warmup_channel)  # the bot has read them all
    else:
        for emoji, users in by_emoji.items():
            s.double.add_reactions_silently(message_id, emoji, users)
    await settle(s.bot.pid, limit=10)
    first_request = len(s.double.requests)
    await stop_battle(s.double, slot)
    await wait_until(
        lambda: count_kind(s.double, slot.channel, "results") == 1, 120, "the recount's results"
    )
    assert slot.stopped is not None
    stopped_at = slot.stopped.created_at
    posts = bot_posts(s.double, [slot.channel.id])[slot.channel.id]
    results = next(p for p in posts if p.kind == "results")
    pages = [
        r for r in s.double.requests[first_request:] if r.route.endswith("/reactions/{emoji_name}")
    ]
    served = [r for r in pages if r.status == 200]
    voters = len(world.recount_members)
    how = "gateway intact (live count)" if by_events else "events missed (full recount)"
    report.put(
        VOTES, f"close of {voters:,} voters, {how}: /battle-stop → results",
        # Paging 102 lists at Discord's 50 requests/s takes 2 s whatever the bot does: with
        # events missed, what must hold is that every vote is found.
        results.arrived_at - stopped_at, "s", target=at_most(0.5) if by_events else None,
        digits=2,
    )  # fmt: skip
    short = "live count" if by_events else "full recount"
    report.put(VOTES, f"  reaction-list pages fetched ({short})", len(served), digits=0)
    report.put(
        VOTES, f"  votes the results show ({short})", sum(result_votes(results)), f"of {voters}",
        target=at_least(voters), digits=0,
    )  # fmt: skip
    if served:
        floor = (len(served) - 1) // REACTION_PAGES_PER_SECOND
        report.note(
            f"{short}: /battle-stop → first page {ms(pages[0].at - stopped_at):.0f} ms; "
            f"{len(served)} pages in {served[-1].at - pages[0].at:.2f} s "
            f"({len(pages) - len(served)} answered 429; at the double's "
            f"{REACTION_PAGES_PER_SECOND} requests/s per route and channel they take at least "
            f"{floor} s); last page → results {ms(results.arrived_at - served[-1].at):.0f} ms"
        )
    return report


async def verify_store(database: Database, slots: Sequence[Slot], voters: int) -> Report:
    """Once the bot has stopped: every battle is closed in the store with all its ballots."""
    stored = {b.channel_id: b for b in await closed_battles(database.url)}
    full = sum(
        1
        for slot in slots
        if (b := stored.get(slot.channel.id)) is not None
        and b.votes_a + b.votes_b == voters
        and b.ballots == voters
    )
    report = Report()
    n = len(slots)
    report.put(
        VOTES, f"stored closed with {voters} ballots", full, f"of {n}", target=at_least(n), digits=0
    )
    return report


# -- case 3: leaderboard -------------------------------------------------------------------------


async def run_leaderboard(s: Session, sizes: Sizes, history: History, seeded_in: float) -> Report:
    """/leaderboard, one request at a time, for the server holding the history and globally."""
    report = Report()
    startup = s.bot.ready_at - s.bot.started_at
    settled = await settle(s.bot.pid, limit=180)
    put = report.put
    put(LEADERBOARD, f"seeding {history.battles:,} battles (driver)", seeded_in, "s")
    put(LEADERBOARD, "bot start → ready", startup, "s")
    put(LEADERBOARD, "ready → CPU idle (start-up work)", settled, "s")
    idle = read_proc(s.bot.pid)
    put(LEADERBOARD, "RSS once idle", idle.rss_kb / 1024, "MB")
    put(LEADERBOARD, "peak RSS (VmHWM) so far", idle.hwm_kb / 1024, "MB")
    with (s.workdir / f"leaderboard-{s.database.backend}.csv").open("w") as log:
        log.write("scope,request,latency_ms\n")
        for scope in ("server", "global"):
            latencies = await leaderboards(s, scope, sizes.leaderboard_requests, report)
            for index, latency in enumerate(latencies):
                log.write(f"{scope},{index + 1},{ms(latency):.2f}\n")
            put(LEADERBOARD, f"/leaderboard {scope}: first (cold)", ms(latencies[0]), "ms")
            put(LEADERBOARD, f"/leaderboard {scope}: p50", ms(percentile(latencies, 50) or 0), "ms")
            p99 = ms(percentile(latencies, 99) or 0)
            put(LEADERBOARD, f"/leaderboard {scope}: p99", p99, "ms", target=at_most(50))
    closed_in = await close_a_vote(s)
    put(LEADERBOARD, "a vote closing there: /battle-stop → results", ms(closed_in), "ms")
    after_close = await leaderboards(s, "server", 1, report)
    put(LEADERBOARD, "/leaderboard server: first after that", ms(after_close[0]), "ms")
    return report


async def close_a_vote(s: Session) -> float:
    """One short battle on the server that holds the history, one vote, closed: the ratings
    change, so closing refits them. Returns seconds from /battle-stop to the results."""
    world = s.world
    slot = Slot(world.recount_guild, world.recount_channel, world.host, *model_pair(0))
    await start_battle(s.double, slot, rounds=1)
    await wait_until(lambda: vote_message(s.double, slot.channel) is not None, 90, "a vote")
    message_id = vote_message(s.double, slot.channel)
    assert message_id is not None
    s.double.add_reactions_silently(message_id, next(iter(DEFAULT_EMOJI.values())), [world.host])
    await settle(s.bot.pid, limit=10)
    await stop_battle(s.double, slot)
    await wait_until(lambda: count_kind(s.double, slot.channel, "results") == 1, 60, "results")
    assert slot.stopped is not None
    posts = bot_posts(s.double, [slot.channel.id])[slot.channel.id]
    return next(p for p in posts if p.kind == "results").arrived_at - slot.stopped.created_at


async def leaderboards(s: Session, scope: str, count: int, report: Report) -> list[float]:
    """``count`` /leaderboard requests in turn; seconds from interaction to the bot's answer."""
    latencies = []
    for _ in range(count):
        interaction = await s.double.invoke_command(
            s.world.host, s.world.warmup_channel, "leaderboard", {"scope": scope}
        )
        body = await interaction.response(timeout=30)
        assert interaction.latency is not None
        latencies.append(interaction.latency)
        if not (body.get("data") or {}).get("embeds"):
            report.note(f"/leaderboard {scope} answered without an embed: {body}")
            break
    return latencies
