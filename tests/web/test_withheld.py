"""A battle that ended at a withheld verse: its page, its transcript (.md), the open data and
its track show the withheld line where the verse would have been, and never the verse."""

from __future__ import annotations

from bot.engine.battle import Battle, Side, Slot
from bot.engine.content_filter import Category, withheld_line, withheld_reason
from bot.store import NewBattle, StoredWithheldVerse
from tests.web.conftest import ALPHA, BETA, PUBLIC_CHANNEL, PUBLIC_GUILD, PUBLIC_STARTER, START

WITHHELD_TEXT = "the withheld verse, which only the server's admins may read"


async def withheld_battle(store) -> int:
    """Written as the bot writes one: the verses posted, the line in the withheld verse's place
    (a host's turn), then the battle ended as a no contest with the verse kept."""
    battle = Battle(ALPHA, BETA, rounds=2)  # a blind one is never public unvoted
    stored = await store.create_battle(
        NewBattle(PUBLIC_GUILD, PUBLIC_CHANNEL, PUBLIC_STARTER, battle), now=START + 9 * 86_400
    )
    plan = battle.plan()
    await store.add_turn(stored.id, 0, battle.turn(plan[0], "an opening verse, shown"))
    name = battle.stage_name(Side.B)
    line = withheld_line(name, Category.HATE)
    await store.add_turn(stored.id, 1, battle.turn(Slot(None, 1), line))
    kept = StoredWithheldVerse(
        stored.id, Side.B, BETA, 1, Category.HATE, WITHHELD_TEXT, START + 9 * 86_400
    )
    assert await store.withhold_verse(kept, withheld_reason(name, Category.HATE))
    return stored.id


async def test_no_page_nor_track_carries_a_withheld_verse(client, arena, track_maker):
    battle_id = await withheld_battle(arena.store)
    spoken: list[str] = []
    make = track_maker.make

    async def recording_make(model_a, model_b, turns, topic=None):
        spoken.extend(turn.text for turn in turns)
        return await make(model_a, model_b, turns, topic)

    track_maker.make = recording_make
    line = f"{BETA}&#39;s verse was withheld by the content filter (hate)."
    for path in (f"/battles/{battle_id}", f"/battles/{battle_id}.md", "/api/battles.jsonl"):
        response = await client.get(path)
        assert response.status == 200, path
        text = await response.text()
        assert WITHHELD_TEXT not in text and "which only the server" not in text, path
    page = await (await client.get(f"/battles/{battle_id}")).text()
    assert line in page and "an opening verse, shown" in page
    assert (await client.get(f"/battles/{battle_id}.ogg")).status == 200
    assert spoken == [
        "an opening verse, shown",
        f"{BETA}'s verse was withheld by the content filter (hate).",
    ]
    markdown = await (await client.get(f"/battles/{battle_id}.md")).text()
    assert f"{BETA}'s verse was withheld by the content filter (hate)." in markdown
