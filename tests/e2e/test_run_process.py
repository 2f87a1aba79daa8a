"""`rapbattle run` as its own process, pointed at the Discord double by environment."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from tests.e2e.conftest import Arena, embed_text, eventually, is_vote
from tests.fakes.model_server import default_verse

RAPBATTLE = str(Path(sys.executable).with_name("rapbattle"))


async def test_rapbattle_run_serves_a_battle_and_stops_cleanly(arena: Arena, tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLM_", "DISCORD_"))}
    env |= arena.env | {"DEV_GUILD_ID": str(arena.guild.id), "LOG_LEVEL": "INFO"}
    process = await asyncio.create_subprocess_exec(
        RAPBATTLE,
        "run",
        env=env,
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    log_lines: list[str] = []

    async def read_log() -> None:
        assert process.stderr is not None
        async for line in process.stderr:
            log_lines.append(line.decode())

    reader = asyncio.create_task(read_log())
    try:
        await asyncio.wait_for(arena.double.wait_ready(), 20)
        await eventually(lambda: any("Ready as" in line for line in log_lines), timeout=20)
        await eventually(lambda: bool(arena.double.commands(arena.guild.id)), timeout=20)
        assert [s.guild_id for s in arena.double.command_syncs][-1] == arena.guild.id
        interaction = await arena.double.invoke_command(
            arena.alice,
            arena.channel,
            "battle",
            {"model_a": "qwen-max", "model_b": "grok", "rounds": 1},
        )
        assert (await interaction.wait_followup())["content"].startswith("Battle #1 is on")
        vote = await arena.wait_for(is_vote)
        verses = [m["content"] for m in arena.bot_messages() if m["content"]]
        assert verses[0].endswith(default_verse("qwen/qwen-max", 1))
        assert "MC" not in embed_text(vote)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGINT)
        await asyncio.wait_for(process.wait(), 20)
        await reader
    log = "".join(log_lines)
    assert process.returncode == 0, log
    assert f"in 1 guilds, 6 commands synced to guild {arena.guild.id}" in log
    assert "Traceback" not in log and "WARNING" not in log


async def test_rapbattle_run_names_a_missing_token(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLM_", "DISCORD_"))}
    env["LLM_API_KEY"] = "k"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", env=env, cwd=tmp_path, stderr=asyncio.subprocess.PIPE
    )
    _, stderr = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode == 1
    assert stderr.decode() == "rapbattle: Missing setting: DISCORD_TOKEN. See .env.example.\n"
