"""Charts (SVG with their JSON), the rating history, and avatars."""

from __future__ import annotations

import re
import struct
import zlib

from bot.engine.leaderboard import Board
from bot.web.avatars import avatar_png, vendor_colours
from bot.web.data import SECONDS_PER_DAY, ArenaData
from tests.web.conftest import ALPHA, BETA, GAMMA, PRIVATE_ONLY, PUBLIC_GUILD, START, clock


def marks(svg: str) -> int:
    return len(re.findall(r'class="mark"', svg))


async def test_each_chart_draws_one_mark_per_item_and_serves_its_data(client, data):
    rows = (await data.board(Board.CROWD, None)).rows
    models = [row.model for row in rows]
    ratings = await (await client.get("/charts/ratings.json")).json()
    assert [m["model"] for m in ratings["models"]] == models
    assert marks(await (await client.get("/charts/ratings.svg")).text()) == len(models)

    winrate = await (await client.get("/charts/winrate.json")).json()
    assert winrate["models"] == models
    i, j = models.index(ALPHA), models.index(PRIVATE_ONLY)
    # alpha took 2 of 7 votes in its one battle against delta.
    assert abs(winrate["winrate"][i][j] - 2 / 7) < 1e-9
    assert abs(winrate["winrate"][j][i] - 5 / 7) < 1e-9
    met = sum(rate is not None for row in winrate["winrate"] for rate in row)
    assert marks(await (await client.get("/charts/winrate.svg")).text()) == met

    counts = await (await client.get("/charts/battles.json")).json()
    a, b = models.index(ALPHA), models.index(BETA)
    # Public 3 (alpha-beta twice, beta-alpha once) and one private draw.
    assert counts["battles"][a][b] == counts["battles"][b][a] == 4
    cells = sum(count > 0 for row in counts["battles"] for count in row)
    assert marks(await (await client.get("/charts/battles.svg")).text()) == cells

    average = await (await client.get("/charts/average.json")).json()
    assert [m["model"] for m in average["models"]] == models
    rates = [m["average_winrate"] for m in average["models"]]
    assert rates == sorted(rates, reverse=True)
    assert marks(await (await client.get("/charts/average.svg")).text()) == len(models)


async def test_charts_take_top_and_scope(client):
    top = await (await client.get("/charts/winrate.json?top=2")).json()
    assert len(top["models"]) == 2 and len(top["winrate"]) == 2
    server = await (await client.get(f"/charts/battles.json?scope={PUBLIC_GUILD}")).json()
    assert set(server["models"]) == {ALPHA, BETA, GAMMA}
    assert (await client.get("/charts/winrate.svg?top=0")).status == 400
    assert (await client.get("/charts/winrate.svg?scope=42")).status == 404


async def test_the_front_page_holds_the_four_charts(client, data):
    html = await (await client.get("/")).text()
    rows = (await data.board(Board.CROWD, None)).rows
    for name in ("ratings", "winrate", "battles", "average"):
        assert f'id="chart-{name}"' in html
        assert f'href="/charts/{name}.json?board=crowd&amp;scope=global' in html
    figures = re.findall(r'<figure class="chart-box" id="chart-(\w+)">(.*?)</figure>', html, re.S)
    drawn = {name: marks(body) for name, body in figures}
    assert drawn["ratings"] == drawn["average"] == len(rows)


async def test_hostile_model_ids_are_text_in_charts():
    from bot.engine.leaderboard import ModelRecord, Standing
    from bot.engine.ratings import PairRecord, Rating
    from bot.web import charts

    evil = 'x/<script>alert(1)</script>"&'
    rows = [
        Standing(1, evil, Rating(1010, 990, 1030, 3), ModelRecord()),
        Standing(1, "y/\x00ok", Rating(990, 970, 1010, 3), ModelRecord()),
    ]
    for chart in (
        charts.ratings_chart(rows),
        charts.average_winrate_chart(rows),
        charts.winrate_chart([evil, "y/\x00ok"], [PairRecord(evil, "y/\x00ok", 3, 2)]),
    ):
        assert "<script>" not in chart.svg and "\x00" not in chart.svg
        assert "&lt;script&gt;" in chart.svg


