"""Seasons as members use them: the season setting, and /leaderboard's seasons."""

from __future__ import annotations

import datetime

from bot.engine.battle import Battle, Side
from bot.engine.votes import DEFAULT_EMOJI, Tally
from bot.store import NewBattle, open_store
from tests.e2e.conftest import Arena, embed_text
from tests.fakes.discord_double import Permission


def at(*parts: int) -> float:
    return datetime.datetime(*parts, tzinfo=datetime.UTC).timestamp()


NOW = at(2026, 12, 15, 12, 0)  # the bot's clock in these tests


async def seed(arena: Arena, guild_id: int | None = None) -> None:
    """November: m/old beats m/new twice, once in a battle started a minute before midnight on
    November's last day whose vote closed in December. December: m/new beats m/old three times."""
    guild_id = guild_id or arena.guild.id
    store = await open_store(arena.database_url)
    try:
        battles = [
            ("m/old", at(2026, 11, 10), at(2026, 11, 10, 0, 5)),
            ("m/old", at(2026, 11, 30, 23, 59), at(2026, 12, 1, 0, 0, 30)),
            ("m/new", at(2026, 12, 2), at(2026, 12, 2, 0, 5)),
            ("m/new", at(2026, 12, 3), at(2026, 12, 3, 0, 5)),
            ("m/new", at(2026, 12, 4), at(2026, 12, 4, 0, 5)),
        ]
        for index, (winner, started, closed) in enumerate(battles):
            created = await store.create_battle(
                NewBattle(guild_id, arena.channel.id, arena.alice.id, Battle("m/old", "m/new", 1)),
                now=started,
            )
            await store.open_voting(created.id, 5000 + index, started + 60, DEFAULT_EMOJI)
            side = Side.A if winner == "m/old" else Side.B
            await store.close_voting(created.id, Tally({1: side, 2: side}), closed)
    finally:
        await store.close()


async def leaderboard(arena: Arena, **options: object) -> dict:
    answer = await arena.double.invoke_command(arena.bob, arena.channel, "leaderboard", options)
    data = (await answer.response())["data"]
    data["ephemeral"] = answer.ephemeral
    return data


async def set_seasons(arena: Arena, value: str) -> str:
    admin = arena.guild.add_member(f"admin-{value}", permissions=Permission.MANAGE_GUILD)
    changed = await arena.double.invoke_command(
        admin, arena.channel, "battle-settings", {"season": value}
    )
    return embed_text((await changed.response())["data"])


def rows(data: dict) -> list[str]:
    return data["embeds"][0]["description"].splitlines()


async def test_with_seasons_off_the_leaderboard_is_unchanged(arena: Arena):
    await seed(arena)
    bot = await arena.start_bot()
    bot.arena.clock = lambda: NOW
    [command] = [c for c in arena.double.commands() if c["name"] == "battle-settings"]
    [option] = [o for o in command["options"] if o["name"] == "season"]
    assert [choice["value"] for choice in option["choices"]] == ["off", "month", "quarter"]

    data = await leaderboard(arena)
    assert data["embeds"][0]["title"] == "🏆 Server leaderboard"
    assert "3-2-0 · 5 battles" in rows(data)[0]
    assert (await leaderboard(arena, season="all"))["embeds"][0]["title"] == "🏆 Server leaderboard"
    refused = await leaderboard(arena, season="current")
    assert refused["ephemeral"] and "Seasons are off here" in refused["content"]


async def test_monthly_seasons_show_the_current_month_and_take_a_season(arena: Arena):
    await seed(arena)
    bot = await arena.start_bot()
    bot.arena.clock = lambda: NOW
    assert "Seasons ✏️ every month (UTC)" in await set_seasons(arena, "month")

    current = await leaderboard(arena)
    assert current["embeds"][0]["title"] == "🏆 Server leaderboard · 📅 season 2026-12"
    first, second = rows(current)
    assert "**m/new**" in first and "3-0-0 · 3 battles · 6 votes" in first
    assert "**m/old**" in second and "0-3-0" in second

    # The battle started on November's last minute counts in November, its vote closing after
    # midnight notwithstanding.
    for asked in ("previous", "2026-11", " 2026-11 "):
        november = await leaderboard(arena, season=asked)
        assert november["embeds"][0]["title"].endswith("📅 season 2026-11")
        assert "**m/old**" in rows(november)[0] and "2-0-0 · 2 battles" in rows(november)[0]

    everything = await leaderboard(arena, season="all")
    assert everything["embeds"][0]["title"] == "🏆 Server leaderboard · all time"
    assert "3-2-0 · 5 battles" in rows(everything)[0]

    empty = await leaderboard(arena, season="2026-01")
    assert "No rated battles yet" in rows(empty)[0]

    for bad, message in [
        ("2026-Q4", "These seasons are months: name one such as 2026-12."),
        ("spring", "`spring` is not a season"),
        ("2026-13", "`2026-13` is not a season"),
        ("2027-01", "Season 2027-01 has not started yet."),
    ]:
        refused = await leaderboard(arena, season=bad)
        assert refused["ephemeral"] and message in refused["content"]

    # The global board's seasons are calendar months.
    world = await leaderboard(arena, scope="global", season="previous")
    assert world["embeds"][0]["title"] == "🌍 Global leaderboard · 📅 season 2026-11"
    judges = await leaderboard(arena, board="judges")
    assert judges["embeds"][0]["title"] == "🏆 Server leaderboard · ⚖️ judges · 📅 season 2026-12"


async def test_quarterly_seasons(arena: Arena):
    await seed(arena)
    bot = await arena.start_bot()
    bot.arena.clock = lambda: NOW
    await set_seasons(arena, "quarter")
    quarter = await leaderboard(arena)
    assert quarter["embeds"][0]["title"] == "🏆 Server leaderboard · 📅 season 2026-Q4"
    assert "3-2-0 · 5 battles" in rows(quarter)[0]
    assert "No rated battles yet" in rows(await leaderboard(arena, season="2026-Q3"))[0]
    refused = await leaderboard(arena, season="2026-12")
    assert refused["ephemeral"] and "These seasons are quarters" in refused["content"]
    # The global board stays monthly.
    world = await leaderboard(arena, scope="global")
    assert world["embeds"][0]["title"] == "🌍 Global leaderboard · 📅 season 2026-12"
    # Off again: back to all time.
    await set_seasons(arena, "off")
    assert (await leaderboard(arena))["embeds"][0]["title"] == "🏆 Server leaderboard"


async def test_season_autocomplete_offers_the_seasons_the_board_has(arena: Arena):
    await seed(arena)
    bot = await arena.start_bot()
    bot.arena.clock = lambda: NOW
    off = await arena.double.autocomplete(
        arena.bob, arena.channel, "leaderboard", {"season": ""}, focused="season"
    )
    assert [choice["value"] for choice in off.choices] == ["all"]
    await set_seasons(arena, "month")
    offered = await arena.double.autocomplete(
        arena.bob, arena.channel, "leaderboard", {"season": ""}, focused="season"
    )
    assert [choice["value"] for choice in offered.choices] == [
        "current",
        "previous",
        "all",
        "2026-12",
        "2026-11",
    ]
    typed = await arena.double.autocomplete(
        arena.bob, arena.channel, "leaderboard", {"season": "2026-1"}, focused="season"
    )
    assert [choice["value"] for choice in typed.choices] == ["2026-12", "2026-11"]
