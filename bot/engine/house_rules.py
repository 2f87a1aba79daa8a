"""House rules a server can trust: identity leaks, fresh accounts, cost and clean mode.

Pure decisions, no I/O: the arena feeds them what it knows (verse text, user ids, catalog
pricing, today's spend) and acts on the answer.
"""

from __future__ import annotations

import dataclasses
import datetime
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from bot.engine.battle import FINAL_ROUND, Battle, Side
from bot.engine.discord_limits import snowflake_time
from bot.engine.prompts import CLEAN_MODE_LINE as CLEAN_MODE_LINE  # beside clean_mode_applies
from bot.engine.prompts import FIRST_ROUND_MESSAGE, system_prompt
from bot.engine.verdicts import JUDGE_ASKS

# -- identity leaks in blind battles ---------------------------------------------------------

#: Names a vendor goes by beyond its catalog id (the part of a model id before "/"). A verse
#: that says "I'm Claude" or "made by Meta" names its vendor as surely as one that says
#: "anthropic"; ids like "x-ai" or "mistralai" are rarely written as such.
VENDOR_NAMES: Mapping[str, tuple[str, ...]] = {
    "anthropic": ("Anthropic", "Claude"),
    "openai": ("OpenAI", "ChatGPT", "GPT"),
    "google": ("Google", "Gemini", "Gemma", "DeepMind"),
    "meta-llama": ("Meta", "Llama"),
    "x-ai": ("xAI", "Grok"),
    "mistralai": ("Mistral", "Mixtral"),
    "qwen": ("Qwen", "Alibaba"),
    "deepseek": ("DeepSeek",),
    "microsoft": ("Microsoft",),
    "cohere": ("Cohere",),
    "moonshotai": ("Moonshot", "Kimi"),
    "z-ai": ("Zhipu", "GLM"),
}
# Inside a name, "-", "_", "." and spaces are interchangeable or may be left out, so that
# "llama-3-70b" is also found as "Llama 3 70B" and "x-ai" as "xAI".
_NAME_SEPARATORS = re.compile(r"[-_.\s]+")
_FLEXIBLE_SEPARATOR = r"[-_.\s]?"
# "Bounded by non-letters": digits, punctuation and spaces end a word, letters do not.
_NOT_A_LETTER_BEFORE = r"(?<![^\W\d_])"
_NOT_A_LETTER_AFTER = r"(?![^\W\d_])"


def identifying_names(model_id: str) -> tuple[str, ...]:
    """Every name that gives ``model_id`` away: the id, the part after "/", the vendor id
    (the part before "/") and the vendor's known names (:data:`VENDOR_NAMES`)."""
    vendor, slash, short = model_id.partition("/")
    names = [model_id]
    if slash:
        names += [short, vendor, *VENDOR_NAMES.get(vendor.lower(), ())]
    unique: dict[str, str] = {}
    for name in names:
        if name.strip():
            unique.setdefault(name.lower(), name)
    return tuple(unique.values())


def _name_pattern(name: str) -> re.Pattern[str]:
    pieces = [re.escape(piece) for piece in _NAME_SEPARATORS.split(name.strip()) if piece]
    body = _FLEXIBLE_SEPARATOR.join(pieces)
    return re.compile(_NOT_A_LETTER_BEFORE + body + _NOT_A_LETTER_AFTER, re.IGNORECASE)


def leaked_names(verse_text: str, model_id: str) -> tuple[str, ...]:
    """The names of ``model_id`` or its vendor that the verse says, as written in the verse,
    in order of appearance; where names overlap ("llama" inside "llama-3-70b") the longest
    counts.

    A name counts case-insensitively when no letter touches it on either side: "Qwen's",
    "Qwen-chan" and "Qwen2" name Qwen, "qwenching" does not.
    """
    spans = sorted(
        (match.start(), -match.end(), match.group(0))
        for name in identifying_names(model_id)
        for match in _name_pattern(name).finditer(verse_text)
    )
    found: dict[str, str] = {}
    covered_until = 0
    for start, negative_end, text in spans:
        if start < covered_until:
            continue
        covered_until = -negative_end
        found.setdefault(text.lower(), text)
    return tuple(found.values())


def leaks_identity(verse_text: str, model_id: str) -> bool:
    """Whether a verse names its own model or vendor (Arena's rule for voiding blind votes)."""
    return bool(leaked_names(verse_text, model_id))


def sides_that_leaked(battle: Battle, verses: Iterable[tuple[Side, str]]) -> frozenset[Side]:
    """The sides of a battle whose verses named their own model or vendor."""
    return frozenset(side for side, text in verses if leaks_identity(text, battle.model(side)))


