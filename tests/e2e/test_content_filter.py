"""The content filter in Discord, as a channel sees it: a withheld verse is never posted, one line
stands in its place and the battle is a no contest; ordinary profanity stays; ``strict`` masks it;
the moderation endpoint (a local one) flags what the word list cannot see; when it is down the
word list decides, and one log line says so. /battle-stats counts each model's withheld verses."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest

from bot.engine.battle import Side
from bot.engine.content_filter import Category
from bot.engine.lifecycle import BattleState
from tests.e2e.conftest import Arena, embed_text, eventually, is_vote
from tests.fakes.filtered_words import a_listed_slur
from tests.fakes.model_server import Verse
from tests.fakes.moderation_server import ModerationServer

QWEN, GROK = "qwen/qwen-max", "x-ai/grok-2"
HATE = "a verse of hate only the endpoint sees"
KEY = "moderation-key"


@pytest.fixture
def moderation() -> Iterator[ModerationServer]:
    with ModerationServer(api_key=KEY) as server:
        server.flag(HATE, "hate")
        yield server


def endpoint_env(server: ModerationServer) -> dict[str, str]:
    return {"MODERATION_BASE_URL": server.base_url, "MODERATION_API_KEY": KEY}


def contents(arena: Arena) -> str:
    return "\n".join(m["content"] + embed_text(m) for m in arena.double.messages(arena.channel.id))


def is_no_contest(message: dict[str, Any]) -> bool:
    return "No contest" in embed_text(message)


async def set_filter(arena: Arena, level: str) -> None:
    shown = await arena.double.invoke_command(
        arena.guild.owner, arena.channel, "battle-settings", {"content_filter": level}
    )
    await shown.response()


async def test_a_verse_with_a_slur_is_withheld_and_the_battle_is_a_no_contest(arena: Arena):
    bot = await arena.start_bot()
    slur = a_listed_slur()
    arena.models.script(QWEN, Verse("my opening verse, clean and mean"))
    arena.models.script(GROK, Verse(f"you {slur}, I'm done with you"))
    started = await arena.battle(rounds=2, blind=True)
    assert "is on" in (await started.wait_followup())["content"]
    notice = await arena.wait_for(is_no_contest)
    assert embed_text(notice).strip() == "⚠️ No contest, nothing is rated."

    posted = contents(arena)
    assert slur not in posted.lower() and "I'm done with you" not in posted
    lines = re.findall(r"MC [AB]'s verse was withheld by the content filter \(slur\)\.", posted)
    assert len(lines) == 1  # one line in its place, naming the MC as the blind battle does
    assert not any(is_vote(m) for m in arena.bot_messages())

    stored = await bot.store.battle(1)
    assert stored.state is BattleState.NO_CONTEST
    assert stored.reason == lines[0].removesuffix(".")
    # The sides of a blind battle are drawn: grok opened it or answered.
    side = Side.A if stored.battle.model_a == GROK else Side.B
    assert lines[0].startswith(f"MC {side.name}'s")
    asked = [request.model for request in arena.models.chat_requests()]
    assert asked == ([GROK] if side is Side.A else [QWEN, GROK])  # nothing asked past it
    [withheld] = await bot.store.withheld_verses(1)
    assert (withheld.model, withheld.side, withheld.category) == (GROK, side, Category.SLUR)
    assert withheld.text == f"you {slur}, I'm done with you"
    # The transcript keeps the line where the verse would have been, and not the verse.
    turns = await bot.store.turns(1)
    assert turns[-1].side is None and turns[-1].text == lines[0]
    assert all(slur not in turn.text for turn in turns)

    stats = await arena.double.invoke_command(arena.bob, arena.channel, "battle-stats")
    await stats.response()
    shown = (await stats.wait_followup())["embeds"][-1]
    assert shown["title"] == "🛡️ Content filter: verses withheld, by model"
    assert [f["value"] for f in shown["fields"]] == [f"`{GROK}` · withheld 1"] * 2


async def test_ordinary_profanity_stays_by_default(arena: Arena):
    await arena.start_bot()
    arena.models.script(QWEN, Verse("Fuck your rhymes, this shit is weak"))
    started = await arena.battle()
    assert "is on" in (await started.wait_followup())["content"]
    await arena.wait_for(is_vote)
    assert "Fuck your rhymes, this shit is weak" in contents(arena)


async def test_strict_masks_profanity_and_the_battle_goes_on(arena: Arena):
    bot = await arena.start_bot()
    await set_filter(arena, "strict")
    arena.models.script(QWEN, Verse("Fuck your rhymes, this shit is weak"))
    started = await arena.battle()
    assert "is on" in (await started.wait_followup())["content"]
    await arena.wait_for(is_vote)
    posted = contents(arena)
    assert "•••• your rhymes, this •••• is weak" in posted and "shit" not in posted
    assert (await bot.store.turns(1))[0].text == "•••• your rhymes, this •••• is weak"


async def test_off_shows_verses_as_written(arena: Arena):
    await arena.start_bot()
    await set_filter(arena, "off")
    slur = a_listed_slur()
    arena.models.script(GROK, Verse(f"unfiltered {slur}"))
    started = await arena.battle()
    assert "is on" in (await started.wait_followup())["content"]
    await arena.wait_for(is_vote)
    assert f"unfiltered {slur}" in contents(arena)


async def test_the_endpoint_withholds_what_the_word_list_cannot_see(
    arena: Arena, moderation: ModerationServer
):
    bot = await arena.start_bot(**endpoint_env(moderation))
    arena.models.script(QWEN, Verse(f"{HATE}, every word of it"))
    started = await arena.battle()
    assert "is on" in (await started.wait_followup())["content"]
    await arena.wait_for(is_no_contest)
    posted = contents(arena)
    assert f"{QWEN}'s verse was withheld by the content filter (hate)." in posted
    assert HATE not in posted
    assert moderation.requests() == [f"{HATE}, every word of it"]
    [withheld] = await bot.store.withheld_verses(1)
    assert withheld.category is Category.HATE


async def test_with_the_endpoint_down_the_word_list_decides_and_the_battle_goes_on(
    arena: Arena, moderation: ModerationServer, caplog
):
    moderation.down = True
    await arena.start_bot(**endpoint_env(moderation))
    arena.models.script(QWEN, Verse(f"{HATE}, every word of it"))
    with caplog.at_level(logging.WARNING, logger="bot.services.moderation.screen"):
        started = await arena.battle()
        assert "is on" in (await started.wait_followup())["content"]
        await arena.wait_for(is_vote)
    assert f"{HATE}, every word of it" in contents(arena)  # the word list saw nothing
    outage = [r.getMessage() for r in caplog.records if "offline word list decided" in r.message]
    assert (
        outage
        == [
            f"Moderation endpoint {moderation.base_url}: answered 500; "
            "the offline word list decided this verse alone"
        ]
        * 2
    )  # one line for each verse

    await eventually(lambda: len(moderation.requests()) == 4)  # each verse tried twice
