"""The judges' panel in Discord, as members see it: the real bot against the Discord double, and
the model server answering the judges' requests.

A judged battle's verdict comes after the crowd's vote closes, beside the results; the judges'
board and /battle-stats count it; /transcript attaches it as YAML; a blind battle never shows a
judge a model id; and a restart between the vote closing and the verdict posts it exactly once.
"""

from __future__ import annotations

import asyncio

import yaml

from bot.engine.battle import Battle, Side
from bot.engine.transcript import transcript_of
from bot.store.verdicts import VerdictState
from tests.e2e.conftest import Arena, embed_text, eventually, is_results, is_vote
from tests.e2e.test_leaderboard import battle_and_vote
from tests.fakes.discord_double import Permission
from tests.fakes.model_server import Ruling, Verse, default_statement

QWEN, GROK = "qwen/qwen-max", "x-ai/grok-2"
JUDGES = ("openai/gpt-4o", "anthropic/claude-3.5-sonnet", "mistralai/mistral-large")
PANEL_ENV = {"JUDGE_MODELS": ",".join(JUDGES)}


def is_verdict(message: dict) -> bool:
    return "⚖️ Judges' verdict" in embed_text(message)


def verdicts(arena: Arena) -> list[dict]:
    return [m for m in arena.bot_messages() if is_verdict(m)]


async def stored_results(bot, battle_id: int) -> None:
    """Until the results message's id is stored (after it shows in the channel)."""
    async with asyncio.timeout(5):
        while (await bot.store.battle(battle_id)).results_message_id is None:
            await asyncio.sleep(0.02)


async def test_a_judged_battle_gets_its_verdict_after_the_vote(arena: Arena):
    await arena.start_bot(**PANEL_ENV)
    arena.models.script_judge(JUDGES[2], Ruling(side=1, statement="Grok's flow won it."))
    await arena.battle(judges=True)
    vote = await arena.wait_for(is_vote)
    # Every judge is asked while the vote is open, all at once.
    await eventually(lambda: sum(r.is_judge for r in arena.models.chat_requests()) == 3)
    judge_requests = [r for r in arena.models.chat_requests() if r.is_judge]
    assert sorted(r.model for r in judge_requests) == sorted(JUDGES)
    assert (
        max(r.received_at for r in judge_requests) - min(r.received_at for r in judge_requests)
        < 0.5
    )
    await asyncio.sleep(0.3)  # The judges have answered; the verdict waits for the vote.
    assert verdicts(arena) == []
    for voter, emoji in ((arena.alice, "🅰️"), (arena.bob, "🅰️"), (arena.guild.add_member("c"), "🅱️")):
        await arena.double.react(voter, vote, emoji)
    await arena.double.invoke_command(arena.alice, arena.channel, "battle-stop")
    results = await arena.wait_for(is_results)
    verdict = await arena.wait_for(is_verdict)
    messages = arena.bot_messages()
    assert messages.index(results) < messages.index(verdict)
    text = embed_text(verdict)
    assert f"**{QWEN.replace('-', chr(92) + '-')}** 2 – 1" in text
    assert "qwen/qwen-max wins 2-1" in text and "agreed with the crowd" in text
    assert "Grok's flow won it." in text and default_statement(QWEN) in text
    assert "same vendor" not in text

    # The judges' request holds the battle exactly as /transcript exports it.
    got = await arena.double.invoke_command(
        arena.bob, arena.channel, "transcript", {"battle_id": 1}
    )
    await got.response()
    await eventually(lambda: bool(arena.double.messages(arena.channel.id)[-1].get("files")))
    files = {
        f["filename"]: f["data"].decode()
        for f in arena.double.messages(arena.channel.id)[-1]["files"]
    }
    assert set(files) == {"battle-1.md", "battle-1.yml"}
    assert all(r.messages[1]["content"] == files["battle-1.md"] for r in judge_requests)
    assert yaml.safe_load(files["battle-1.yml"]) == {
        "closing_statements": {
            JUDGES[0]: default_statement(QWEN),
            JUDGES[1]: default_statement(QWEN),
            JUDGES[2]: "Grok's flow won it.",
        },
        "score": {QWEN: 2, GROK: 1},
    }

    board = await arena.double.invoke_command(
        arena.bob, arena.channel, "leaderboard", {"board": "judges"}
    )
    shown = (await board.response())["data"]["embeds"][0]
    assert "judges" in shown["title"]
    lines = shown["description"].splitlines()
    assert lines[0].startswith("`#1  ` **qwen/qwen-max**") and "2 votes" in lines[0]
    assert "0-1-0 · 1 battle · 1 vote" in lines[1]
    crowd = await arena.double.invoke_command(arena.bob, arena.channel, "leaderboard")
    assert "judges" not in (await crowd.response())["data"]["embeds"][0]["title"]

    stats = await arena.double.invoke_command(arena.bob, arena.channel, "battle-stats")
    await stats.response()
    answer = await stats.wait_followup()
    stats_text = embed_text(answer)
    assert "Panel picked the crowd's winner:** 100% (" in stats_text and "1 of 1)" in stats_text
    assert f"`{JUDGES[2]}` crowd 0% (" in stats_text
    assert "Abstentions:** 0% (" in stats_text
    assert len(answer["embeds"][0]["fields"]) == 4  # this server and global, each with judges


