"""Seasons on the web arena: boards and charts take ?season=, pages list a board's seasons, and
the open data's battles carry the month they started in. On SQLite and PostgreSQL.

The fixture's battles are in October 2025 and its clock on 2025-10-19; these tests add
September's, one of them started on September's last minute with its vote closing in October.
"""

from __future__ import annotations

import datetime
import json

import pytest

from tests.web.conftest import (
    ALPHA,
    GAMMA,
    PRIVATE_GUILD,
    PUBLIC_CHANNEL,
    PUBLIC_GUILD,
    PUBLIC_STARTER,
    add_battle,
)


def at(*parts: int) -> float:
    return datetime.datetime(*parts, tzinfo=datetime.UTC).timestamp()


@pytest.fixture
async def september(arena) -> list[int]:
    """Gamma beats alpha four times in September on the public server; the last battle starts
    at 23:59:30 on the 30th and its vote closes a minute later, in October."""
    ids = []
    for started in (at(2025, 9, 10), at(2025, 9, 11), at(2025, 9, 12), at(2025, 9, 30, 23, 59, 30)):
        ids.append(
            await add_battle(
                arena.store, PUBLIC_GUILD, GAMMA, ALPHA, (3, 1), started,
                channel=PUBLIC_CHANNEL, starter=PUBLIC_STARTER,
            )
        )  # fmt: skip
    return ids


async def board_json(client, query: str) -> dict:
    response = await client.get(f"/api/leaderboard.json?{query}")
    assert response.status == 200, await response.text()
    return await response.json()


async def test_the_global_boards_seasons_are_months(client, september):
    whole = await board_json(client, "")
    assert "season" not in whole
    assert await board_json(client, "season=all") == whole
    previous = await board_json(client, "season=previous")
    assert previous["season"] == "2025-09"
    assert await board_json(client, "season=2025-09") == previous
    # Only September's battles, the one whose vote closed in October included.
    assert [(m["model"], m["wins"], m["losses"], m["battles"]) for m in previous["models"]] == [
        (GAMMA, 4, 0, 4),
        (ALPHA, 0, 4, 4),
    ]
    current = await board_json(client, "season=current")
    assert current["season"] == "2025-10"
    battles = {m["model"]: m["battles"] for m in current["models"]}
    every = {m["model"]: m["battles"] for m in whole["models"]}
    assert battles[ALPHA] == every[ALPHA] - 4 and battles[GAMMA] == every[GAMMA] - 4
    judges = await board_json(client, "board=judges&season=2025-09")
    assert judges == {"board": "judges", "scope": "global", "season": "2025-09", "models": []}


async def test_bad_seasons_are_refused_with_the_reason(client, arena):
    for query, reason in [
        ("season=2025-Q3", "These seasons are months"),
        ("season=2099-01", "has not started yet"),
        ("season=spring", "is not a season"),
        ("season=2025-13", "is not a season"),
        (f"scope={PUBLIC_GUILD}&season=current", "Seasons are off here"),
    ]:
        response = await client.get(f"/api/leaderboard.json?{query}")
        assert response.status == 400, query
        assert reason in (await response.json())["error"], query
    # A private server answers as one that does not exist, whatever the season.
    private = await client.get(f"/api/leaderboard.json?scope={PRIVATE_GUILD}&season=2025-Q3")
    assert private.status == 404
    page = await client.get("/?season=2025-Q3")
    assert page.status == 400 and "These seasons are months" in await page.text()
    chart = await client.get("/charts/ratings.json?season=nope")
    assert chart.status == 400


async def test_a_servers_seasons_follow_its_setting(client, arena, september):
    store = arena.store
    settings = await store.server_settings(PUBLIC_GUILD)
    await store.save_server_settings(PUBLIC_GUILD, settings.changed(season="quarter"))
    assert await store.is_public_page(PUBLIC_GUILD)
    q3 = await board_json(client, f"scope={PUBLIC_GUILD}&season=2025-Q3")
    assert q3["season"] == "2025-Q3" and [m["model"] for m in q3["models"]] == [GAMMA, ALPHA]
    q4 = await board_json(client, f"scope={PUBLIC_GUILD}&season=current")
    assert q4["season"] == "2025-Q4" and q4["models"][0]["model"] == ALPHA
    refused = await client.get(f"/api/leaderboard.json?scope={PUBLIC_GUILD}&season=2025-09")
    assert refused.status == 400

    html = await (await client.get(f"/servers/{PUBLIC_GUILD}")).text()
    assert f'<a href="/servers/{PUBLIC_GUILD}?season=2025-Q4">2025-Q4</a>' in html
    assert f'<a href="/servers/{PUBLIC_GUILD}?season=2025-Q3">2025-Q3</a>' in html
    assert "<strong>all time</strong>" in html
    season_page = await client.get(f"/servers/{PUBLIC_GUILD}?season=2025-Q3")
    assert season_page.status == 200
    html = await season_page.text()
    assert "· season 2025-Q3</h1>" in html
    assert f'<a href="/servers/{PUBLIC_GUILD}">all time</a>' in html
    assert f"scope={PUBLIC_GUILD}&amp;season=2025-Q3" in html  # JSON and chart links


async def test_the_front_page_lists_the_seasons_and_shows_one(client, september):
    html = await (await client.get("/")).text()
    assert '<a href="/?season=2025-10">2025-10</a>' in html
    assert '<a href="/?season=2025-09">2025-09</a>' in html
    assert "<strong>all time</strong>" in html

    response = await client.get("/?season=2025-09")
    assert response.status == 200
    html = await response.text()
    assert "<h1>Leaderboard · season 2025-09</h1>" in html
    assert "<strong>2025-09</strong>" in html and '<a href="/">all time</a>' in html
    assert "/charts/ratings.svg?board=crowd&amp;scope=global&amp;season=2025-09" in html
    assert "/api/leaderboard.json?board=crowd&amp;scope=global&amp;season=2025-09" in html

    chart = await client.get("/charts/ratings.json?season=2025-09")
    assert chart.status == 200
    data = json.loads(await chart.text())
    assert GAMMA in json.dumps(data) and "beta/two" not in json.dumps(data)
    matrix = await client.get("/charts/battles.json?season=2025-09")
    assert matrix.status == 200 and "beta/two" not in await matrix.text()


async def test_battles_jsonl_rows_carry_the_month_they_started_in(client, arena, september):
    text = await (await client.get("/api/battles.jsonl?limit=1000")).text()
    battles = {row["id"]: row for row in map(json.loads, text.splitlines())}
    assert {battles[i]["season"] for i in september} == {"2025-09"}
    last = battles[september[-1]]
    assert last["closed_at"].startswith("2025-10-01")  # closed in October, counted in September
    assert {battles[i]["season"] for i in arena.public} == {"2025-10"}
