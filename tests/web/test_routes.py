"""The site's routes through aiohttp's test client, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re

from bot.engine.battle import Battle
from bot.engine.leaderboard import Board
from bot.engine.tournament import Pairing, TournamentFormat
from bot.engine.transcript import transcript_of
from bot.store.tournaments import NewTournament
from bot.web.app import CONTENT_SECURITY_POLICY
from tests.web.conftest import (
    ALPHA,
    BETA,
    DAY,
    GAMMA,
    PRIVATE_GUILD,
    PRIVATE_ONLY,
    PUBLIC_CHANNEL,
    PUBLIC_GUILD,
    PUBLIC_STARTER,
    START,
    XSS_VERSE,
    add_battle,
)

LEADERBOARD_FIELDS = {
    "model", "rank", "rating", "low", "high", "wins", "losses", "draws", "battles", "votes",
}  # fmt: skip


async def test_the_front_page_shows_both_global_boards(client, data):
    response = await client.get("/")
    assert response.status == 200
    assert response.content_type == "text/html"
    html = await response.text()
    crowd = await data.board(Board.CROWD, None)
    assert {row.model for row in crowd.rows} == {ALPHA, BETA, GAMMA, PRIVATE_ONLY}
    for row in crowd.rows:
        assert f'href="/models/{row.model}"' in html
        assert f"{row.rating.rating:.0f}" in html
        assert f"{row.record.wins}-{row.record.losses}-{row.record.draws}" in html
    assert "No battle has been judged yet" in html
    assert 'src="/static/sort.js"' in html
    # Last battle: alpha's latest global battle closed on the day of the XSS battle.
    assert "2025-10-15" in html


async def test_every_response_carries_the_security_headers(client):
    for path in ("/", "/api/models.json", "/static/site.css", "/no/such/page", "/avatars/a/b.png"):
        response = await client.get(path)
        assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "no-referrer"


async def test_pages_hold_no_inline_script(client, arena):
    for path in ("/", f"/models/{ALPHA}", f"/battles/{arena.xss}", f"/servers/{PUBLIC_GUILD}"):
        html = await (await client.get(path)).text()
        scripts = re.findall(r"<script\b[^>]*>", html)
        assert scripts == ['<script src="/static/sort.js" defer>'], path
        assert not re.search(r"\son[a-z]+=", html.replace(" onerror=alert(1)", "")), path


async def test_the_leaderboard_json_matches_the_standings(client, data):
    response = await client.get("/api/leaderboard.json?board=crowd&scope=global")
    assert response.status == 200
    body = await response.json()
    assert body["board"] == "crowd" and body["scope"] == "global"
    rows = (await data.board(Board.CROWD, None)).rows
    assert [m["model"] for m in body["models"]] == [row.model for row in rows]
    for entry, row in zip(body["models"], rows, strict=True):
        assert set(entry) == LEADERBOARD_FIELDS
        assert entry["rank"] == row.rank
        assert entry["rating"] == round(row.rating.rating, 2)
        assert entry["low"] < entry["rating"] < entry["high"]
        assert (entry["wins"], entry["losses"], entry["draws"]) == (
            row.record.wins,
            row.record.losses,
            row.record.draws,
        )
        assert entry["votes"] == row.record.votes


async def test_the_global_board_counts_private_servers_and_leaves_out_opted_out_ones(client):
    body = await (await client.get("/api/leaderboard.json")).json()
    by_model = {m["model"]: m for m in body["models"]}
    # alpha: public 4-1-0, private 0-1-1; the opted-out server's loss is left out.
    record = (by_model[ALPHA]["wins"], by_model[ALPHA]["losses"], by_model[ALPHA]["draws"])
    assert record == (4, 2, 1)
    assert by_model[PRIVATE_ONLY]["battles"] == 2


async def test_a_public_server_scope_and_the_judges_board(client):
    body = await (await client.get(f"/api/leaderboard.json?scope={PUBLIC_GUILD}")).json()
    assert body["scope"] == str(PUBLIC_GUILD)
    assert {m["model"] for m in body["models"]} == {ALPHA, BETA, GAMMA}
    judges = await (await client.get("/api/leaderboard.json?board=judges")).json()
    assert judges == {"board": "judges", "scope": "global", "models": []}


async def test_bad_leaderboard_parameters(client):
    private = await client.get(f"/api/leaderboard.json?scope={PRIVATE_GUILD}")
    assert private.status == 404
    unknown = await client.get("/api/leaderboard.json?scope=12345")
    assert unknown.status == 404
    assert await private.json() == await unknown.json()  # private and absent look alike
    for query in ("board=both", "scope=-1", "scope=global2", "scope=%F0%9F%98%80"):
        response = await client.get(f"/api/leaderboard.json?{query}")
        assert response.status == 400, query
        assert "error" in await response.json()


async def test_a_battle_page_shows_the_transcript_as_text(client, arena):
    response = await client.get(f"/battles/{arena.xss}")
    assert response.status == 200
    html = await response.text()
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#39;verse&#39;)&lt;/script&gt;" in html
    assert "&lt;/textarea&gt;&lt;img src=x onerror=alert(1)&gt;" in html
    assert 'href="javascript:' not in html
    assert "W" * 5000 in html
    assert "rhymes &amp; &lt;tags&gt;" in html
    assert "2 – 1" in html and f"{ALPHA} won" in html
    assert "No judges' verdict on this battle" in html


async def test_verses_keep_their_line_breaks(client, arena):
    html = await (await client.get(f"/battles/{arena.public[0]}")).text()
    assert f"verse 0 by {ALPHA}\nsecond line" in html
    assert "Final round!" in html


async def test_the_markdown_download_is_the_exact_transcript(client, arena):
    response = await client.get(f"/battles/{arena.xss}.md")
    assert response.status == 200
    assert "attachment" in response.headers["Content-Disposition"]
    turns = await arena.store.turns(arena.xss)
    assert await response.text() == transcript_of(Battle(ALPHA, GAMMA, rounds=2), turns)


async def test_no_verdict_file_without_judges(client, arena):
    response = await client.get(f"/battles/{arena.xss}.yml")
    assert response.status == 404


async def test_hidden_battles_answer_404(client, arena):
    hidden = [*arena.private, arena.blind_voting, 999_999, 10**30]
    for battle_id in hidden:
        for suffix in ("", ".md", ".yml"):
            response = await client.get(f"/battles/{battle_id}{suffix}")
            assert response.status == 404, (battle_id, suffix)
            assert "Traceback" not in await response.text()


async def test_a_closed_blind_battle_is_shown_with_its_names_revealed(client, arena):
    html = await (await client.get(f"/battles/{arena.blind_closed}")).text()
    assert BETA in html and GAMMA in html and "MC A" in html and "MC B" in html


async def test_a_battle_that_ended_without_a_vote_names_no_one(client, arena):
    html = await (await client.get(f"/battles/{arena.no_contest}")).text()
    assert "No contest" in html
    assert "stopped by" not in html and "somebody" not in html


async def test_battles_jsonl_holds_public_closed_battles_paged_by_id(client, arena):
    response = await client.get("/api/battles.jsonl?limit=3")
    assert response.status == 200
    lines = (await response.text()).splitlines()
    first_page = [json.loads(line) for line in lines]
    assert len(first_page) == 3
    assert f"after={first_page[-1]['id']}" in response.headers["Link"]
    rest = await client.get(f"/api/battles.jsonl?after={first_page[-1]['id']}&limit=1000")
    assert "Link" not in rest.headers
    battles = first_page + [json.loads(line) for line in (await rest.text()).splitlines()]
    assert [b["id"] for b in battles] == sorted([*arena.public, *arena.opted_out])
    xss = next(b for b in battles if b["id"] == arena.xss)
    assert xss["model_a"] == ALPHA and xss["model_b"] == GAMMA
    assert xss["votes"] == {"a": 2, "b": 1}
    assert xss["verdict"] is None
    assert xss["turns"][0] == {"speaker": ALPHA, "text": XSS_VERSE}
    assert [t["speaker"] for t in xss["turns"]] == [ALPHA, GAMMA, "system", ALPHA, GAMMA]


async def test_bad_paging_parameters(client):
    for query in ("after=abc", "after=-1", "limit=0", "limit=1001", "after=1e3"):
        response = await client.get(f"/api/battles.jsonl?{query}")
        assert response.status == 400, query


async def test_the_models_json_lists_both_boards(client):
    body = await (await client.get("/api/models.json")).json()
    models = {m["model"]: m for m in body["models"]}
    assert set(models) == {ALPHA, BETA, GAMMA, PRIVATE_ONLY}
    alpha = models[ALPHA]
    assert alpha["vendor"] == "alpha" and alpha["page"] == "/models/alpha/one"
    assert alpha["avatar"] == "/avatars/alpha/one.png"
    assert set(alpha["crowd"]) == LEADERBOARD_FIELDS and alpha["judges"] is None


async def test_a_model_page_keeps_the_slash_in_its_id(client, arena):
    response = await client.get(f"/models/{ALPHA}")
    assert response.status == 200
    html = await response.text()
    assert "Head to head" in html
    # Against beta on the global board: 2-1 in the public server, a draw in the private one.
    row = re.search(r'data-value="beta/two".*?</tr>', html, re.S).group(0)
    assert "2-1-1" in row
    assert f'href="/battles/{arena.xss}"' in html
    assert f'href="/battles/{arena.private[0]}"' not in html
    for missing in ("/models/nobody/here", "/models/alpha", f"/models/{ALPHA}/extra"):
        assert (await client.get(missing)).status == 404


async def test_server_pages_exist_only_for_public_servers(client, arena):
    response = await client.get(f"/servers/{PUBLIC_GUILD}")
    assert response.status == 200
    html = await response.text()
    assert f'href="/battles/{arena.xss}"' in html
    for path in (f"/servers/{PRIVATE_GUILD}", "/servers/1", "/servers/abc", "/servers/" + "9" * 30):
        assert (await client.get(path)).status == 404, path


async def add_tournament(store, guild, tournament_format=TournamentFormat.SINGLE, battles=()):
    """Alpha, beta, gamma: alpha sits out, beta beats gamma, alpha beats beta in the final."""
    stored = await store.create_tournament(
        NewTournament(guild, 1, 2, tournament_format, (ALPHA, BETA, GAMMA), 1), START
    )
    first, final = (*battles, None, None)[:2]
    await store.plan_round(stored.id, 0, ALPHA, [Pairing(0, BETA, GAMMA)])
    if first is not None:
        await store.set_match_battle(stored.id, 0, 0, first)
    await store.decide_match(stored.id, 0, 0, BETA, (1, 1), f"A draw, 1–1: `{BETA}` advances.")
    await store.plan_round(stored.id, 1, None, [Pairing(0, ALPHA, BETA)])
    if final is not None:
        await store.set_match_battle(stored.id, 1, 0, final)
    await store.decide_match(stored.id, 1, 0, ALPHA, (3, 2))
    await store.finish_tournament(stored.id, ALPHA)
    return stored.id


async def test_a_public_tournament_shows_its_bracket_with_links_and_tiers(client, arena):
    store = arena.store
    tournament_id = await add_tournament(
        store, PUBLIC_GUILD, battles=(arena.public[1], arena.public[3])
    )
    response = await client.get(f"/tournaments/{tournament_id}")
    assert response.status == 200
    html = await response.text()
    assert f"Tournament {tournament_id}: 3 models" in html and "Single elimination" in html
    assert f'href="/battles/{arena.public[1]}"' in html
    assert f'href="/battles/{arena.public[3]}"' in html
    assert "advances without a battle" in html and "A draw, 1–1" in html
    tiers = html[html.index('id="tiers"') :]
    assert tiers.index(ALPHA) < tiers.index(BETA) < tiers.index(GAMMA)
    assert ">SSS<" in tiers and ">SS<" in tiers and ">S<" in tiers
    # Where and who stay private, even on a public server's page.
    assert str(PUBLIC_STARTER) not in html and str(PUBLIC_CHANNEL) not in html


async def test_a_swiss_tournament_shows_its_table(client, arena):
    tournament_id = await add_tournament(arena.store, PUBLIC_GUILD, TournamentFormat.SWISS)
    html = await (await client.get(f"/tournaments/{tournament_id}")).text()
    assert "Swiss" in html and 'id="table"' in html and "sits out" in html
    table = html[html.index('id="table"') :]
    assert table.index(ALPHA) < table.index(GAMMA)


async def test_tournament_pages_exist_only_for_public_servers(client, arena):
    private = await add_tournament(arena.store, PRIVATE_GUILD)
    for path in (f"/tournaments/{private}", "/tournaments/999", "/tournaments/abc"):
        response = await client.get(path)
        assert response.status == 404, path
        assert "No public tournament has that id." in await response.text()


async def test_unknown_paths_get_a_page_not_a_traceback(client):
    for path in ("/nope", "/battles/abc", "/battles/", "/charts/pie.svg", "/static/../app.py"):
        response = await client.get(path)
        assert response.status == 404, path
        text = await response.text()
        assert "Traceback" not in text and 'File "' not in text
    response = await client.post("/")
    assert response.status == 405


async def test_health(client):
    response = await client.get("/healthz")
    assert response.status == 200
    assert (await response.json())["status"] == "ok"


async def test_after_a_vote_the_board_is_redrawn_in_the_background(client, site, arena):
    def gamma_wins(board):
        return next(m["wins"] for m in board["models"] if m["model"] == GAMMA)

    before = await (await client.get("/api/leaderboard.json")).json()
    await client.get("/")
    await add_battle(arena.store, PUBLIC_GUILD, GAMMA, ALPHA, (7, 0), START + 8 * DAY)
    # The first reader after the vote gets the board as it was (no wait for the refit)...
    assert await (await client.get("/api/leaderboard.json")).json() == before
    await site.settle()
    # ...and once the refit is done, everyone gets the new one, on the page too.
    after = await (await client.get("/api/leaderboard.json")).json()
    assert gamma_wins(after) == gamma_wins(before) + 1
    await client.get("/")
    await site.settle()
    gamma = next(m for m in after["models"] if m["model"] == GAMMA)
    page = await (await client.get("/")).text()
    assert f"{gamma['wins']}-{gamma['losses']}-{gamma['draws']}" in page


async def test_a_failure_inside_a_page_is_a_plain_500(client, arena):
    await arena.store.close()  # every query now fails
    for path, kind in (("/battles/1", "text/html"), ("/api/battles.jsonl", "application/json")):
        response = await client.get(path)
        assert response.status == 500
        assert response.content_type == kind
        text = await response.text()
        assert "Something went wrong on our side" in text
        assert "Traceback" not in text and "sqlite" not in text.lower()
    assert (await client.get("/healthz")).status == 503
