"""A small arena on a real store (SQLite file, and PostgreSQL when TEST_DATABASE_URL is set),
served by the real web app through aiohttp's test client.

Three servers: a public one, a private one whose ids must never show, and a public one that
opted out of the global board. Battles are written through the store's own methods, as the bot
writes them, with closing times spread over several days for the rating history.

Battle tracks are made by a fake track maker (a short tone per battle, encoded as real Ogg), which
counts the tracks it was asked for; tests/web/test_tracks.py also makes one with espeak-ng.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.audio.tracks import encode_track
from bot.engine.battle import FINAL_ROUND, Battle, Side, Turn
from bot.engine.server_settings import ServerSettings
from bot.engine.votes import DEFAULT_EMOJI, Tally
from bot.services.battles.standings import StandingsService
from bot.services.tracks.desk import TrackDesk
from bot.services.tracks.maker import Track
from bot.services.tracks.speech import SAMPLE_RATE, TrackError
from bot.store import BattleState, NewBattle, open_store
from bot.store.sql import SQLStore
from bot.web.app import ArenaSite, create_app
from bot.web.data import ArenaData
from tests.fakes.postgres import postgres_schema

DAY = 86_400.0
START = 1_760_000_000.0  # 2025-10-09, a fixed past, so dates on pages are known

PUBLIC_GUILD = 111_111_111_111_111_111
PUBLIC_CHANNEL = 111_222_333_444_555_666
PUBLIC_STARTER = 111_999_888_777_666_555
PRIVATE_GUILD = 987_654_321_098_765_432
PRIVATE_CHANNEL = 876_543_210_987_654_321
PRIVATE_STARTER = 765_432_109_876_543_210
PRIVATE_VOTER = 654_321_098_765_432_109
OPTED_OUT_GUILD = 222_222_222_222_222_222

ALPHA, BETA, GAMMA = "alpha/one", "beta/two", "gamma/three"
PRIVATE_ONLY = "delta/four"

XSS_VERSE = (
    "<script>alert('verse')</script>\n"
    "</textarea><img src=x onerror=alert(1)>\n"
    '<a href="javascript:alert(2)">click me</a>\n'
    "\u202eevil reversed\u202c and zalgo z\u0351\u0352\u0357\u0358a\u035b\u0340\n" + "W" * 5000
)


@dataclass
class Arena:
    """What the fixture wrote, for tests to check pages against."""

    store: SQLStore
    public: list[int] = field(default_factory=list)  # closed battles of the public server
    private: list[int] = field(default_factory=list)  # battles of the private server
    xss: int = 0
    blind_closed: int = 0
    blind_voting: int = 0
    no_contest: int = 0
    opted_out: list[int] = field(default_factory=list)


async def add_battle(
    store: SQLStore,
    guild: int,
    model_a: str,
    model_b: str,
    votes: tuple[int, int] | None,
    at: float,
    *,
    channel: int = 1,
    starter: int = 2,
    blind: bool = False,
    verses: Sequence[str] | None = None,
    end: BattleState = BattleState.CLOSED,
    voter_base: int = 10_000,
) -> int:
    """A two-round battle written as the bot writes one; votes None leaves it in its end state
    ``end`` (voting, or ended without a vote)."""
    battle = Battle(model_a, model_b, rounds=2, topic="rhymes & <tags>", blind=blind)
    stored = await store.create_battle(NewBattle(guild, channel, starter, battle), now=at)
    for position, slot in enumerate(battle.plan()):
        if slot.side is None:
            text = FINAL_ROUND
        elif verses is not None:
            text = verses[position % len(verses)]
        else:
            text = f"verse {position} by {battle.model(slot.side)}\nsecond line"
        await store.add_turn(stored.id, position, battle.turn(slot, text))
    if end in (BattleState.NO_CONTEST, BattleState.STOPPED, BattleState.INTERRUPTED):
        await store.end_battle(stored.id, end, f"stopped by somebody#{starter}")
        return stored.id
    await store.open_voting(stored.id, 10**15 + stored.id, at + 60, DEFAULT_EMOJI)
    if votes is None:
        return stored.id
    ballots = {voter_base + i: Side.A for i in range(votes[0])}
    ballots |= {voter_base + 1000 + i: Side.B for i in range(votes[1])}
    assert await store.close_voting(stored.id, Tally(ballots), now=at + 60)
    return stored.id


async def build_arena(store: SQLStore) -> Arena:
    arena = Arena(store)
    await store.set_public_page(PUBLIC_GUILD, True)
    await store.save_server_settings(OPTED_OUT_GUILD, ServerSettings(global_opt_out=True))
    await store.set_public_page(OPTED_OUT_GUILD, True)
    # The public server: alpha beats beta, beta beats gamma, over five days.
    results = [
        (ALPHA, BETA, (5, 1)),
        (BETA, GAMMA, (4, 2)),
        (ALPHA, GAMMA, (6, 0)),
        (BETA, ALPHA, (2, 3)),
        (GAMMA, BETA, (3, 3)),
        (ALPHA, BETA, (1, 4)),
    ]
    for i, (a, b, votes) in enumerate(results):
        arena.public.append(
            await add_battle(
                store, PUBLIC_GUILD, a, b, votes, START + i * DAY,
                channel=PUBLIC_CHANNEL, starter=PUBLIC_STARTER,
            )
        )  # fmt: skip
    arena.xss = await add_battle(
        store, PUBLIC_GUILD, ALPHA, GAMMA, (2, 1), START + 6 * DAY,
        channel=PUBLIC_CHANNEL, starter=PUBLIC_STARTER, verses=[XSS_VERSE],
    )  # fmt: skip
    arena.public.append(arena.xss)
    arena.blind_closed = await add_battle(
        store, PUBLIC_GUILD, BETA, GAMMA, (1, 2), START + 6.5 * DAY,
        channel=PUBLIC_CHANNEL, starter=PUBLIC_STARTER, blind=True,
    )  # fmt: skip
    arena.public.append(arena.blind_closed)
    arena.blind_voting = await add_battle(
        store, PUBLIC_GUILD, ALPHA, BETA, None, START + 7 * DAY,
        channel=PUBLIC_CHANNEL, starter=PUBLIC_STARTER, blind=True,
    )  # fmt: skip
    arena.no_contest = await add_battle(
        store, PUBLIC_GUILD, ALPHA, BETA, None, START + 7 * DAY,
        channel=PUBLIC_CHANNEL, starter=PUBLIC_STARTER, end=BattleState.NO_CONTEST,
    )  # fmt: skip
    # The private server: counted on the global board, shown nowhere.
    for i, (a, b, votes) in enumerate(
        [(ALPHA, PRIVATE_ONLY, (2, 5)), (PRIVATE_ONLY, GAMMA, (3, 1)), (BETA, ALPHA, (1, 1))]
    ):
        arena.private.append(
            await add_battle(
                store, PRIVATE_GUILD, a, b, votes, START + (i + 0.5) * DAY,
                channel=PRIVATE_CHANNEL, starter=PRIVATE_STARTER, voter_base=PRIVATE_VOTER,
            )
        )  # fmt: skip
    arena.private.append(
        await add_battle(
            store, PRIVATE_GUILD, ALPHA, BETA, None, START + 3 * DAY,
            channel=PRIVATE_CHANNEL, starter=PRIVATE_STARTER, end=BattleState.STOPPED,
        )
    )  # fmt: skip
    # Public, but off the global board.
    arena.opted_out.append(
        await add_battle(store, OPTED_OUT_GUILD, GAMMA, ALPHA, (9, 0), START + 2 * DAY)
    )
    return arena


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(request, tmp_path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/web.db"
        return
    async with postgres_schema() as url:
        yield url


@pytest.fixture
async def store(database_url) -> AsyncIterator[SQLStore]:
    opened = await open_store(database_url)
    yield opened
    await opened.close()


@pytest.fixture
async def arena(store) -> Arena:
    return await build_arena(store)


def clock() -> float:
    return START + 10 * DAY


@pytest.fixture
async def data(arena) -> ArenaData:
    return ArenaData(arena.store, StandingsService(arena.store), clock=clock)


class FakeTrackMaker:
    """A TrackMaker (``make``) that answers every battle with a short tone, counting what it was
    asked for. ``fail`` makes it fail as a speech engine would; ``hold`` keeps it waiting until
    the event is set (for requests arriving while a track is made)."""

    def __init__(self, seconds: float = 1.0) -> None:
        self.seconds = seconds
        self.made: list[tuple[str, str, int]] = []  # model_a, model_b, turns
        self.fail: TrackError | None = None
        self.hold: asyncio.Event | None = None

    async def make(
        self, model_a: str, model_b: str, turns: Sequence[Turn], topic: str | None = None
    ) -> Track:
        self.made.append((model_a, model_b, len(turns)))
        if self.hold is not None:
            await self.hold.wait()
        if self.fail is not None:
            raise self.fail
        time = np.arange(int(self.seconds * SAMPLE_RATE), dtype=np.float32) / SAMPLE_RATE
        tone = 0.3 * np.sin(2 * np.pi * 440.0 * time, dtype=np.float32)
        return Track(np.repeat(tone[:, None], 2, axis=1))


def fake_track_desk(store: SQLStore, maker: FakeTrackMaker) -> TrackDesk:
    """The desk the site makes tracks with, over the fake maker (encoded as real Ogg)."""
    return TrackDesk(
        store,
        lambda: contextlib.nullcontext(maker),
        lambda samples: encode_track(samples, "ogg"),
        clock,
    )


@pytest.fixture
def track_maker() -> FakeTrackMaker:
    return FakeTrackMaker()


@pytest.fixture
async def site(data, track_maker) -> AsyncIterator[ArenaSite]:
    tracks = fake_track_desk(data.store, track_maker)
    arena_site = ArenaSite(data, tracks)
    yield arena_site
    await arena_site.close()
    await tracks.close()


@pytest.fixture
async def client(site) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(create_app(site))) as test_client:
        yield test_client
