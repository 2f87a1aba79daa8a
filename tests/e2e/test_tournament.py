"""/tournament on the Discord double: a thread opened from its announcement, each match an ordinary
battle there with the crowd's vote, the bracket edited at the top, the champion announced in the
channel too; a draw, a restart mid-tournament, and the refusals."""

from __future__ import annotations

from typing import Any

import pytest

from bot.engine.server_settings import ServerSettings
from bot.store import open_store
from bot.store.tournaments import TournamentState
from tests.e2e.conftest import Arena, embed_text, eventually, is_results, is_vote
from tests.fakes.discord_double import BOT_DEFAULT_PERMISSIONS, Member, Permission
from tests.fakes.model_server import Ruling

QWEN, GROK, LLAMA, GPT = (
    "qwen/qwen-max",
    "x-ai/grok-2",
    "meta-llama/llama-3-70b-instruct",
    "openai/gpt-4o",
)
THREADS = Permission.CREATE_PUBLIC_THREADS | Permission.SEND_MESSAGES_IN_THREADS
FAST = {"BATTLE_ROUNDS": "1"}


def admin_of(arena: Arena) -> Member:
    return arena.guild.add_member("admin", permissions=Permission.MANAGE_GUILD)


async def start(arena: Arena, admin: Member, models: str, **options: Any) -> str:
    interaction = await arena.double.invoke_command(
        admin, arena.channel, "tournament", {"models": models} | options
    )
    reply = await interaction.wait_followup()
    assert interaction.ephemeral
    return reply["content"]


def bot_messages(arena: Arena, place_id: int) -> list[dict[str, Any]]:
    bot_id = arena.double.bot_user.id
    return [m for m in arena.double.messages(place_id) if int(m["author"]["id"]) == bot_id]


def titles(arena: Arena, place_id: int) -> list[str]:
    return [e.get("title", "") for m in bot_messages(arena, place_id) for e in m["embeds"]]


def labels(arena: Arena, place_id: int) -> list[str]:
    """The title cards' labels ("Tournament #1: round 1, match 1"), in order."""
    return [
        e["author"]["name"]
        for m in bot_messages(arena, place_id)
        for e in m["embeds"]
        if "author" in e and e.get("title", "").startswith("🎤")
    ]


async def play_match(
    arena: Arena, place_id: int, number: int, reactions: list[tuple[Member, str]], admin: Member
) -> dict[str, Any]:
    """Waits for the ``number``-th vote in the place, reacts, closes it early; its results."""
    await eventually(
        lambda: sum(is_vote(m) for m in bot_messages(arena, place_id)) >= number, timeout=20
    )
    vote = [m for m in bot_messages(arena, place_id) if is_vote(m)][number - 1]
    for member, emoji in reactions:
        await arena.double.react(member, vote, emoji)
    stop = await arena.double.invoke_command(admin, place_id, "battle-stop")
    await stop.response()
    await eventually(
        lambda: sum(is_results(m) for m in bot_messages(arena, place_id)) >= number, timeout=20
    )
    return [m for m in bot_messages(arena, place_id) if is_results(m)][number - 1]


async def thread_of(arena: Arena) -> int:
    """The tournament's thread, once opened from its announcement."""
    await eventually(lambda: bool(arena.double.threads(arena.channel.id)))
    [thread] = arena.double.threads(arena.channel.id)
    return int(thread["id"])


def bracket(arena: Arena, place_id: int) -> str:
    [card] = [m for m in bot_messages(arena, place_id) if "Tournament #1:" in embed_text(m)]
    return embed_text(card)