def identity_leak_reason(battle: Battle, verses: Iterable[tuple[Side, str]]) -> str | None:
    """Why a blind battle's crowd votes are kept but not rated, or None when they are rated.

    Only blind battles can leak: in an open one the names are on the title card anyway. The
    reason names each side that gave itself away and the first names it said, as written.
    """
    if not battle.blind:
        return None
    said: dict[Side, list[str]] = {}
    for side, text in verses:
        for name in leaked_names(text, battle.model(side)):
            names = said.setdefault(side, [])
            if name.lower() not in (known.lower() for known in names):
                names.append(name)
    if not said:
        return None
    who = "; ".join(
        f"{battle.stage_name(side)} said {', '.join(repr(name) for name in said[side][:3])}"
        for side in (Side.A, Side.B)
        if side in said
    )
    return f"a verse named its own model or vendor ({who}), so the blind vote is not rated"


# -- fresh accounts --------------------------------------------------------------------------

SECONDS_PER_DAY = 86_400


def is_fresh(user_id: int, now: float, min_age_days: float) -> bool:
    """Whether the account is younger than ``min_age_days`` at ``now`` (Unix seconds). Its
    age comes from its id, so no lookup is needed and an account made for the occasion is
    known at once.

    With ``min_age_days`` 0 (the default setting) no account is fresh.
    """
    if min_age_days <= 0:
        return False
    return now - snowflake_time(user_id) < min_age_days * SECONDS_PER_DAY


def set_aside_line(set_aside: int, min_age_days: float | None = None) -> str:
    """What the results say about the votes the fresh-account rule set aside (the minimum age
    is named when known)."""
    votes = "1 vote was" if set_aside == 1 else f"{set_aside} votes were"
    if min_age_days is None:
        return f"{votes} set aside: they came from accounts younger than this server allows."
    days = "1 day" if min_age_days == 1 else f"{min_age_days:g} days"
    return f"{votes} set aside: this server counts votes from accounts at least {days} old."


# -- cost ------------------------------------------------------------------------------------

#: Tokens are counted as characters / 3, rounded up. English runs near 4 characters per token
#: in the usual tokenizers, so this overestimates ordinary text by about a third, which is the
#: side to err on for an upper bound. (Text in scripts that take more than one token per
#: character can exceed it; verses are bounded by max_tokens, not by this estimate.)
CHARS_PER_TOKEN = 3
#: What the chat format adds around each message (role markers, separators).
MESSAGE_OVERHEAD_TOKENS = 8
#: A judge's short JSON answer (winner and a closing paragraph), when no cap is given.
DEFAULT_JUDGE_MAX_TOKENS = 400


def estimate_tokens(text_or_chars: str | int) -> int:
    """A conservative token count for a text (or a number of characters)."""
    chars = text_or_chars if isinstance(text_or_chars, int) else len(text_or_chars)
    return math.ceil(chars / CHARS_PER_TOKEN)


@dataclass(frozen=True, slots=True)
class Pricing:
    """USD per token, as a provider's catalog lists it."""

    prompt: float
    completion: float

    def __post_init__(self) -> None:
        if self.prompt < 0 or self.completion < 0:
            raise ValueError("prices are not negative")

    @classmethod
    def from_catalog(cls, pricing: Mapping[str, str | float | int]) -> Pricing | None:
        """From OpenRouter's ``pricing`` object (strings such as "0.000002"). None when the
        price is unknown: missing, or negative (OpenRouter's "-1" for routed models)."""
        try:
            prompt = float(pricing["prompt"])
            completion = float(pricing["completion"])
        except (KeyError, TypeError, ValueError):
            return None
        if prompt < 0 or completion < 0 or not math.isfinite(prompt + completion):
            return None
        return cls(prompt, completion)


def spend_from_usage(prompt_tokens: int, completion_tokens: int, pricing: Pricing) -> float:
    """What a request cost in USD, from the provider's usage report."""
    return prompt_tokens * pricing.prompt + completion_tokens * pricing.completion


@dataclass(frozen=True, slots=True)
class PromptSizes:
    """Characters of the fixed parts of a battle's prompts.

    ``system_a``/``system_b``: each side's system message (with the clean-mode line when it
    applies). ``per_request``: what else every verse request carries besides the history (the
    first-round note). ``judge_prompt``: a judge's instructions, without the transcript.
    """

    system_a: int
    system_b: int
    per_request: int = len(FIRST_ROUND_MESSAGE)
    judge_prompt: int = 0
    judge_max_tokens: int = DEFAULT_JUDGE_MAX_TOKENS

    @classmethod
    def for_battle(
        cls,
        battle: Battle,
        *,
        clean: bool,
        judge_prompt: int = 0,
        judge_max_tokens: int = DEFAULT_JUDGE_MAX_TOKENS,
    ) -> PromptSizes:
        """The sizes of the prompts :mod:`bot.engine.prompts` builds for this battle, with the
        clean-mode line when ``clean``."""
        battle = dataclasses.replace(battle, clean=clean)
        return cls(
            system_a=len(system_prompt(battle, Side.A)),
            system_b=len(system_prompt(battle, Side.B)),
            judge_prompt=judge_prompt,
            judge_max_tokens=judge_max_tokens,
        )

    def system(self, side: Side) -> int:
        return self.system_a if side is Side.A else self.system_b


