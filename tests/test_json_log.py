"""LOG_FORMAT=json: one JSON object a line, whose battle lines name their server and battle."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator

import pytest

from bot.errors import ConfigError
from bot.observe import battle_context
from bot.ops.logs import JsonLines
from bot.settings import Settings
from tests.e2e.conftest import (
    arena,  # noqa: F401  (the end-to-end world, as `arena` here)
    is_vote,
)
from tests.fakes.model_server import HttpError

QWEN = "qwen/qwen-max"


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """Everything logged at INFO and above, as LOG_FORMAT=json writes it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLines())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def entries(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_log_format_setting():
    assert Settings.from_env({}).log_format == "text"
    assert Settings.from_env({"LOG_FORMAT": "JSON"}).log_format == "json"
    with pytest.raises(ConfigError, match="LOG_FORMAT must be one of TEXT, JSON"):
        Settings.from_env({"LOG_FORMAT": "xml"})
    assert Settings.from_env({"METRICS_PORT": "9100"}).metrics_port == 9100
    assert Settings.from_env({}).metrics_port is None
    with pytest.raises(ConfigError, match="METRICS_PORT"):
        Settings.from_env({"METRICS_PORT": "0"})


async def test_a_line_names_the_battle_of_the_task_that_logged_it(json_log):
    log = logging.getLogger("tests.battle")

    async def battle_task() -> None:
        battle_context(123_456_789_012_345_678, 7)
        log.info("verse %d posted", 2)
        await asyncio.create_task(asyncio.sleep(0))  # its own tasks inherit the battle
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("it broke")

    await asyncio.create_task(battle_task())
    log.warning("after the battle", extra={"guild": 5, "battle": 9})
    log.info('outside, with "quotes"\nand a new line')
    first, broke, extra, outside = entries(json_log)
    assert first["message"] == "verse 2 posted" and first["level"] == "INFO"
    assert first["logger"] == "tests.battle"
    assert (first["guild"], first["battle"]) == ("123456789012345678", 7)
    assert first["time"].endswith("+00:00") and "T" in first["time"]
    assert broke["level"] == "ERROR" and "ValueError: boom" in broke["exception"]
    assert (broke["guild"], broke["battle"]) == ("123456789012345678", 7)
    assert (extra["guild"], extra["battle"]) == ("5", 9)
    # The battle's context stayed in its task.
    assert (outside["guild"], outside["battle"]) == (None, None)
    assert outside["message"] == 'outside, with "quotes"\nand a new line'
    assert len(json_log.getvalue().splitlines()) == 4  # one line each, new lines escaped


async def test_a_battles_log_lines_on_the_double_name_its_server_and_battle(
    arena,  # noqa: F811
    json_log,
):
    await arena.start_bot()
    arena.models.script(QWEN, HttpError(503))  # logged when the verse is asked again
    await arena.battle()
    await arena.wait_for(is_vote)
    lines = entries(json_log)
    ready = next(e for e in lines if e["message"].startswith("Ready as"))
    assert (ready["guild"], ready["battle"]) == (None, None)
    retry = next(e for e in lines if e["message"].startswith(f"Retrying {QWEN}"))
    assert retry["logger"] == "bot.llm"
    assert (retry["guild"], retry["battle"]) == (str(arena.guild.id), 1)