async def test_a_tournament_of_four_in_a_thread_decided_by_the_crowd(arena: Arena):
    bot = await arena.start_bot(**FAST)
    names = {c["name"]: c for c in arena.double.commands()}
    assert {"tournament", "tournament-status", "tournament-stop"} <= set(names)
    assert int(names["tournament"]["default_member_permissions"]) == Permission.MANAGE_GUILD
    assert int(names["tournament-stop"]["default_member_permissions"]) == Permission.MANAGE_GUILD
    arena.double.grant(arena.channel, THREADS)
    admin = admin_of(arena)

    reply = await start(arena, admin, "qwen-max, grok, llama-3-70b, gpt-4o")
    assert reply == "Tournament #1 is on: 4 models."
    place = await thread_of(arena)
    # The thread starts (after Discord's empty starter message) with the bracket.
    first = await arena.wait_for(lambda m: m["type"] != 21, channel=arena.double.thread(place))
    assert embed_text(first).startswith("🏆 Tournament #1: 4 models, single elimination")

    # Round 1: qwen v llama (the crowd picks llama), grok v gpt (grok); the final: llama v grok.
    a, b = arena.alice, arena.bob
    results = [
        await play_match(arena, place, 1, [(a, "🅱️"), (b, "🅱️")], admin),
        await play_match(arena, place, 2, [(a, "🅰️")], admin),
        await play_match(arena, place, 3, [(a, "🅱️"), (b, "🅱️")], admin),
    ]
    assert f"{LLAMA} wins, 2–0" in embed_text(results[0])
    assert f"{GROK} wins, 1–0" in embed_text(results[1])
    assert f"{GROK} wins, 2–0" in embed_text(results[2])
    assert labels(arena, place) == [
        "Tournament #1: round 1, match 1",
        "Tournament #1: round 1, match 2",
        "Tournament #1: round 2, match 1",
    ]
    champion = f"👑 {GROK} wins tournament #1"
    await eventually(lambda: champion in titles(arena, arena.channel.id), timeout=10)
    assert titles(arena, arena.channel.id) == ["🏆 Tournament #1 begins", champion]
    assert titles(arena, place).count(champion) == 1
    shown = bracket(arena, place)
    assert "Champion: **x\\-ai/grok\\-2**" in shown
    assert "Round 1" in shown and "Round 2" in shown
    # Every match counts on the server's board like any battle.
    records = await bot.store.model_records(arena.guild.id)
    assert records[GROK].wins == 2 and records[LLAMA].wins == 1 and records[QWEN].losses == 1
    stored = await bot.store.tournament(1)
    assert stored.state is TournamentState.FINISHED and stored.champion_announced

    status = await arena.double.invoke_command(arena.bob, place, "tournament-status")
    answer = await status.response()
    assert "Champion" in embed_text(answer["data"])


async def test_a_draw_goes_to_the_higher_seed_and_the_results_say_so(arena: Arena):
    bot = await arena.start_bot(**FAST)
    arena.double.grant(arena.channel, THREADS)
    admin = admin_of(arena)
    await start(arena, admin, "qwen-max, grok, llama-3-70b", format="single", seed="given")
    place = await thread_of(arena)
    # qwen sits out round 1; grok v llama is a 1–1 draw: grok, side A and the higher seed, goes on.
    draw = await play_match(arena, place, 1, [(arena.alice, "🅰️"), (arena.bob, "🅱️")], admin)
    assert "A draw, 1–1" in embed_text(draw)
    note = await arena.wait_for(
        lambda m: embed_text(m).strip().startswith("Round 1, match 1:"),
        channel=arena.double.thread(place),
    )
    assert embed_text(note).strip() == (
        f"Round 1, match 1: A draw, 1–1: `{GROK}`, the higher seed, advances."
    )
    await play_match(arena, place, 2, [(arena.alice, "🅰️")], admin)
    await eventually(lambda: any("👑" in t for t in titles(arena, arena.channel.id)), timeout=10)
    assert f"👑 {QWEN} wins tournament #1" in titles(arena, arena.channel.id)
    stored = await bot.store.tournament(1)
    assert stored.match(0, 0).winner == GROK and stored.match(0, 0).note.startswith("A draw")


