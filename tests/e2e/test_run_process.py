"""`rapbattle run` as its own process, pointed at the Discord double by environment."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from tests.e2e.conftest import Arena, bot_process, embed_text, eventually, is_vote
from tests.fakes.model_server import default_verse


async def test_rapbattle_run_serves_a_battle_and_stops_cleanly(arena: Arena, tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLM_", "DISCORD_"))}
    env |= arena.env | {"DEV_GUILD_ID": str(arena.guild.id), "LOG_LEVEL": "INFO"}
    async with bot_process(env, tmp_path) as log_lines:
        await asyncio.wait_for(arena.double.wait_ready(), 20)
        await eventually(lambda: any("Ready as" in line for line in log_lines), timeout=20)
        await eventually(lambda: bool(arena.double.commands(arena.guild.id)), timeout=20)
        assert [s.guild_id for s in arena.double.command_syncs][-1] == arena.guild.id
        await arena.battle()
        vote = await arena.wait_for(is_vote)
        verses = [m["content"] for m in arena.bot_messages() if m["content"]]
        assert verses[0].endswith(default_verse("qwen/qwen-max", 1))
        assert "MC" not in embed_text(vote)
    log = "".join(log_lines)
    assert f"in 1 guilds, 14 commands synced to guild {arena.guild.id}" in log
    assert "WARNING" not in log


async def test_rapbattle_run_names_a_missing_token(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLM_", "DISCORD_"))}
    env["LLM_API_KEY"] = "k"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", env=env, cwd=tmp_path, stderr=asyncio.subprocess.PIPE
    )
    _, stderr = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode == 1
    assert stderr.decode() == "rapbattle: Missing setting: DISCORD_TOKEN. See .env.example.\n"