def verse_cost_upper_bound(
    system_chars: int, earlier_prompt_tokens: int, max_tokens: int, pricing: Pricing
) -> float:
    """The most one verse request can cost: its system message plus ``earlier_prompt_tokens``
    of history and fixed notes, and ``max_tokens`` of answer."""
    prompt = estimate_tokens(system_chars) + earlier_prompt_tokens
    return spend_from_usage(prompt, max_tokens, pricing)


# The most times one verse is billed in the usual run of retries (bot/llm.py): an empty verse is
# asked for again once, and a stream cut mid-verse is billed for what it wrote before the verse is
# asked for again. Failures before any answer (429s, 5xxs, timeouts before the first token) cost
# nothing, so this allows for one billed retry a verse rather than for every attempt.
BILLED_VERSE_ATTEMPTS = 2


def battle_cost_upper_bound(
    battle: Battle,
    sizes: PromptSizes,
    max_tokens: int,
    pricing: Mapping[str, Pricing],
    judges: Sequence[Pricing] = (),
) -> float:
    """An upper bound in USD on what a battle's model calls can cost.

    Each verse's request carries its side's system message, the first-round note and every
    turn so far; an earlier verse is at most ``max_tokens`` long and an announcement is known.
    Each verse is at most ``max_tokens``. Each judge (``judges``: one pricing per judge, empty
    when judges are off) reads its instructions and the whole transcript and answers at most
    ``sizes.judge_max_tokens``. The retries the bot makes are included: each verse billed
    ``BILLED_VERSE_ATTEMPTS`` times, each judge asked ``JUDGE_ASKS`` times.
    """
    for side in (Side.A, Side.B):
        if battle.model(side) not in pricing:
            raise ValueError(f"no pricing for {battle.model(side)}")
    total = 0.0
    history_tokens = 0
    for slot in battle.plan():
        if slot.side is None:
            history_tokens += estimate_tokens(FINAL_ROUND) + MESSAGE_OVERHEAD_TOKENS
            continue
        fixed = estimate_tokens(sizes.per_request) + 3 * MESSAGE_OVERHEAD_TOKENS
        total += BILLED_VERSE_ATTEMPTS * verse_cost_upper_bound(
            sizes.system(slot.side),
            fixed + history_tokens,
            max_tokens,
            pricing[battle.model(slot.side)],
        )
        history_tokens += max_tokens + MESSAGE_OVERHEAD_TOKENS
    judge_prompt = (
        estimate_tokens(sizes.judge_prompt) + 2 * MESSAGE_OVERHEAD_TOKENS + history_tokens
    )
    for judge in judges:
        total += JUDGE_ASKS * spend_from_usage(judge_prompt, sizes.judge_max_tokens, judge)
    return total


# -- daily budget ----------------------------------------------------------------------------


def utc_day_start(now: datetime.datetime) -> datetime.datetime:
    """Midnight UTC that began ``now``'s UTC day (the budget's day)."""
    utc = now.astimezone(datetime.UTC)
    return utc.replace(hour=0, minute=0, second=0, microsecond=0)


def next_utc_midnight(now: datetime.datetime) -> datetime.datetime:
    """When the daily budget resets."""
    return utc_day_start(now) + datetime.timedelta(days=1)


@dataclass(frozen=True, slots=True)
class BudgetDecision:
    allowed: bool
    spent_today: float
    battle_bound: float
    budget: float | None
    resets_at: datetime.datetime

    @property
    def left_today(self) -> float | None:
        return None if self.budget is None else max(self.budget - self.spent_today, 0.0)


def check_daily_budget(
    spent_today: float,
    battle_bound: float,
    budget: float | None,
    now: datetime.datetime,
) -> BudgetDecision:
    """Refuse a battle when today's (UTC) spend plus its upper bound would exceed the budget.

    ``budget`` None means no budget. A battle that would land exactly on it is allowed.
    """
    allowed = budget is None or spent_today + battle_bound <= budget
    return BudgetDecision(allowed, spent_today, battle_bound, budget, next_utc_midnight(now))


# -- clean mode ------------------------------------------------------------------------------


def clean_mode_applies(setting_on: bool, channel_is_age_restricted: bool) -> bool:
    """Clean mode is off only where the server turned it off and the channel is
    age-restricted; everywhere else it stays on."""
    return setting_on or not channel_is_age_restricted
