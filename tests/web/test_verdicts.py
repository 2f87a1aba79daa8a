"""The judges' verdict on the web: a battle's page, its .yml download and /api/battles.jsonl."""

from __future__ import annotations

import json

import yaml

from bot.engine.battle import Side
from bot.engine.verdicts import Ballot, Verdict, VerdictFile
from tests.web.conftest import ALPHA, GAMMA

STATEMENT = "Alpha & <b>friends</b> flipped every line."


async def judge(store, battle_id, *ballots):
    await store.mark_judged(battle_id)
    assert await store.store_verdict(battle_id, Verdict(ALPHA, GAMMA, ballots))


async def test_a_judged_battle_shows_its_verdict_everywhere(client, arena):
    verdict_ballots = (
        Ballot("x-ai/judge", Side.A, STATEMENT),
        Ballot("openai/judge", Side.B, "Gamma's rebuttals landed."),
        Ballot.abstention("google/judge", "no answer"),
    )
    await judge(arena.store, arena.xss, *verdict_ballots)
    expected = VerdictFile.of(Verdict(ALPHA, GAMMA, verdict_ballots))

    html = await (await client.get(f"/battles/{arena.xss}")).text()
    assert "No judges' verdict on this battle" not in html
    assert "Alpha &amp; &lt;b&gt;friends&lt;/b&gt;" in html and "x-ai/judge" in html
    download = await client.get(f"/battles/{arena.xss}.yml")
    assert download.status == 200
    text = await download.text()
    assert text == expected.to_yaml()
    assert yaml.safe_load(text) == {
        "closing_statements": {
            "x-ai/judge": STATEMENT,
            "openai/judge": "Gamma's rebuttals landed.",
        },
        "score": {ALPHA: 1, GAMMA: 1},
    }
    lines = (await (await client.get("/api/battles.jsonl?limit=1000")).text()).splitlines()
    listed = next(b for b in map(json.loads, lines) if b["id"] == arena.xss)
    assert listed["verdict"] == {
        "score": {ALPHA: 1, GAMMA: 1},
        "closing_statements": dict(expected.closing_statements),
    }


async def test_a_battle_every_judge_abstained_on_has_no_verdict(client, arena):
    await judge(arena.store, arena.xss, Ballot.abstention("x-ai/judge", "timed out"))
    assert (await client.get(f"/battles/{arena.xss}.yml")).status == 404
    html = await (await client.get(f"/battles/{arena.xss}")).text()
    assert "No judges' verdict on this battle" in html
