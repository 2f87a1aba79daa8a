"""The log's two formats: lines for people (the default) and, with LOG_FORMAT=json, one JSON
object a line for a log pipeline.

A JSON line always has ``time`` (ISO 8601, UTC), ``level``, ``logger``, ``message``, ``guild``
and ``battle``; ``exception`` too when there is a traceback. The server and battle come from the
record (``extra={"guild": ..., "battle": ...}``) or else from the battle whose task logged it
(``bot.observe.battle_context``), and are null elsewhere. The guild id is a string, as Discord
writes its ids: they outgrow a JSON number's exact range.
"""

from __future__ import annotations

import datetime
import json
import logging
import sys

from bot.observe import current_battle

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# The HTTP clients log every request at INFO, which drowns out the bot's own lines.
NOISY_LOGGERS = ("httpx", "httpx2")


class JsonLines(logging.Formatter):
    """Each record as one JSON object on one line."""

    def format(self, record: logging.LogRecord) -> str:
        guild = getattr(record, "guild", None)
        battle = getattr(record, "battle", None)
        if guild is None and battle is None and (context := current_battle()) is not None:
            guild, battle = context.guild_id, context.battle_id
        entry: dict[str, object] = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "guild": None if guild is None else str(guild),
            "battle": battle,
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(level: str, log_format: str = "text") -> None:
    """The root logger writes to standard error, as lines or as JSON (``log_format``)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLines() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level, handlers=[handler])
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)
