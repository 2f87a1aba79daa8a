"""The vote audit on the Discord double: the daily cap, /battle-audit of a battle with votes set
aside for every reason, /battle-voter's exclusion refitting /leaderboard, a member flagged after
voting against the crowd 20+ times, and the refusals."""

from __future__ import annotations

import time
from typing import Any

import pytest

from bot.engine.discord_limits import DISCORD_EPOCH_MS
from bot.engine.splitting import escape_markdown
from tests.e2e.conftest import Arena, embed_text, eventually, is_results, is_vote
from tests.fakes.discord_double import Member, Permission, User
from tests.fakes.filtered_words import a_listed_slur
from tests.fakes.model_server import Verse

QWEN, GROK = "qwen/qwen-max", "x-ai/grok-2"
# As the audit's lines show them, Markdown escaped.
QWEN_SHOWN = r"qwen/qwen\-max"
DAY = 86_400
A, B = "🅰️", "🅱️"


def veteran(arena: Arena, name: str, days_old: int = 400) -> Member:
    """A member whose Discord account is ``days_old`` days old (the double's are new)."""
    made = (int((time.time() - days_old * DAY) * 1000) - DISCORD_EPOCH_MS) << 22
    return arena.guild.add_member(User(made + len(name), name))


def line_of(text: str, member: Member) -> str:
    [line] = [line for line in text.splitlines() if line.startswith(f"<@{member.id}>")]
    return line


def admin_of(arena: Arena) -> Member:
    return arena.guild.add_member("admin", permissions=Permission.MANAGE_GUILD)


async def settings(arena: Arena, **options: Any) -> None:
    await arena.double.invoke_command(arena.guild.owner, arena.channel, "battle-settings", options)


async def voted(arena: Arena, votes: list[tuple[Member, str]], **options: Any) -> str:
    """One battle, with these reactions on its vote, stopped at once; its results' text."""
    before = {m["id"] for m in arena.bot_messages()}
    started = await arena.battle(**options)
    assert "is on" in (await started.wait_followup())["content"]
    vote = await arena.wait_for(lambda m: is_vote(m) and m["id"] not in before)
    await eventually(lambda: bool(arena.bots[0].arena.votes))
    for member, emoji in votes:
        await arena.double.react(member, vote, emoji)
    await arena.double.invoke_command(arena.alice, arena.channel, "battle-stop")
    results = await arena.wait_for(lambda m: is_results(m) and m["id"] not in before)
    await eventually(lambda: not arena.bots[0].arena.votes)
    return embed_text(results)


async def audit(arena: Arena, by: Member, **options: Any) -> list[dict[str, Any]]:
    """/battle-audit's ephemeral answers (one per battle or member asked about)."""
    interaction = await arena.double.invoke_command(
        by, arena.channel, "battle-audit", options or None
    )
    await interaction.wait_followup()
    assert interaction.ephemeral
    return interaction.followups


async def voter(arena: Arena, member: Member, action: str, target: Member) -> str:
    interaction = await arena.double.invoke_command(
        member, arena.channel, f"battle-voter {action}", {"member": target}
    )
    reply = await interaction.wait_followup()
    assert interaction.ephemeral
    return embed_text(reply) or reply["content"]


