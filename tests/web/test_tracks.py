"""Battle tracks on the web arena: the player on a public battle's page, and ``/battles/{id}.ogg``
made on its first request, kept, and served from the store after; on SQLite and PostgreSQL.

Most tests make tracks with the fake maker of conftest.py; one makes a real track with espeak-ng
through the web server, as ``rapbattle web`` runs it.
"""

from __future__ import annotations

import asyncio
import io
import re
import shutil
import socket

import aiohttp
import av
import pytest

from bot.engine.battle import Battle
from bot.engine.lifecycle import BattleState
from bot.services.battles.standings import StandingsService
from bot.services.tracks.speech import TrackError
from bot.settings import Settings
from bot.store import NewBattle
from bot.web.app import CONTENT_SECURITY_POLICY
from bot.web.server import WebServer
from tests.web.conftest import ALPHA, BETA, PUBLIC_GUILD, START, add_battle


def player(battle_id: int) -> str:
    return f'<audio controls preload="none" src="/battles/{battle_id}.ogg">'


def ogg_seconds(data: bytes) -> float:
    """How long an Ogg file plays, read by FFmpeg."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        assert stream.codec_context.name == "opus"
        return float(stream.duration * stream.time_base)


async def silent_battle(store) -> int:
    """A public battle that ended before its first verse: a page, but nothing to play."""
    battle = NewBattle(PUBLIC_GUILD, 1, 2, Battle(ALPHA, BETA, rounds=1))
    created = await store.create_battle(battle, now=START)
    await store.end_battle(created.id, BattleState.STOPPED, "stopped at once")
    return created.id


async def test_a_public_battle_page_has_the_player(client, arena, track_maker):
    battle_id = arena.public[0]
    html = await (await client.get(f"/battles/{battle_id}")).text()
    assert player(battle_id) in html
    assert f'href="/battles/{battle_id}.ogg" download' in html
    assert "each MC raps its verses in its own voice" in html
    # Showing the player makes nothing: the track is made when it is first played.
    assert track_maker.made == []
    assert await arena.store.track(battle_id) is None


async def test_a_battle_without_verses_has_no_player_and_no_track(client, arena, track_maker):
    battle_id = await silent_battle(arena.store)
    page = await client.get(f"/battles/{battle_id}")
    assert page.status == 200
    assert "<audio" not in await page.text()
    response = await client.get(f"/battles/{battle_id}.ogg")
    assert response.status == 404
    assert "has no verses to play" in await response.text()
    assert track_maker.made == []


async def test_the_track_is_made_once_kept_and_served_from_the_store(client, arena, track_maker):
    battle_id = arena.public[1]
    first = await client.get(f"/battles/{battle_id}.ogg")
    assert first.status == 200
    assert first.content_type == "audio/ogg"
    body = await first.read()
    assert body.startswith(b"OggS")
    assert first.headers["Content-Length"] == str(len(body))
    assert first.headers["Content-Disposition"] == f'inline; filename="battle-{battle_id}.ogg"'
    assert first.headers["Accept-Ranges"] == "bytes"
    assert ogg_seconds(body) == pytest.approx(track_maker.seconds, abs=0.05)
    [(model_a, model_b, turns)] = track_maker.made
    assert (model_a, model_b, turns) == (BETA, "gamma/three", 5)  # four verses and the host
    kept = await arena.store.track(battle_id)
    assert kept is not None and kept.ogg == body
    assert kept.seconds == pytest.approx(track_maker.seconds)
    # Served from the store from now on: the maker is not asked again.
    second = await client.get(f"/battles/{battle_id}.ogg")
    assert second.status == 200 and await second.read() == body
    assert len(track_maker.made) == 1
    # Cached like the other downloads (the battle's server may yet make its page private).
    transcript = await client.get(f"/battles/{battle_id}.md")
    assert second.headers.get("Cache-Control") == transcript.headers.get("Cache-Control")


async def test_first_requests_at_once_share_one_making(client, arena, track_maker):
    battle_id = arena.public[2]
    track_maker.hold = asyncio.Event()
    requests = [asyncio.create_task(client.get(f"/battles/{battle_id}.ogg")) for _ in range(4)]
    while not track_maker.made:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)  # every request has arrived and is waiting on the one making
    track_maker.hold.set()
    responses = await asyncio.gather(*requests)
    bodies = {await response.read() for response in responses}
    assert [response.status for response in responses] == [200] * 4
    assert len(bodies) == 1 and len(track_maker.made) == 1
    assert (await arena.store.track(battle_id)).ogg in bodies


async def test_private_and_unknown_battles_have_no_track(client, arena, track_maker):
    for path in (
        f"/battles/{arena.private[0]}",
        "/battles/999999",
        f"/battles/{arena.blind_voting}",
    ):
        page = await client.get(path)
        track = await client.get(f"{path}.ogg")
        assert page.status == track.status == 404
        # The same answer as the battle's page, so nothing is revealed.
        assert await track.text() == await page.text()
    assert track_maker.made == []
    assert await arena.store.track(arena.private[0]) is None
    page = await (await client.get(f"/battles/{arena.private[0]}")).text()
    assert ".ogg" not in page


async def test_a_speech_engine_that_fails_is_a_503_and_keeps_nothing(client, arena, track_maker):
    battle_id = arena.public[3]
    track_maker.fail = TrackError("Speech endpoint http://tts.internal:9000: server error (500)")
    response = await client.get(f"/battles/{battle_id}.ogg")
    assert response.status == 503
    assert response.content_type == "text/plain"
    text = await response.text()
    assert text.count("\n") == 1 and text.endswith("\n")
    assert f"battle {battle_id} could not be made" in text
    assert "tts.internal" not in text  # the engine's address stays in the log
    assert await arena.store.track(battle_id) is None
    # Nothing was kept, so the next request tries again.
    track_maker.fail = None
    retried = await client.get(f"/battles/{battle_id}.ogg")
    assert retried.status == 200 and len(track_maker.made) == 2
    assert await arena.store.track(battle_id) is not None


async def test_a_player_gets_the_byte_range_it_asks_for(client, arena):
    battle_id = arena.public[4]
    whole = await (await client.get(f"/battles/{battle_id}.ogg")).read()
    size = len(whole)
    part = await client.get(f"/battles/{battle_id}.ogg", headers={"Range": "bytes=0-99"})
    assert part.status == 206 and await part.read() == whole[:100]
    assert part.headers["Content-Range"] == f"bytes 0-99/{size}"
    assert part.headers["Content-Length"] == "100"
    tail = await client.get(f"/battles/{battle_id}.ogg", headers={"Range": "bytes=-50"})
    assert tail.status == 206 and await tail.read() == whole[-50:]
    assert tail.headers["Content-Range"] == f"bytes {size - 50}-{size - 1}/{size}"
    rest = await client.get(f"/battles/{battle_id}.ogg", headers={"Range": f"bytes={size - 10}-"})
    assert rest.status == 206 and await rest.read() == whole[-10:]
    beyond = await client.get(f"/battles/{battle_id}.ogg", headers={"Range": f"bytes={size}-"})
    assert beyond.status == 416 and beyond.headers["Content-Range"] == f"bytes */{size}"
    nonsense = await client.get(f"/battles/{battle_id}.ogg", headers={"Range": "lines=1-2"})
    assert nonsense.status == 200 and await nonsense.read() == whole


async def test_the_policy_lets_media_come_from_the_site_only(client, arena):
    sources = dict(
        directive.strip().split(" ", 1) for directive in CONTENT_SECURITY_POLICY.split(";")
    )
    assert sources["media-src"] == "'self'"
    assert all(re.fullmatch(r"('self'|'none')", source) for source in sources.values()), (
        CONTENT_SECURITY_POLICY
    )
    for path in (f"/battles/{arena.public[0]}", f"/battles/{arena.public[0]}.ogg"):
        response = await client.get(path)
        assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        assert "media-src 'self'" in response.headers["Content-Security-Policy"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="no espeak-ng (apt-get install it)")
async def test_the_web_server_makes_a_real_track_with_espeak(arena):
    """As ``rapbattle web`` (and WEB_PORT in ``rapbattle run``) serve it: the settings' offline
    engine, the beat, Ogg, kept."""
    battle_id = await add_battle(
        arena.store, PUBLIC_GUILD, ALPHA, BETA, (3, 1), START,
        verses=["Mic check, the rhymes connect", "Second line lands with respect"],
    )  # fmt: skip
    port = free_port()
    server = WebServer(Settings(web_port=port), arena.store, StandingsService(arena.store))
    await server.start()
    try:
        async with aiohttp.ClientSession() as session:
            url = f"http://127.0.0.1:{port}/battles/{battle_id}.ogg"
            async with session.get(url) as response:
                assert response.status == 200, await response.text()
                assert response.content_type == "audio/ogg"
                body = await response.read()
    finally:
        await server.stop()
    kept = await arena.store.track(battle_id)
    assert kept is not None and kept.ogg == body
    # The title card, four short verses and the host's "Final round!", spoken: several seconds,
    # well under a minute.
    assert 5 < kept.seconds < 60
    assert ogg_seconds(body) == pytest.approx(kept.seconds, abs=0.1)
