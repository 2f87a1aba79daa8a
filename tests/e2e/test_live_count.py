"""Closing a vote trusts the live count from reaction events when nothing can have been missed,
and pages through Discord's reaction lists otherwise."""

from __future__ import annotations

from bot.engine.battle import Side
from bot.engine.votes import LiveTally, Voter
from tests.e2e.conftest import Arena, embed_text, eventually, is_results, is_vote


def reaction_pages(arena: Arena) -> int:
    return sum(1 for r in arena.double.requests if r.method == "GET" and "/reactions/" in r.path)


async def open_vote(arena: Arena):
    bot = await arena.start_bot()
    await arena.battle()
    vote = await arena.wait_for(is_vote)
    await eventually(lambda: bool(bot.arena.votes))
    await eventually(lambda: len(arena.double.reactions(vote, "🅰️")) == 1)
    return bot, vote


async def close(arena: Arena) -> str:
    await arena.double.invoke_command(arena.alice, arena.channel, "battle-stop")
    return embed_text(await arena.wait_for(is_results))


async def test_an_intact_gateway_closes_from_the_live_count_without_paging(arena: Arena):
    bot, vote = await open_vote(arena)
    carol, otherbot = arena.guild.add_member("carol"), arena.guild.add_member("ob", bot=True)
    await arena.double.react(arena.alice, vote, "🅱️")
    await arena.double.react(arena.bob, vote, "🅱️")
    await arena.double.react(carol, vote, "🅰️")
    await arena.double.react(carol, vote, "🅱️")  # both sides: counts for neither
    await arena.double.react(otherbot, vote, "🅰️")  # bots never count
    await arena.double.react(arena.alice, vote, "🔥")  # other emoji never count
    text = await close(arena)
    assert "x-ai/grok-2 wins, 2–0" in text
    assert reaction_pages(arena) == 0
    stored = await bot.store.battle(1)
    assert (stored.votes_a, stored.votes_b) == (0, 2)


async def test_a_resumed_session_misses_nothing_so_the_live_count_still_serves(arena: Arena):
    _, vote = await open_vote(arena)
    async with arena.double.outage():
        await arena.double.react(arena.alice, vote, "🅰️")  # replayed on RESUME
    await arena.double.react(arena.bob, vote, "🅰️")
    text = await close(arena)
    assert "qwen/qwen-max wins, 2–0" in text
    assert reaction_pages(arena) == 0


async def test_a_lost_session_means_a_full_recount(arena: Arena):
    _, vote = await open_vote(arena)
    identifies = len(arena.double.identifies)
    await arena.double.invalidate_session(resumable=False)
    await eventually(lambda: len(arena.double.identifies) > identifies, timeout=15)
    await arena.double.wait_ready()
    await arena.double.react(arena.alice, vote, "🅰️")
    text = await close(arena)
    assert "qwen/qwen-max wins, 1–0" in text
    assert reaction_pages(arena) >= 1


async def test_reactions_the_events_never_showed_mean_a_full_recount(arena: Arena):
    _, vote = await open_vote(arena)
    silent = [arena.guild.add_member(f"quiet{i}") for i in range(3)]
    arena.double.add_reactions_silently(vote, "🅱️", silent)
    await arena.double.react(arena.alice, vote, "🅰️")
    text = await close(arena)
    assert "x-ai/grok-2 wins, 3–1" in text
    assert reaction_pages(arena) >= 2


def test_the_live_count_matches_only_the_same_reactions_as_the_message():
    live = LiveTally()
    live.add(Side.A, Voter(1))
    live.add(Side.B, Voter(2))
    live.add(Side.B, Voter(3, is_bot=True))
    mine = {Side.A: True, Side.B: True}
    assert live.matches({Side.A: 2, Side.B: 3}, mine)  # each count includes the bot's own
    assert not live.matches({Side.A: 2, Side.B: 4}, mine)
    assert not live.matches({Side.A: 1, Side.B: 3}, mine)
    live.add(Side.A, Voter(99, is_bot=True, is_self=True))  # the bot's own event came in time
    assert live.matches({Side.A: 2, Side.B: 3}, mine)
    live.remove(Side.B, 2)
    assert live.matches({Side.A: 2, Side.B: 2}, mine)