async def test_an_audited_battle_shows_every_vote_set_aside_and_why(arena: Arena):
    bot = await arena.start_bot()
    admin = admin_of(arena)
    await settings(arena, min_account_age_days=2, max_votes_per_day=1)
    regular, other, banned = veteran(arena, "regular"), veteran(arena, "other"), veteran(arena, "x")
    robot = arena.guild.add_member("robot", bot=True)
    first = await voted(arena, [(regular, A)])
    assert "wins, 1–0" in first and "set aside" not in first
    assert "set aside on this server: 0 past votes" in await voter(arena, admin, "exclude", banned)

    arena.models.script(QWEN, Verse("They call me Qwen's finest, bow to the crown"))
    results = await voted(
        arena,
        [
            (regular, A),  # counted once today already: past the cap
            (other, B),  # counted
            (arena.bob, A),  # an account made today
            (arena.alice, A),
            (arena.alice, B),  # both emoji
            (robot, B),  # a bot
            (banned, A),  # excluded by the admin
        ],
        blind=True,
    )
    assert "wins, 1–0" in results
    assert (
        "3 votes were set aside: 1 from accounts younger than 2 days, "
        "1 past the daily cap of 1 vote a member, 1 by this server's admins." in results
    )
    assert (await bot.store.battle(2)).votes_set_aside == 3

    [answer] = await audit(arena, admin, battle_id=2)
    text = embed_text(answer)
    assert "Audit of battle #2" in text
    assert "Votes kept but not rated: a verse named its own model or vendor" in text
    assert "**Counted (1)**" in text and "**Set aside (5)**" in text
    # A blind battle's sides are drawn at random: each line names the side its emoji stands for.
    stored = (await bot.store.battle(2)).battle
    shown = {A: escape_markdown(stored.model_a), B: escape_markdown(stored.model_b)}
    for member, emoji, why in [
        (other, B, None),
        (regular, A, "past the daily cap"),
        (arena.bob, A, "account too new"),
        (robot, B, "a bot"),
        (banned, A, "excluded by the admins"),
    ]:
        side = f"{emoji} {shown[emoji]}"
        assert line_of(text, member) == " · ".join(filter(None, [f"<@{member.id}>", side, why]))
    assert line_of(text, arena.alice).endswith(" · reacted with both emoji")
    assert f"<@{arena.double.bot_user.id}>" not in text  # the bot's own reactions are no votes
    assert answer["allowed_mentions"] == {"parse": []} and answer["mentions"] == []

    [answer] = await audit(arena, admin, battle_id=99)
    assert answer["content"] == "There is no battle #99 on this server."


async def test_excluding_a_voter_refits_the_leaderboard_and_is_logged(arena: Arena):
    await arena.start_bot()
    admin = admin_of(arena)
    mallory = arena.guild.add_member("mallory")
    await voted(arena, [(mallory, A)])  # qwen 1-0
    await voted(arena, [(mallory, A), (arena.bob, B)])  # a 1-1 draw
    board = await leaderboard(arena)
    assert board.index(QWEN) < board.index(GROK) and "1-0-1" in board

    reply = await voter(arena, admin, "exclude", mallory)
    assert f"<@{mallory.id}>'s votes are set aside on this server: 2 past votes moved" in reply
    board = await leaderboard(arena)
    # The first battle is left with no vote and leaves the board; the draw is grok's 1-0 now.
    assert board.index(GROK) < board.index(QWEN)
    assert "**x-ai/grok-2**" in board and "1-0-0 · 1 battle · 1 vote" in board
    assert "0-1-0 · 1 battle · 0 votes" in board
    third = await voted(arena, [(mallory, A), (arena.bob, B)])
    assert (
        f"{GROK} wins, 1–0" in third and "1 vote was set aside: 1 by this server's admins" in third
    )
    assert "already excluded" in (await voter_refused(arena, admin, "exclude", mallory))

    [answer] = await audit(arena, admin, member=mallory)
    text = embed_text(answer)
    assert f"<@{mallory.id}> · **excluded** on this server" in text
    assert "Votes: 0 counted, 3 set aside" in text
    assert f"Excluded: <@{mallory.id}> by <@{admin.id}> <t:" in text
    assert "set aside: excluded by the admins" in text

    reply = await voter(arena, admin, "include", mallory)
    assert "counted again on this server: 3 past votes moved" in reply
    board = await leaderboard(arena)
    assert board.index(QWEN) < board.index(GROK)
    [answer] = await audit(arena, admin, member=mallory)
    assert "Included again: " in embed_text(answer) and "votes count" in embed_text(answer)


async def leaderboard(arena: Arena) -> str:
    shown = await arena.double.invoke_command(arena.alice, arena.channel, "leaderboard")
    return embed_text((await shown.response())["data"])


