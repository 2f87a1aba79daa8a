"""Privacy: a private server's ids are on no page and in no JSON; no page ever shows a channel,
a user or why a battle was stopped (which names who stopped it)."""

from __future__ import annotations

import json
import re

from tests.web.conftest import (
    ALPHA,
    BETA,
    GAMMA,
    OPTED_OUT_GUILD,
    PRIVATE_CHANNEL,
    PRIVATE_GUILD,
    PRIVATE_ONLY,
    PRIVATE_STARTER,
    PRIVATE_VOTER,
    PUBLIC_CHANNEL,
    PUBLIC_GUILD,
    PUBLIC_STARTER,
)

NEVER_SHOWN = [
    PRIVATE_GUILD, PRIVATE_CHANNEL, PRIVATE_STARTER, PRIVATE_VOTER, PUBLIC_CHANNEL, PUBLIC_STARTER,
]  # fmt: skip


def every_url(arena) -> list[str]:
    models = [ALPHA, BETA, GAMMA, PRIVATE_ONLY]
    battles = [*arena.public, *arena.private, *arena.opted_out]
    battles += [arena.blind_voting, arena.no_contest]
    urls = ["/", "/api/models.json", "/api/battles.jsonl?limit=1000", "/healthz"]
    for scope in ("global", PUBLIC_GUILD, OPTED_OUT_GUILD, PRIVATE_GUILD):
        for board in ("crowd", "judges"):
            urls.append(f"/api/leaderboard.json?board={board}&scope={scope}")
            for chart in ("ratings", "winrate", "battles", "average"):
                urls += [
                    f"/charts/{chart}.{ext}?board={board}&scope={scope}" for ext in ("svg", "json")
                ]
    for model in models:
        urls += [f"/models/{model}", f"/charts/history.json?model={model}"]
        urls.append(f"/charts/history.svg?model={model}")
    for battle in battles:
        urls += [f"/battles/{battle}", f"/battles/{battle}.md", f"/battles/{battle}.yml"]
    for guild in (PUBLIC_GUILD, OPTED_OUT_GUILD, PRIVATE_GUILD):
        urls.append(f"/servers/{guild}")
    return urls


async def test_no_private_id_appears_anywhere(client, arena):
    seen = 0
    for url in every_url(arena):
        response = await client.get(url)
        text = await response.text()
        headers = json.dumps(dict(response.headers))
        for secret in NEVER_SHOWN:
            assert str(secret) not in text, (url, secret)
            assert str(secret) not in headers, (url, secret)
        assert "somebody" not in text and "stopped by" not in text, url
        seen += response.status == 200
    assert seen > 40  # the crawl reached real pages, not only 404s


async def test_private_battles_count_on_the_global_board_as_numbers_only(client, arena):
    board = await (await client.get("/api/leaderboard.json")).json()
    delta = next(m for m in board["models"] if m["model"] == PRIVATE_ONLY)
    assert delta["battles"] == 2 and delta["wins"] == 2
    page = await (await client.get(f"/models/{PRIVATE_ONLY}")).text()
    assert "No public battles yet." in page
    assert not re.search(r'href="/battles/\d+"', page)
    lines = (await (await client.get("/api/battles.jsonl?limit=1000")).text()).splitlines()
    ids = {json.loads(line)["id"] for line in lines}
    assert ids.isdisjoint(arena.private)
    assert arena.blind_voting not in ids


async def test_making_a_server_private_hides_it_at_once(client, arena):
    assert (await client.get(f"/battles/{arena.xss}")).status == 200
    before = await (await client.get(f"/models/{ALPHA}")).text()
    assert f'href="/battles/{arena.xss}"' in before
    await arena.store.set_public_page(PUBLIC_GUILD, False)
    assert (await client.get(f"/battles/{arena.xss}")).status == 404
    assert (await client.get(f"/servers/{PUBLIC_GUILD}")).status == 404
    after = await (await client.get(f"/models/{ALPHA}")).text()
    assert f'href="/battles/{arena.xss}"' not in after
    assert str(PUBLIC_GUILD) not in after
    lines = (await (await client.get("/api/battles.jsonl")).text()).splitlines()
    assert {json.loads(line)["id"] for line in lines} == set(arena.opted_out)
