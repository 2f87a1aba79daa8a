"""Per-server battle settings, each declared once in ``SETTINGS``.

A setting's name is its ``/battle-settings`` option and its ``server_settings`` column; the table
also holds its kind, range, default, label and parser. The store, the command and the settings
embed all read this table, so adding a setting means one entry here and one migration.
"""

from __future__ import annotations

import enum
import json
import re
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from bot.engine.battle import MAX_ROUNDS, MIN_ROUNDS, Side
from bot.engine.pacing import Pace
from bot.engine.seasons import OFF, SeasonLength
from bot.engine.verdicts import MAX_JUDGES
from bot.engine.votes import DEFAULT_EMOJI, MAX_VOTE_SECONDS, MIN_VOTE_SECONDS
from bot.errors import InvalidBattle, UserError

MAX_COOLDOWN_SECONDS = 24 * 60 * 60
MAX_BATTLES_LIMIT = 20
MAX_ALLOWED_MODELS = 100
MAX_ACCOUNT_AGE_DAYS = 365
EVERY_MODEL = "all"
T = TypeVar("T")
_CUSTOM_EMOJI = re.compile(r"^<a?:[A-Za-z0-9_]{2,32}:[0-9]{15,21}>$")
_MAX_EMOJI_CHARS = 16


class InvalidSetting(UserError):
    """A server setting was given a value outside its rules."""


class SettingKind(enum.Enum):
    """What a setting holds; decides its command option type, its parser and its column."""

    WHOLE_NUMBER = "whole number"  # an int within [low, high]
    SECONDS = "seconds"  # whole seconds within [low, high], kept as a float
    PACE = "pace"  # seconds or 'auto'
    EMOJI = "emoji"  # one Unicode or custom emoji
    SWITCH = "switch"  # on or off
    MODELS = "models"  # model names separated by commas (resolved by the catalog), or 'all'
    DOLLARS = "dollars"  # US dollars with at most cents, within [low, high], or 'none' to clear
    CHOICE = "choice"  # one of the setting's ``choices`` (a word)


