"""What a server setting is: its kind, its rules, its parser and its column.

The settings themselves are declared once, in ``bot/engine/server_settings.py``; this module holds
the machinery they share, so that declaring one more setting touches only that table.
"""

from __future__ import annotations

import enum
import json
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from bot.engine.pacing import Pace
from bot.errors import InvalidBattle, UserError

MAX_ALLOWED_MODELS = 100
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
