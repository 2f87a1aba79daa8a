"""Two `rapbattle run` processes, one per gateway shard, sharing one PostgreSQL database."""

from __future__ import annotations

import asyncio
import os

from bot.store import open_store
from tests.e2e.conftest import bot_process, embed_text, eventually, is_results, is_vote
from tests.fakes.discord_double import DiscordDouble, snowflake_shard
from tests.fakes.model_server import ModelServer
from tests.fakes.postgres import postgres_schema


async def test_two_shard_processes_keep_one_leaderboard(model_server: ModelServer, tmp_path):
    async with postgres_schema() as database_url, DiscordDouble(shard_count=2) as double:
        guilds = [double.add_guild(f"Shard {shard} Club", shard=shard) for shard in (0, 1)]
        assert [snowflake_shard(g.id, 2) for g in guilds] == [0, 1]
        channels = [g.add_channel("battles") for g in guilds]
        starters = [g.add_member("starter") for g in guilds]
        base = {k: v for k, v in os.environ.items() if not k.startswith(("LLM_", "DISCORD_"))}
        base |= {
            "DISCORD_TOKEN": double.token,
            "DISCORD_API_BASE": double.api_base,
            "DISCORD_GATEWAY_URL": double.gateway_url,
            "LLM_BASE_URL": model_server.base_url,
            "LLM_API_KEY": "test-key",
            "DATABASE_URL": database_url,
            "BATTLE_PACE": "0",
            "BATTLE_COOLDOWN_SECONDS": "0",
            "SHARD_COUNT": "2",
        }
        async with (
            bot_process(base | {"SHARD_IDS": "0"}, tmp_path) as log_0,
            bot_process(base | {"SHARD_IDS": "1"}, tmp_path) as log_1,
        ):
            for log in (log_0, log_1):
                await eventually(
                    lambda log=log: any("Ready as" in line for line in log), timeout=30
                )
            sessions = {s.shard_id: s for s in double.sessions if s.live}
            assert set(sessions) == {0, 1}
            assert [set(sessions[i].guild_ids) for i in (0, 1)] == [{guilds[0].id}, {guilds[1].id}]

            for channel, starter in zip(channels, starters, strict=True):
                started = await double.invoke_command(
                    starter,
                    channel,
                    "battle",
                    {"model_a": "qwen-max", "model_b": "grok", "rounds": 1},
                )
                assert (await started.wait_followup())["content"].startswith("Battle #")
            for count, (guild, channel, starter) in enumerate(
                zip(guilds, channels, starters, strict=True), start=1
            ):
                vote = await double.wait_for_message(channel.id, is_vote, timeout=20)
                await asyncio.sleep(0.3)  # the bot adds its reactions and opens the vote
                fans = [guild.add_member(f"fan{i}") for i in range(3)]
                for fan in fans:
                    await double.react(fan, vote, "🅰️")
                await double.invoke_command(starter, channel, "battle-stop")
                results = await double.wait_for_message(channel.id, is_results, timeout=20)
                assert "qwen/qwen-max wins, 3–0" in embed_text(results)
                # Asked on shard 0 each time: the second answer must see shard 1's battle.
                board = await double.invoke_command(
                    starters[0], channels[0], "leaderboard", {"scope": "global"}
                )
                rows = (await board.response())["data"]["embeds"][0]["description"]
                first = rows.splitlines()[0]
                assert "qwen/qwen-max" in first
                assert f"{count}-0-0 · {count} battle" in first and f"{3 * count} votes" in first

        store = await open_store(database_url)
        try:
            [pair] = await store.pair_records(None)
            assert pair.battles == 2
            battles = [b for g in guilds for b in await store.recent_battles(g.id)]
            assert sorted(b.id for b in battles) == [1, 2]
            assert {b.state.value for b in battles} == {"closed"}
        finally:
            await store.close()
        assert double.violations == []