async def test_a_restart_mid_tournament_replays_the_match_and_posts_nothing_twice(arena: Arena):
    bot = await arena.start_bot(**FAST)
    arena.double.grant(arena.channel, THREADS)
    admin = admin_of(arena)
    await start(arena, admin, "qwen-max, grok, llama-3-70b")
    place = await thread_of(arena)
    arena.models.latency = 1.0  # a second a verse: the final is cut off by the restart
    await play_match(arena, place, 1, [(arena.alice, "🅱️")], admin)  # llama beats grok
    await eventually(lambda: len(labels(arena, place)) == 2, timeout=10)
    await arena.stop_bot(bot)
    arena.models.latency = 0.0
    restarted = await arena.start_bot(**FAST)
    await eventually(lambda: len(labels(arena, place)) == 3, timeout=15)
    assert labels(arena, place)[1:] == ["Tournament #1: round 2, match 1"] * 2
    await play_match(arena, place, 2, [(arena.alice, "🅰️")], admin)
    champion = f"👑 {QWEN} wins tournament #1"
    await eventually(lambda: champion in titles(arena, arena.channel.id), timeout=10)
    assert titles(arena, arena.channel.id) == ["🏆 Tournament #1 begins", champion]
    assert len(arena.double.threads(arena.channel.id)) == 1
    assert sum("Tournament #1:" in t for t in titles(arena, place)) == 1  # one bracket
    assert titles(arena, place).count(champion) == 1
    stored = await restarted.store.tournament(1)
    assert stored.match(1, 0).winner == QWEN
    await arena.stop_bot(restarted)
    # Another start finds nothing left to post.
    again = await arena.start_bot(**FAST)
    await eventually(lambda: not again.tournaments.sessions, timeout=5)
    assert titles(arena, arena.channel.id) == ["🏆 Tournament #1 begins", champion]
    store = await open_store(arena.database_url)
    try:
        assert (await store.tournament(1)).state is TournamentState.FINISHED
    finally:
        await store.close()


async def test_without_thread_permissions_it_runs_in_the_channel_and_says_why(arena: Arena):
    await arena.start_bot(**FAST)  # the bot's default permissions hold no Create Public Threads
    admin = admin_of(arena)
    reply = await start(arena, admin, "qwen-max, grok, llama-3-70b")
    assert reply == (
        "Tournament #1 is on: 3 models. It runs in this channel: I may not open a thread here "
        "(missing: Create Public Threads)."
    )
    await play_match(arena, arena.channel.id, 1, [(arena.alice, "🅰️")], admin)
    assert arena.double.threads(arena.channel.id) == []
    assert labels(arena, arena.channel.id)[0] == "Tournament #1: round 1, match 1"
    stop = await arena.double.invoke_command(admin, arena.channel, "tournament-stop")
    assert (await stop.wait_followup())["content"] == "Tournament #1 is stopped."
    await eventually(lambda: "Stopped: stopped by admin." in bracket(arena, arena.channel.id))


async def test_a_tournament_needs_manage_server_and_a_sane_roster(arena: Arena):
    await arena.start_bot(**FAST)
    with pytest.raises(PermissionError):  # Discord offers it only to Manage Server
        await arena.double.invoke_command(
            arena.bob, arena.channel, "tournament", {"models": "qwen-max, grok, gpt-4o"}
        )
    admin = admin_of(arena)
    assert "3 to 32 models" in await start(arena, admin, "qwen-max, grok")
    assert "is listed twice" in await start(arena, admin, "qwen-max, grok, qwen/qwen-max")
    locked = arena.guild.add_channel(
        "locked", bot_permissions=BOT_DEFAULT_PERMISSIONS & ~Permission.ADD_REACTIONS
    )
    interaction = await arena.double.invoke_command(
        admin, locked, "tournament", {"models": "qwen-max, grok, gpt-4o"}
    )
    assert (await interaction.wait_followup())["content"] == (
        "I need these permissions in this channel: Add Reactions."
    )
    assert arena.models.chat_requests() == []