@dataclass(frozen=True, eq=False)
class Setting(Generic[T]):
    """One server setting. Settings compare by identity, so they can key a mapping."""

    name: str  # the /battle-settings option and the server_settings column
    label: str  # its name in the settings embed
    description: str  # the option's help text (at most 100 characters)
    kind: SettingKind
    default: T  # when neither the server nor the process sets it
    show: Callable[[T], str]  # its value as the settings embed shows it
    low: float | None = None
    high: float | None = None
    out_of_range: str = ""  # the message for a value outside [low, high]
    # Whether the process may set this setting's default (e.g. BATTLE_ROUNDS). When it may not,
    # a server choosing the default has changed nothing.
    process_default: bool = False
    # For a MODELS setting: the word that clears it back to its default.
    reset_word: str = EVERY_MODEL
    # For a CHOICE setting: the words it may be, offered as the option's choices.
    choices: tuple[str, ...] = ()

    def parse(self, raw: object) -> T:
        """A value as the command gives it (already trimmed), validated; raises InvalidSetting.

        A MODELS setting parses to the names as typed; the caller resolves them to ids.
        """
        kind = self.kind
        if kind is SettingKind.PACE:
            try:
                return Pace.parse(str(raw))  # type: ignore[return-value]
            except InvalidBattle as error:
                raise InvalidSetting(str(error)) from None
        if kind is SettingKind.EMOJI:
            emoji = str(raw).strip()
            check_emoji(emoji)
            return emoji  # type: ignore[return-value]
        if kind is SettingKind.SWITCH:
            return bool(raw)  # type: ignore[return-value]
        if kind is SettingKind.DOLLARS:
            return _dollars(str(raw), self)  # type: ignore[return-value]
        if kind is SettingKind.CHOICE:
            word = str(raw).strip().lower()
            self.check(word)  # type: ignore[arg-type]
            return word  # type: ignore[return-value]
        if kind is SettingKind.MODELS:
            names = tuple(name.strip() for name in str(raw).split(",") if name.strip())
            if not names or [n.lower() for n in names] == [self.reset_word]:
                return None  # type: ignore[return-value]
            return names  # type: ignore[return-value]
        number = float(raw) if kind is SettingKind.SECONDS else int(raw)  # type: ignore[arg-type]
        self.check(number)  # type: ignore[arg-type]
        return number  # type: ignore[return-value]

    def check(self, value: T) -> None:
        """Raises InvalidSetting when ``value`` breaks this setting's own rules."""
        if self.kind is SettingKind.MODELS:
            # For models, ``high`` (when given) bounds how many may be listed.
            most = MAX_ALLOWED_MODELS if self.high is None else int(self.high)
            if value is not None and len(value) > most:  # type: ignore[arg-type]
                raise InvalidSetting(self.out_of_range or f"Allow at most {most} models.")
            return
        if self.low is not None and self.high is not None and value is not None:
            if not self.low <= value <= self.high:  # type: ignore[operator]
                raise InvalidSetting(self.out_of_range)
        if self.kind is SettingKind.EMOJI and value is not None:
            check_emoji(value)  # type: ignore[arg-type]
        if self.kind is SettingKind.CHOICE and value is not None and value not in self.choices:
            raise InvalidSetting(
                f"`{str(value)[:40]}` is not a choice for {self.label.lower()}:"
                f" give one of {', '.join(self.choices)}."
            )

    def to_column(self, value: T | None) -> Any:
        if value is None and self.kind is SettingKind.SWITCH:
            return self.default  # switch columns are NOT NULL where a query reads them
        if value is None:
            return None
        if self.kind is SettingKind.PACE:
            return str(value)
        if self.kind is SettingKind.MODELS:
            return json.dumps(list(value))  # type: ignore[call-overload]
        return value

    def from_column(self, raw: Any) -> T | None:
        if raw is None:
            return None
        if self.kind is SettingKind.PACE:
            return Pace.parse(raw)  # type: ignore[return-value]
        if self.kind is SettingKind.MODELS:
            return tuple(json.loads(raw))  # type: ignore[return-value]
        if self.kind is SettingKind.SWITCH:
            return bool(raw)  # type: ignore[return-value]
        return raw  # type: ignore[no-any-return]


NO_VALUE = "none"


def _dollars(raw: str, setting: Setting[Any]) -> float | None:
    """An amount such as "5", "2.50" or "$0.75"; "none" clears it (None)."""
    text = raw.strip().removeprefix("$").strip()
    if text.lower() == NO_VALUE:
        return None
    whole, _, cents = text.partition(".")
    if not (whole or cents) or not (whole or "0").isdigit() or (cents and not cents.isdigit()):
        raise InvalidSetting(
            f"`{raw[:40]}` is not an amount in dollars: give one such as 5 or 2.50, or 'none'."
        )
    if len(cents) > 2:
        raise InvalidSetting("Give the amount in dollars and cents, at most two decimals.")
    amount = float(text)
    setting.check(amount)
    return amount


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
        if emoji_a and emoji_b and _bare(emoji_a) == _bare(emoji_b):
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


def check_emoji(emoji: str) -> None:
    """One emoji: a Unicode emoji or a server's custom emoji (<:name:id>)."""
    if _CUSTOM_EMOJI.match(emoji):
        return
    if not emoji or len(emoji) > _MAX_EMOJI_CHARS or any(_is_text(char) for char in emoji):
        raise InvalidSetting(f"`{emoji[:40]}` is not an emoji.")


def _is_text(char: str) -> bool:
    category = unicodedata.category(char)
    # Letters, digits, punctuation and spaces; emoji are symbols (So/Sk) plus joiners/selectors.
    return category[0] in "LNPZC" and char not in "\u200d\ufe0f\u20e3" and category != "Cf"


def _bare(emoji: str) -> str:
    return emoji.replace("\ufe0f", "")
