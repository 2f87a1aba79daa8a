"""A battle's page says why it is unrated (a name leaked in a blind battle, a verse withheld by
the content filter, a no contest, no votes), naming no one; a public server's page shows the
server's name once it is kept, and its id only until then."""

from __future__ import annotations

from bot.engine.lifecycle import BattleState
from bot.engine.votes import Tally
from tests.web.conftest import (
    ALPHA,
    BETA,
    PUBLIC_CHANNEL,
    PUBLIC_GUILD,
    PUBLIC_STARTER,
    START,
    add_battle,
)
from tests.web.test_routes import add_tournament

LEAK = "a verse named its own model or vendor (MC A said 'Alpha'), so the blind vote is not rated"
WITHHELD = "MC B's verse was withheld by the content filter (hate)"


async def page(client, battle_id: int) -> str:
    response = await client.get(f"/battles/{battle_id}")
    assert response.status == 200
    return await response.text()


async def test_a_battle_page_says_why_it_is_unrated(client, arena):
    store = arena.store
    leaked = await add_battle(
        store, PUBLIC_GUILD, ALPHA, BETA, None, START + 8 * 86_400,
        channel=PUBLIC_CHANNEL, starter=PUBLIC_STARTER, blind=True,
    )  # fmt: skip
    await store.set_unrated(leaked, LEAK)
    await store.close_voting(leaked, Tally({}), START)
    assert "Not rated: a verse named its own model or vendor (MC A said &#39;Alpha&#39;)" in (
        await page(client, leaked)
    )

    withheld = await add_battle(
        store, PUBLIC_GUILD, ALPHA, BETA, None, START + 8 * 86_400,
        channel=PUBLIC_CHANNEL, starter=PUBLIC_STARTER, end=BattleState.NO_CONTEST,
    )  # fmt: skip
    async with store._change() as db:  # as the content filter ends a battle
        await db.execute("UPDATE battles SET reason = ? WHERE id = ?", (WITHHELD, withheld))
    html = await page(client, withheld)
    assert "Not rated: MC B&#39;s verse was withheld by the content filter (hate)." in html

    # A no contest says so without its stored reason, which may name a member.
    html = await page(client, arena.no_contest)
    assert "Not rated: no contest" in html
    assert "somebody" not in html and str(PUBLIC_STARTER) not in html

    # A rated battle says nothing of the kind.
    assert "Not rated" not in await page(client, arena.xss)


async def test_a_public_servers_page_shows_its_name_once_kept(client, arena):
    html = await (await client.get(f"/servers/{PUBLIC_GUILD}")).text()
    assert f"<h1>Server {PUBLIC_GUILD}" in html  # no name kept yet
    await arena.store.name_server(PUBLIC_GUILD, "Rap <Club>", START)
    html = await (await client.get(f"/servers/{PUBLIC_GUILD}")).text()
    assert "<h1>Rap &lt;Club&gt;" in html and "<title>Rap &lt;Club&gt;" in html
    assert f"Server {PUBLIC_GUILD}" not in html
    battle = await (await client.get(f"/battles/{arena.xss}")).text()
    assert f'<a href="/servers/{PUBLIC_GUILD}">Rap &lt;Club&gt;</a>' in battle
    tournament = await add_tournament(arena.store, PUBLIC_GUILD)
    html = await (await client.get(f"/tournaments/{tournament}")).text()
    assert f'<a href="/servers/{PUBLIC_GUILD}">Rap &lt;Club&gt;</a>' in html
