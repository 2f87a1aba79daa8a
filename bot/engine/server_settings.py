"""Per-server battle settings, each declared once in ``SETTINGS``.

A setting's name is its ``/battle-settings`` option and its ``server_settings`` column; the table
also holds its kind, range, default, label and parser (the machinery is ``bot/engine/setting.py``).
The store, the command and the settings embed all read this table, so adding a setting means one
entry here and one migration.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from bot.engine.battle import MAX_ROUNDS, MIN_ROUNDS, Side
from bot.engine.pacing import Pace
from bot.engine.seasons import OFF, SeasonLength
from bot.engine.setting import (
    EVERY_MODEL,
    InvalidSetting,
    Setting,
    SettingKind,
)
from bot.engine.verdicts import MAX_JUDGES
from bot.engine.votes import DEFAULT_EMOJI, MAX_VOTE_SECONDS, MIN_VOTE_SECONDS, bare_emoji
from bot.errors import UserError

MAX_COOLDOWN_SECONDS = 24 * 60 * 60
MAX_BATTLES_LIMIT = 20
MAX_ACCOUNT_AGE_DAYS = 365
T = TypeVar("T")


def _seconds(value: float) -> str:
    return f"{value:g} s"


def _yes_no(value: bool) -> str:
    return "yes" if value else "no"


PACE = Setting[Pace](
    "pace",
    "Pace",
    "Pause after each verse: seconds, 0 for none, or 'auto'",
    SettingKind.PACE,
    Pace(None),
    lambda pace: "auto (reading time)" if pace.is_auto else f"{pace} s",
    process_default=True,
)
VOTE_SECONDS = Setting[int](
    "vote_seconds",
    "Vote window",
    "How long voting stays open (10 s to 24 h)",
    SettingKind.WHOLE_NUMBER,
    60,
    _seconds,
    MIN_VOTE_SECONDS,
    MAX_VOTE_SECONDS,
    f"The vote window must be between {MIN_VOTE_SECONDS} seconds and 24 hours.",
    process_default=True,
)
ROUNDS = Setting[int](
    "rounds",
    "Default rounds",
    "Rounds when /battle doesn't say",
    SettingKind.WHOLE_NUMBER,
    3,
    str,
    MIN_ROUNDS,
    MAX_ROUNDS,
    f"Rounds must be between {MIN_ROUNDS} and {MAX_ROUNDS}.",
    process_default=True,
)
EMOJI_A = Setting[str](
    "emoji_a",
    "Vote emoji A",
    "Vote emoji for the first model",
    SettingKind.EMOJI,
    DEFAULT_EMOJI[Side.A],
    str,
)
EMOJI_B = Setting[str](
    "emoji_b",
    "Vote emoji B",
    "Vote emoji for the second model",
    SettingKind.EMOJI,
    DEFAULT_EMOJI[Side.B],
    str,
)
ALLOWED_MODELS = Setting["tuple[str, ...] | None"](
    "allowed_models",
    "Allowed models",
    f"Models allowed here, separated by commas, or '{EVERY_MODEL}'",
    SettingKind.MODELS,
    None,
    lambda models: "every model" if not models else ", ".join(sorted(models))[:1000],
)
COOLDOWN_SECONDS = Setting[float](
    "cooldown_seconds",
    "Cooldown",
    "Seconds a member waits between starting battles",
    SettingKind.SECONDS,
    30.0,
    _seconds,
    0,
    MAX_COOLDOWN_SECONDS,
    "The cooldown must be between 0 seconds and 24 hours.",
    process_default=True,
)
MAX_BATTLES = Setting[int](
    "max_battles",
    "Battles at once",
    "Battles this server may run at once",
    SettingKind.WHOLE_NUMBER,
    3,
    str,
    1,
    MAX_BATTLES_LIMIT,
    f"The battle cap must be between 1 and {MAX_BATTLES_LIMIT}.",
    process_default=True,
)
BLIND_DEFAULT = Setting[bool](
    "blind_default",
    "Blind by default",
    "Whether battles are blind unless /battle says otherwise",
    SettingKind.SWITCH,
    False,
    _yes_no,
)
GLOBAL_OPT_OUT = Setting[bool](
    "global_opt_out",
    "Global leaderboard",
    "Keep this server's votes out of the global leaderboard",
    SettingKind.SWITCH,
    False,
    lambda opted_out: "opted out" if opted_out else "included",
)
THREADS = Setting[bool](
    "threads",
    "Battles in threads",
    "Open a public thread for each battle from its title card",
    SettingKind.SWITCH,
    False,
    _yes_no,
)
PUBLIC_PAGE = Setting[bool](
    "public_page",
    "Public web page",
    "Show this server's battles on the public web arena (off keeps them private)",
    SettingKind.SWITCH,
    False,
    _yes_no,
)
JUDGES = Setting[bool](
    "judges",
    "Judges",
    "Have a panel of LLM judges give a verdict after each battle's vote",
    SettingKind.SWITCH,
    False,
    _yes_no,
)
JUDGE_MODELS = Setting["tuple[str, ...] | None"](
    "judge_models",
    "Judges' panel",
    f"This server's judges, separated by commas (at most {MAX_JUDGES}), or 'default'",
    SettingKind.MODELS,
    None,
    lambda judges: "the default panel" if not judges else ", ".join(judges)[:1000],
    high=MAX_JUDGES,
    out_of_range=f"A panel has at most {MAX_JUDGES} judges.",
    reset_word="default",
)
JUDGE_RECUSAL = Setting[bool](
    "judge_recusal",
    "Judge recusal",
    "Leave out judges from a contestant's lab (the id's part before '/')",
    SettingKind.SWITCH,
    False,
    _yes_no,
)
MIN_ACCOUNT_AGE_DAYS = Setting[int](
    "min_account_age_days",
    "Voters' minimum account age",
    "Votes count only from Discord accounts at least this many days old (0: any)",
    SettingKind.WHOLE_NUMBER,
    0,
    lambda days: "any account" if not days else f"{days} day{'s' if days != 1 else ''}",
    0,
    MAX_ACCOUNT_AGE_DAYS,
    f"The minimum account age must be between 0 and {MAX_ACCOUNT_AGE_DAYS} days.",
)
CLEAN = Setting[bool](
    "clean",
    "Clean mode",
    "Ask the models for no slurs, sexual content or attacks on private people (off: NSFW only)",
    SettingKind.SWITCH,
    True,
    lambda on: "on" if on else "off in age-restricted channels",
)

MAX_DAILY_BUDGET_USD = 10_000
DAILY_BUDGET_USD = Setting["float | None"](
    "daily_budget_usd",
    "Daily budget",
    "Most to spend on models per UTC day, in US dollars (e.g. 2.50), or 'none'",
    SettingKind.DOLLARS,
    None,
    lambda budget: "none" if budget is None else f"${budget:,.2f} a day (UTC)",
    0.01,
    MAX_DAILY_BUDGET_USD,
    f"The daily budget must be between $0.01 and ${MAX_DAILY_BUDGET_USD:,}, or 'none'.",
)
AUDIO = Setting[bool](
    "audio",
    "Battle tracks",
    "Attach each battle's audio track to its results (on) or not (off)",
    SettingKind.SWITCH,
    False,
    lambda on: "on" if on else "off",
)
SEASON = Setting[str](
    "season",
    "Seasons",
    "Leaderboard seasons: off, month or quarter (a season's board counts its own battles only)",
    SettingKind.CHOICE,
    OFF,
    lambda season: "off" if season == OFF else f"every {season} (UTC)",
    choices=(OFF, *(length.value for length in SeasonLength)),
)

CONTENT_FILTER = Setting[str](
    "content_filter",
    "Content filter",
    "Screen verses before posting: standard, strict (also masks profanity) or off",
    SettingKind.CHOICE,
    "standard",
    lambda level: {
        "standard": "standard (hate, slurs and the like withheld)",
        "strict": "strict (profanity masked too)",
        "off": "off",
    }.get(level, level),
    choices=("standard", "strict", "off"),
)
MAX_VOTE_CAP = 1000
MAX_VOTES_PER_DAY = Setting[int](
    "max_votes_per_day",
    "Votes a member a day",
    "Votes counted from one member per UTC day (0: no cap); the rest are set aside",
    SettingKind.WHOLE_NUMBER,
    0,
    lambda cap: "no cap" if not cap else f"{cap} a day (UTC)",
    0,
    MAX_VOTE_CAP,
    f"The daily vote cap must be between 0 (no cap) and {MAX_VOTE_CAP}.",
)
VOICE = Setting[str](
    "voice",
    "Live voice",
    "off, or follow: perform battles in the voice or Stage channel the starter is in",
    SettingKind.CHOICE,
    "off",
    lambda voice: "follows the starter into voice" if voice == "follow" else "off",
    choices=("off", "follow"),
)

# Every server setting, in the order the command and the embed list them.
SETTINGS: tuple[Setting[Any], ...] = (
    PACE,
    VOTE_SECONDS,
    ROUNDS,
    EMOJI_A,
    EMOJI_B,
    ALLOWED_MODELS,
    COOLDOWN_SECONDS,
    MAX_BATTLES,
    BLIND_DEFAULT,
    GLOBAL_OPT_OUT,
    THREADS,
    PUBLIC_PAGE,
    JUDGES,
    JUDGE_MODELS,
    JUDGE_RECUSAL,
    MIN_ACCOUNT_AGE_DAYS,
    CLEAN,
    DAILY_BUDGET_USD,
    AUDIO,
    SEASON,
    CONTENT_FILTER,
    MAX_VOTES_PER_DAY,
    VOICE,
)
SETTINGS_BY_NAME: Mapping[str, Setting[Any]] = {setting.name: setting for setting in SETTINGS}


@dataclass(frozen=True)
class ServerRules:
    """How battles run on one server: every setting's value, the server's changes over the
    process defaults. Read a value with ``rules[SETTING]``."""

    values: Mapping[Setting[Any], Any]

    @classmethod
    def defaults(cls, overrides: Mapping[Setting[Any], Any] | None = None) -> ServerRules:
        """Each setting's own default, with the process's ``overrides`` on top."""
        values = {setting: setting.default for setting in SETTINGS}
        values.update(overrides or {})
        return cls(values)

    def __getitem__(self, setting: Setting[T]) -> T:
        return self.values[setting]  # type: ignore[no-any-return]

    @property
    def emoji(self) -> Mapping[Side, str]:
        return {Side.A: self[EMOJI_A], Side.B: self[EMOJI_B]}

    def check_allowed(self, model: str) -> None:
        allowed = self[ALLOWED_MODELS]
        if allowed and model not in allowed:
            listed = ", ".join(f"`{m}`" for m in sorted(allowed)[:10])
            raise UserError(f"`{model}` is not allowed on this server. Allowed: {listed}.")


@dataclass(frozen=True, init=False)
class ServerSettings:
    """What one server changed, by setting name; a setting it never changed is absent."""

    changes: Mapping[str, Any] = field(default_factory=dict)

    def __init__(self, **changes: Any) -> None:
        unknown = set(changes) - set(SETTINGS_BY_NAME)
        if unknown:
            raise TypeError(f"No such server setting: {', '.join(sorted(unknown))}")
        kept = {
            name: value
            for name, value in changes.items()
            if not _no_change(SETTINGS_BY_NAME[name], value)
        }
        object.__setattr__(self, "changes", kept)

    def __iter__(self) -> Iterator[tuple[Setting[Any], Any]]:
        return ((SETTINGS_BY_NAME[name], value) for name, value in self.changes.items())

    def chosen(self, setting: Setting[T]) -> T | None:
        """What this server chose for ``setting``; None when it kept the default."""
        return self.changes.get(setting.name)  # type: ignore[no-any-return]

    def apply_to(self, defaults: ServerRules) -> ServerRules:
        values = dict(defaults.values)
        values.update(dict(self))
        return ServerRules(values)

    def changed(self, **changes: Any) -> ServerSettings:
        """A copy with ``changes`` applied after validating each; raises InvalidSetting."""
        updated = ServerSettings(**(dict(self.changes) | changes))
        updated.validate()
        return updated

    def validate(self) -> None:
        for setting, value in self:
            setting.check(value)
        emoji_a, emoji_b = self.changes.get(EMOJI_A.name), self.changes.get(EMOJI_B.name)
        if emoji_a and emoji_b and bare_emoji(emoji_a) == bare_emoji(emoji_b):
            raise InvalidSetting("The two vote emoji must differ.")

    def overrides(self) -> dict[str, object]:
        """The settings this server changed, by name (for showing them)."""
        return dict(self.changes)

    def to_row(self) -> tuple[Any, ...]:
        """The values in SETTINGS order, as the server_settings columns keep them."""
        return tuple(setting.to_column(self.changes.get(setting.name)) for setting in SETTINGS)

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> ServerSettings:
        return cls(
            **{
                setting.name: setting.from_column(raw)
                for setting, raw in zip(SETTINGS, row, strict=True)
            }
        )


def _no_change(setting: Setting[Any], value: object) -> bool:
    return value is None or (not setting.process_default and value == setting.default)