async def test_with_battles_in_threads_the_matches_stay_in_the_tournaments_thread(arena: Arena):
    bot = await arena.start_bot(**FAST)
    await bot.store.save_server_settings(arena.guild.id, ServerSettings(threads=True))
    admin = admin_of(arena)
    refused = await start(arena, admin, "qwen-max, grok, llama-3-70b")
    assert refused == (
        "This server runs battles in threads, and I may not open threads here "
        "(missing: Create Public Threads)."
    )
    arena.double.grant(arena.channel, THREADS)
    await start(arena, admin, "qwen-max, grok, llama-3-70b")
    place = await thread_of(arena)
    await play_match(arena, place, 1, [(arena.alice, "🅱️")], admin)
    assert len(arena.double.threads(arena.channel.id)) == 1  # no thread of its own per match
    assert labels(arena, place)[0] == "Tournament #1: round 1, match 1"
    assert labels(arena, arena.channel.id) == []  # every title card is in the thread
    assert (await bot.store.battle(1)).thread_id is None


async def test_a_draw_with_the_judges_on_goes_to_the_judges_pick(arena: Arena):
    judges = ("openai/gpt-4o", "anthropic/claude-3.5-sonnet", "mistralai/mistral-large")
    bot = await arena.start_bot(**FAST, JUDGE_MODELS=",".join(judges))
    arena.double.grant(arena.channel, THREADS)
    for judge in judges:  # Every judge picks side B, the lower seed.
        arena.models.script_judge(judge, Ruling(side=1, statement="B's bars were sharper."))
    admin = admin_of(arena)
    await start(arena, admin, "qwen-max, grok, llama-3-70b", judges=True)
    place = await thread_of(arena)
    # qwen sits out round 1; grok v llama is a 1–1 draw, which the judges give to llama.
    draw = await play_match(arena, place, 1, [(arena.alice, "🅰️"), (arena.bob, "🅱️")], admin)
    assert "A draw, 1–1" in embed_text(draw)
    verdict = await arena.wait_for(
        lambda m: "⚖️ Judges' verdict" in embed_text(m), channel=arena.double.thread(place)
    )
    assert "0 – 3" in embed_text(verdict)  # grok 0, llama 3
    note = await arena.wait_for(
        lambda m: embed_text(m).strip().startswith("Round 1, match 1:"),
        channel=arena.double.thread(place),
    )
    assert embed_text(note).strip() == (
        f"Round 1, match 1: A draw, 1–1: the judges chose `{LLAMA}` (3–0)."
    )
    stored = await bot.store.tournament(1)
    assert stored.match(0, 0).winner == LLAMA
    # The final: qwen v llama, which the crowd gives to qwen.
    await play_match(arena, place, 2, [(arena.alice, "🅰️")], admin)
    champion = f"👑 {QWEN} wins tournament #1"
    await eventually(lambda: champion in titles(arena, arena.channel.id), timeout=15)
    judged = [r for r in arena.models.chat_requests() if r.is_judge]
    assert sorted({r.model for r in judged}) == sorted(judges)


async def test_with_manage_webhooks_the_matches_verses_come_from_each_mc(arena: Arena):
    await arena.start_bot(**FAST)
    arena.double.grant(arena.channel, THREADS | Permission.MANAGE_WEBHOOKS)
    admin = admin_of(arena)
    await start(arena, admin, "qwen-max, grok, llama-3-70b")
    place = await thread_of(arena)
    await play_match(arena, place, 1, [(arena.alice, "🅰️")], admin)
    posts = arena.double.webhook_messages(place)
    # The first match's two verses (the final's may already be starting).
    assert [post.username for post in posts][:2] == ["grok-2", "llama-3-70b-instruct"]
    assert all(post.thread_id == place for post in posts)