async def test_a_blind_battle_shows_the_judges_no_model_id(arena: Arena):
    bot = await arena.start_bot(**PANEL_ENV)
    # Verses that do not name their own models, so that any id a judge sees came from the bot.
    arena.models.script(QWEN, Verse("Masked on the mic, my bars do the talking"))
    arena.models.script(GROK, Verse("No name on my chain, just the rhymes I am walking"))
    await battle_and_vote(arena, bot, arena.channel, 1, 0, judges=True, blind=True)
    verdict = await arena.wait_for(is_verdict)
    judge_requests = [r for r in arena.models.chat_requests() if r.is_judge]
    assert len(judge_requests) == len(JUDGES)
    stored = await bot.store.battle(1)
    for request in judge_requests:
        for message in request.messages:
            for model in (QWEN, GROK):
                assert model not in message["content"]
        schema = request.response_format["json_schema"]["schema"]
        assert schema["properties"]["winner"]["enum"] == ["MC A", "MC B"]
    assert judge_requests[0].messages[1]["content"].startswith("# MC A v MC B")
    # Once the vote has closed the verdict names the models.
    assert stored.battle.model(Side.A) in embed_text(verdict).replace("\\", "")


async def test_the_judges_settings_and_the_battle_option(arena: Arena):
    bot = await arena.start_bot(**PANEL_ENV)
    admin = arena.guild.add_member("admin", permissions=Permission.MANAGE_GUILD)
    too_many = ",".join(["gpt-4o", "claude", "mistral-large", "grok", "qwen-max", "llama-3-70b"])
    refused = await arena.double.invoke_command(
        admin,
        arena.channel,
        "battle-settings",
        {"judge_models": too_many + ",deepseek-r1,gemini-pro-1.5"},
    )
    assert (await refused.response())["data"]["content"] == "A panel has at most 7 judges."
    changed = await arena.double.invoke_command(
        admin,
        arena.channel,
        "battle-settings",
        {"judges": True, "judge_models": "gpt-4o, claude", "judge_recusal": True},
    )
    shown = embed_text((await changed.response())["data"])
    assert "Judges ✏️ yes" in shown and "Judge recusal ✏️ yes" in shown
    assert "openai/gpt-4o, anthropic/claude-3.5-sonnet" in shown

    # On by the server's setting; the server's own panel, without the contestants' labs.
    await battle_and_vote(arena, bot, arena.channel, 1, 0, model_a="gpt-4o", model_b="grok")
    await arena.wait_for(is_verdict)
    asked = [r.model for r in arena.models.chat_requests() if r.is_judge]
    assert asked == ["anthropic/claude-3.5-sonnet"]
    # Off for one battle by the option.
    await battle_and_vote(arena, bot, arena.channel, 1, 0, judges=False)
    await asyncio.sleep(0.3)
    assert len(verdicts(arena)) == 1
    assert await bot.store.verdict_status(2) is None


async def test_a_restart_between_the_vote_and_the_verdict_posts_it_once(arena: Arena):
    bot = await arena.start_bot(**PANEL_ENV)
    for judge in JUDGES:  # The judges take longer than the vote.
        arena.models.script_judge(judge, Ruling(latency=30))
    await battle_and_vote(arena, bot, arena.channel, 0, 2, judges=True)
    await stored_results(bot, 1)
    assert verdicts(arena) == []
    await arena.stop_bot(bot)

    restarted = await arena.start_bot(**PANEL_ENV)
    verdict = await arena.wait_for(is_verdict)
    assert "disagreed with the crowd" in embed_text(verdict)
    async with asyncio.timeout(5):
        while (status := await restarted.store.verdict_status(1)).state is VerdictState.STORED:
            await asyncio.sleep(0.02)
    assert status.state is VerdictState.POSTED
    assert status.message_id == int(verdict["id"])
    # Judged again after the restart: each judge was asked twice in all.
    asked = [r.model for r in arena.models.chat_requests() if r.is_judge]
    assert sorted(asked) == sorted(JUDGES * 2)
    assert sum(is_results(m) and not is_verdict(m) for m in arena.bot_messages()) == 1

    await arena.stop_bot(restarted)
    again = await arena.start_bot(**PANEL_ENV)
    await asyncio.sleep(0.5)
    assert len(verdicts(arena)) == 1
    assert (await again.store.verdict_status(1)).state is VerdictState.POSTED
    turns = await again.store.turns(1)
    assert arena.models.chat_requests()[-1].messages[1]["content"] == transcript_of(
        Battle(QWEN, GROK, 1), turns
    )