async def voter_refused(arena: Arena, member: Member, action: str, target: Member) -> str:
    interaction = await arena.double.invoke_command(
        member, arena.channel, f"battle-voter {action}", {"member": target}
    )
    return (await interaction.wait_followup())["content"]


async def test_a_member_voting_against_the_crowd_is_flagged_after_twenty_votes(arena: Arena):
    await arena.start_bot()
    admin = admin_of(arena)
    crowd = [arena.alice, arena.bob, arena.guild.add_member("carol")]
    mallory = arena.guild.add_member("mallory")
    for battle in range(22):
        contrary = B if battle >= 3 else A  # with the crowd three times, then always against
        await voted(arena, [*((member, A) for member in crowd), (mallory, contrary)])
        if battle == 18:  # 19 picks: too few to test
            [answer] = await audit(arena, admin, member=mallory)
            assert "not tested (fewer than 20 comparable picks)" in embed_text(answer)

    [answer] = await audit(arena, admin, member=mallory)
    text = embed_text(answer)
    assert "Agreement with the crowd: 3 of 22 picks (14%) v the server's 99%" in text
    assert "🚩 **flagged** as an outlier" in text
    assert "Votes: 22 counted, 0 set aside" in text  # a flag removes no vote
    assert answer["embeds"][0]["footer"]["text"] == "Page 1 of 2"  # 22 votes, 20 a page
    assert answer["components"]  # the buttons that turn the pages
    [answer] = await audit(arena, admin, member=arena.bob)
    assert "22 of 22 picks (100%)" in embed_text(answer) and "not flagged" in embed_text(answer)
    [overview] = await audit(arena, admin)
    text = embed_text(overview)
    assert "**🚩 Flagged (1)**" in text and f"<@{mallory.id}> · 3 of 22 picks" in text
    assert "Daily vote cap: none" in text


async def test_only_members_who_may_manage_the_server_audit_votes(arena: Arena):
    await arena.start_bot()
    names = {c["name"]: c for c in arena.double.commands(arena.guild.id) or arena.double.commands()}
    for command in ("battle-audit", "battle-voter"):
        assert int(names[command]["default_member_permissions"]) == Permission.MANAGE_GUILD
    assert {o["name"] for o in names["battle-voter"]["options"]} == {"exclude", "include"}
    with pytest.raises(PermissionError):
        await arena.double.invoke_command(arena.bob, arena.channel, "battle-audit")
    # A server may let anyone use the command (Server Settings > Integrations): the bot still
    # checks Manage Server itself.
    for command in ("battle-audit", "battle-voter"):
        definition = arena.double._state.find_command(arena.guild.id, command)
        definition["default_member_permissions"] = None
    refused = await arena.double.invoke_command(arena.bob, arena.channel, "battle-audit")
    assert (await refused.response())["data"]["content"] == (
        "The vote audit needs the Manage Server permission."
    )
    assert refused.ephemeral
    refused = await arena.double.invoke_command(
        arena.bob, arena.channel, "battle-voter exclude", {"member": arena.alice}
    )
    assert "needs the Manage Server permission" in (await refused.response())["data"]["content"]


async def test_the_audit_of_a_battle_shows_the_verse_the_content_filter_withheld(arena: Arena):
    await arena.start_bot()
    admin = admin_of(arena)
    slur = a_listed_slur()
    arena.models.script(QWEN, Verse(f"you {slur}, sit down"))
    started = await arena.battle()
    assert "is on" in (await started.wait_followup())["content"]
    await arena.wait_for(lambda m: "withheld by the content filter" in (m["content"] or ""))
    await eventually(lambda: not arena.bots[0].arena.battles)
    [answer] = await audit(arena, admin, battle_id=1)
    text = embed_text(answer)
    assert f"**Withheld by the content filter** ({QWEN_SHOWN}, round 1, slur):" in text
    assert f"> you {slur}, sit down" in text
    assert "Its vote has not been counted" in text
    assert all(slur not in m["content"] for m in arena.bot_messages())
