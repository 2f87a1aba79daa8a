"""Per-server battle settings: what a server changed, validated, over the process defaults."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import TypeVar

from bot.engine.battle import MAX_ROUNDS, MIN_ROUNDS, Side
from bot.engine.pacing import Pace
from bot.engine.votes import MAX_VOTE_SECONDS, MIN_VOTE_SECONDS
from bot.errors import UserError

MAX_COOLDOWN_SECONDS = 24 * 60 * 60
MAX_BATTLES_LIMIT = 20
MAX_ALLOWED_MODELS = 100
T = TypeVar("T")
_CUSTOM_EMOJI = re.compile(r"^<a?:[A-Za-z0-9_]{2,32}:[0-9]{15,21}>$")
_MAX_EMOJI_CHARS = 16


class InvalidSetting(UserError):
    """A server setting was given a value outside its rules."""


@dataclass(frozen=True, slots=True)
class ServerRules:
    """How battles run on one server: the process defaults with the server's changes on top."""

    rounds: int
    pace: Pace
    vote_seconds: int
    cooldown_seconds: float
    max_battles: int
    emoji: Mapping[Side, str]
    allowed_models: frozenset[str] | None = None  # None allows every model
    blind_default: bool = False
    global_opt_out: bool = False

    def check_allowed(self, model: str) -> None:
        if self.allowed_models is not None and model not in self.allowed_models:
            allowed = ", ".join(f"`{m}`" for m in sorted(self.allowed_models)[:10])
            raise UserError(f"`{model}` is not allowed on this server. Allowed: {allowed}.")


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """What one server changed; None keeps the process default."""

    rounds: int | None = None
    pace: Pace | None = None
    vote_seconds: int | None = None
    cooldown_seconds: float | None = None
    max_battles: int | None = None
    emoji_a: str | None = None
    emoji_b: str | None = None
    allowed_models: tuple[str, ...] | None = None
    blind_default: bool | None = None
    global_opt_out: bool = False

    def apply_to(self, defaults: ServerRules) -> ServerRules:
        emoji = {
            Side.A: self.emoji_a or defaults.emoji[Side.A],
            Side.B: self.emoji_b or defaults.emoji[Side.B],
        }
        return ServerRules(
            rounds=_or(self.rounds, defaults.rounds),
            pace=_or(self.pace, defaults.pace),
            vote_seconds=_or(self.vote_seconds, defaults.vote_seconds),
            cooldown_seconds=_or(self.cooldown_seconds, defaults.cooldown_seconds),
            max_battles=_or(self.max_battles, defaults.max_battles),
            emoji=emoji,
            allowed_models=(
                frozenset(self.allowed_models) if self.allowed_models else defaults.allowed_models
            ),
            blind_default=_or(self.blind_default, defaults.blind_default),
            global_opt_out=self.global_opt_out,
        )

    def changed(self, **changes: object) -> ServerSettings:
        """A copy with ``changes`` applied after validating each; raises InvalidSetting."""
        updated = replace(self, **changes)  # type: ignore[arg-type]
        updated.validate()
        return updated

    def validate(self) -> None:
        if self.rounds is not None and not MIN_ROUNDS <= self.rounds <= MAX_ROUNDS:
            raise InvalidSetting(f"Rounds must be between {MIN_ROUNDS} and {MAX_ROUNDS}.")
        if self.vote_seconds is not None and not (
            MIN_VOTE_SECONDS <= self.vote_seconds <= MAX_VOTE_SECONDS
        ):
            raise InvalidSetting(
                f"The vote window must be between {MIN_VOTE_SECONDS} seconds and 24 hours."
            )
        if self.cooldown_seconds is not None and not (
            0 <= self.cooldown_seconds <= MAX_COOLDOWN_SECONDS
        ):
            raise InvalidSetting("The cooldown must be between 0 seconds and 24 hours.")
        if self.max_battles is not None and not 1 <= self.max_battles <= MAX_BATTLES_LIMIT:
            raise InvalidSetting(f"The battle cap must be between 1 and {MAX_BATTLES_LIMIT}.")
        for emoji in (self.emoji_a, self.emoji_b):
            if emoji is not None:
                check_emoji(emoji)
        if self.emoji_a and self.emoji_b and _bare(self.emoji_a) == _bare(self.emoji_b):
            raise InvalidSetting("The two vote emoji must differ.")
        if self.allowed_models is not None and len(self.allowed_models) > MAX_ALLOWED_MODELS:
            raise InvalidSetting(f"Allow at most {MAX_ALLOWED_MODELS} models.")

    def overrides(self) -> dict[str, object]:
        """The settings this server changed, by name (for showing them)."""
        return {
            field.name: getattr(self, field.name)
            for field in fields(self)
            if getattr(self, field.name) is not None
        }


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


def _or(value: T | None, default: T) -> T:
    return default if value is None else value