async def test_the_rating_history_is_filled_in_from_past_battles(client, data, arena):
    await data.fill_history()
    days = {int((START + k * 86_400 + 60) // SECONDS_PER_DAY) for k in range(7)}
    stored = await arena.store.rating_snapshots(Board.CROWD.value, ALPHA)
    assert {s.day for s in stored} <= days | {min(days) - 1}
    assert len(stored) >= 6
    history = await (await client.get(f"/charts/history.json?model={ALPHA}")).json()
    points = history["points"]
    # The stored days, then today from the live board.
    assert len(points) == len(stored) + 1
    live = (await data.board(Board.CROWD, None)).standing(ALPHA).rating
    assert abs(points[-1]["rating"] - live.rating) < 1e-6
    # Alpha won its first battles: its rating rose above the mean early on.
    assert points[0]["rating"] > 1000
    svg = await (await client.get(f"/charts/history.svg?model={ALPHA}")).text()
    assert marks(svg) == len(points)
    page = await (await client.get(f"/models/{ALPHA}")).text()
    assert 'id="chart-history"' in page
    assert (await client.get("/charts/history.json?model=nobody/at-all")).status == 404


async def test_filling_the_history_twice_adds_nothing(data, arena):
    await data.fill_history()
    first = await arena.store.rating_snapshots(Board.CROWD.value, BETA)
    await data.fill_history()
    assert await arena.store.rating_snapshots(Board.CROWD.value, BETA) == first


async def test_a_refit_records_todays_snapshot_once_the_history_is_filled(arena):
    from bot.services.battles.standings import StandingsService

    fresh = ArenaData(arena.store, StandingsService(arena.store), clock=clock)
    await fresh.board(Board.CROWD, None)
    assert await arena.store.latest_snapshot_day(Board.CROWD.value) is None
    await fresh.fill_history()
    await arena.store.set_public_page(PUBLIC_GUILD, True)  # moves the version: a refit
    await fresh.board(Board.CROWD, None)
    await fresh.cache.settle()  # the refit runs in the background, the old board served
    today = int(clock() // SECONDS_PER_DAY)
    assert await arena.store.latest_snapshot_day(Board.CROWD.value) == today


def png_pixels(png: bytes) -> tuple[int, int, list[bytes]]:
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    position, chunks = 8, {}
    while position < len(png):
        (length,) = struct.unpack(">I", png[position : position + 4])
        kind = png[position + 4 : position + 8]
        body = png[position + 8 : position + 8 + length]
        (crc,) = struct.unpack(">I", png[position + 8 + length : position + 12 + length])
        assert zlib.crc32(kind + body) & 0xFFFFFFFF == crc
        chunks[kind] = chunks.get(kind, b"") + body
        position += 12 + length
    width, height, depth, colour_type = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (depth, colour_type) == (8, 2)
    raw = zlib.decompress(chunks[b"IDAT"])
    stride = 1 + 3 * width
    rows = [raw[y * stride + 1 : (y + 1) * stride] for y in range(height)]
    assert all(raw[y * stride] == 0 for y in range(height))
    return width, height, rows


def corner(png: bytes) -> bytes:
    return png_pixels(png)[2][0][:3]


async def test_avatars_are_deterministic_pngs_coloured_by_vendor(client):
    response = await client.get("/avatars/qwen/qwen-max.png")
    assert response.status == 200 and response.content_type == "image/png"
    body = await response.read()
    assert body == avatar_png("qwen/qwen-max")
    width, height, rows = png_pixels(body)
    assert (width, height) == (128, 128)
    assert len({row for row in rows}) > 2  # a pattern, not a flat square
    same_vendor = avatar_png("qwen/qwen-2.5-72b")
    assert corner(same_vendor) == corner(body) == bytes(vendor_colours("qwen")[0])
    assert same_vendor != body
    assert corner(avatar_png("meta-llama/llama-3-70b")) != corner(body)


async def test_blind_names_get_neutral_avatars(client):
    a = await (await client.get("/avatars/MC%20A.png")).read()
    b = await (await client.get("/avatars/MC%20B.png")).read()
    assert a != b
    assert corner(a) == corner(b) == bytes((0x4A, 0x4F, 0x57))
    for png in (a, b):
        colours = {row[i : i + 3] for row in png_pixels(png)[2] for i in range(0, 384, 3)}
        assert colours == {bytes((0x4A, 0x4F, 0x57)), bytes((0xE8, 0xE8, 0xE8))}


async def test_bad_avatar_names(client):
    assert (await client.get("/avatars/" + "x" * 300 + ".png")).status == 404
    assert (await client.get("/avatars/.png")).status == 404


async def test_the_history_read_in_small_slices_is_the_same(data, arena, monkeypatch):
    from bot.web import data as data_module

    await data.fill_history()
    models = (ALPHA, BETA, GAMMA, PRIVATE_ONLY)
    whole = {m: await arena.store.rating_snapshots("crowd", m) for m in models}
    async with arena.store._change() as db:
        await db.execute("DELETE FROM rating_snapshots")
    monkeypatch.setattr(data_module, "HISTORY_SLICE", 2)
    await data.fill_history()
    sliced = {m: await arena.store.rating_snapshots("crowd", m) for m in models}
    assert sliced.keys() == whole.keys()
    for model in models:
        assert [s.day for s in sliced[model]] == [s.day for s in whole[model]]
        for a, b in zip(sliced[model], whole[model], strict=True):
            assert abs(a.rating - b.rating) < 1e-6
