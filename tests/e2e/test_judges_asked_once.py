"""A restart during a judged battle's vote asks again only the judges who had not answered:
each judge's answer is kept the moment it comes in (unshown and unrated until the vote closes)."""

from __future__ import annotations

import asyncio
from collections import Counter

from tests.e2e.conftest import Arena, embed_text, eventually, is_vote
from tests.e2e.test_judges import JUDGES, PANEL_ENV, QWEN, is_verdict, verdicts
from tests.fakes.model_server import Ruling


def judges_asked(arena: Arena) -> Counter[str]:
    return Counter(r.model for r in arena.models.chat_requests() if r.is_judge)


async def test_a_restart_during_the_vote_asks_only_the_judges_who_had_not_answered(arena: Arena):
    bot = await arena.start_bot(**PANEL_ENV)
    arena.models.script_judge(JUDGES[0], Ruling(statement="Kept from before the restart."))
    arena.models.script_judge(JUDGES[2], Ruling(latency=30))  # still thinking at the restart
    await arena.battle(judges=True)
    await arena.wait_for(is_vote)
    await eventually(lambda: sum(judges_asked(arena).values()) == 3)
    await asyncio.sleep(0.5)  # two judges have answered; the third is still at work
    await arena.stop_bot(bot)

    restarted = await arena.start_bot(**PANEL_ENV)
    await eventually(lambda: bool(restarted.arena.votes))
    # Only the judge who had not answered is asked again, at once.
    await eventually(lambda: sum(judges_asked(arena).values()) == 4)
    [vote] = [m for m in arena.bot_messages() if is_vote(m)]
    await arena.double.react(arena.alice, vote, "🅰️")
    await arena.double.invoke_command(arena.alice, arena.channel, "battle-stop")
    verdict = await arena.wait_for(is_verdict)
    text = embed_text(verdict)
    assert "Kept from before the restart." in text
    assert f"**{QWEN.replace('-', chr(92) + '-')}** 3 – 0" in text
    assert judges_asked(arena) == Counter({JUDGES[0]: 1, JUDGES[1]: 1, JUDGES[2]: 2})
    assert len(verdicts(arena)) == 1
    # The verdict's ballots and the judges' board are as if nobody had restarted.
    stored = await restarted.store.stored_verdict(1)
    assert [ballot.judge for ballot in stored.ballots] == list(JUDGES)
