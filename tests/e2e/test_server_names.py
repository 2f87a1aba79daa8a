"""A public server's page shows its name: kept when the server opts in with public_page, and
kept current as the server is renamed. A server that never opted in keeps no name."""

from __future__ import annotations

import asyncio

from tests.e2e.conftest import Arena, eventually
from tests.fakes.discord_double import Permission


async def test_a_server_that_opts_in_keeps_its_name_current(arena: Arena):
    bot = await arena.start_bot()
    admin = arena.guild.add_member("admin", permissions=Permission.MANAGE_GUILD)
    arena.guild.rename("Rap Club (private)")  # not public yet: nothing kept
    await eventually(lambda: bot.get_guild(arena.guild.id).name == "Rap Club (private)")
    assert await bot.store.server_name(arena.guild.id) is None

    changed = await arena.double.invoke_command(
        admin, arena.channel, "battle-settings", {"public_page": True}
    )
    await changed.response()
    assert await bot.store.server_name(arena.guild.id) == "Rap Club (private)"

    arena.guild.rename("Rap Club")  # GUILD_UPDATE
    async with asyncio.timeout(5):
        while await bot.store.server_name(arena.guild.id) != "Rap Club":
            await asyncio.sleep(0.02)
