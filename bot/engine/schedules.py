"""Schedules: battles and tournaments a server runs by itself, every so often, in one channel.

Pure, no I/O: how often (``every:`` as typed, with its floor), when a schedule runs next (a run
missed while the bot was down runs once, never once per missed interval), and what each run
starts (a plan, kept by the store as a JSON object).
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.engine.splitting import escape_markdown
from bot.engine.tournament import TournamentFormat
from bot.errors import UserError

# A schedule runs at most this often: a battle every few minutes would drown its channel.
MIN_EVERY_SECONDS = 10 * 60
# ... and at least this often (a year), so that a typo is not a schedule that never runs.
MAX_EVERY_SECONDS = 366 * 24 * 60 * 60
# Schedules a server may keep at once.
MAX_SCHEDULES = 10

UNIT_SECONDS = {"m": 60, "h": 60 * 60, "d": 24 * 60 * 60, "w": 7 * 24 * 60 * 60}
_PART = re.compile(r"(\d+)\s*([mhdw])")
_WHOLE = re.compile(r"(?:\d+\s*[mhdw]\s*)+")


class ScheduleKind(enum.Enum):
    BATTLE = "battle"
    TOURNAMENT = "tournament"


def parse_every(text: str) -> int:
    """``every:`` as typed (``30m``, ``6h``, ``1d``, ``1w``, or parts such as ``1h30m``) in
    seconds; refused below 10 minutes, above a year, or when it is not a duration."""
    cleaned = text.strip().lower()
    if not _WHOLE.fullmatch(cleaned):
        raise UserError(
            f"`{text.strip()[:40]}` is not a duration: use a number and a unit, "
            "like `30m`, `6h`, `1d` or `1w`."
        )
    seconds = sum(int(n) * UNIT_SECONDS[unit] for n, unit in _PART.findall(cleaned))
    if seconds < MIN_EVERY_SECONDS:
        raise UserError(
            "A schedule runs at most once every 10 minutes: give `every` of `10m` or more."
        )
    if seconds > MAX_EVERY_SECONDS:
        raise UserError("A schedule runs at least once a year: give `every` of `52w` or less.")
    return seconds


def describe_every(seconds: int) -> str:
    """``6h``, ``1w``, ``1h30m``: the interval as a person would type it."""
    parts = []
    for unit, size in sorted(UNIT_SECONDS.items(), key=lambda item: -item[1]):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0m"


def following_run(due_at: float, every_seconds: int, now: float) -> float:
    """When a schedule due at ``due_at`` runs next, once it has run at ``now``: the first of its
    times after ``now``. A schedule whose runs were missed (the bot was down) runs once, and
    keeps its rhythm rather than running once for each missed time."""
    if now < due_at:
        return due_at + every_seconds
    missed = math.floor((now - due_at) / every_seconds) + 1
    return due_at + missed * every_seconds


def is_due(next_run_at: float, now: float) -> bool:
    return next_run_at <= now


@dataclass(frozen=True, slots=True)
class BattlePlan:
    """What a scheduled battle runs; a model left out is matchmade at each run, and any other
    option left out follows the server's setting at that time."""

    model_a: str | None = None
    model_b: str | None = None
    rounds: int | None = None
    topic: str | None = None
    blind: bool | None = None
    judges: bool | None = None

    @property
    def kind(self) -> ScheduleKind:
        return ScheduleKind.BATTLE

    def options(self) -> dict[str, Any]:
        return {
            "model_a": self.model_a,
            "model_b": self.model_b,
            "rounds": self.rounds,
            "topic": self.topic,
            "blind": self.blind,
            "judges": self.judges,
        }

    def describe(self) -> str:
        a = f"`{self.model_a}`" if self.model_a else "a matched model"
        b = f"`{self.model_b}`" if self.model_b else "a matched model"
        what = f"{a} v {b}" if self.model_a or self.model_b else "a matched pair"
        extras = [f"{self.rounds} rounds" if self.rounds else None]
        extras += ["blind" if self.blind else None, "judged" if self.judges else None]
        extras.append(f'on "{_short(self.topic)}"' if self.topic else None)
        shown = ", ".join(extra for extra in extras if extra)
        return f"Battle: {what}" + (f" ({shown})" if shown else "")


@dataclass(frozen=True, slots=True)
class TournamentPlan:
    """What a scheduled tournament runs: its roster, format, seeding (``given`` or ``rating``)
    and whether the judges decide draws (None: the server's setting)."""

    models: tuple[str, ...]
    tournament_format: TournamentFormat = TournamentFormat.SINGLE
    seed: str = "given"
    judges: bool | None = None

    @property
    def kind(self) -> ScheduleKind:
        return ScheduleKind.TOURNAMENT

    def options(self) -> dict[str, Any]:
        return {
            "models": list(self.models),
            "format": self.tournament_format.value,
            "seed": self.seed,
            "judges": self.judges,
        }

    def describe(self) -> str:
        shown = f"{len(self.models)} models, {self.tournament_format.value}, seeded {self.seed}"
        return f"Tournament: {shown}" + (", judged draws" if self.judges else "")


SchedulePlan = BattlePlan | TournamentPlan
# A topic as a schedule's line in `list` shows it: ten lines fit one message.
LISTED_TOPIC_CHARS = 60


def _short(topic: str) -> str:
    shown = topic if len(topic) <= LISTED_TOPIC_CHARS else topic[: LISTED_TOPIC_CHARS - 1] + "…"
    return escape_markdown(shown)


def plan_from(kind: ScheduleKind, options: Mapping[str, Any]) -> SchedulePlan:
    """A plan from the JSON object the store keeps (``options()``)."""
    if kind is ScheduleKind.BATTLE:
        return BattlePlan(
            options.get("model_a"),
            options.get("model_b"),
            options.get("rounds"),
            options.get("topic"),
            options.get("blind"),
            options.get("judges"),
        )
    return TournamentPlan(
        tuple(options["models"]),
        TournamentFormat(options.get("format", TournamentFormat.SINGLE.value)),
        options.get("seed", "given"),
        options.get("judges"),
    )
