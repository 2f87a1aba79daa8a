"""The content filter's rules: what each level withholds, how profanity is masked, how a
moderation endpoint's categories map onto ours, and the line shown in place of a withheld verse.

A verse is screened once it is written and before any surface shows it. What screening found
(the categories, and where the profanity is) comes from an engine outside: a moderation
endpoint, or the offline word list (``bot/engine/word_list.py``). Deciding what to do with it is
here, the same for every engine and every front end.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

MASK_CHARACTER = "•"


class FilterLevel(enum.Enum):
    """The server setting ``content_filter`` (and the terminal's ``--content-filter``)."""

    STANDARD = "standard"  # hate, slurs and the like withheld; profanity stays (a rap battle)
    STRICT = "strict"  # as standard, and profanity is masked
    OFF = "off"  # nothing is screened


class Category(enum.Enum):
    """What gets a verse withheld, named as the withheld line names it. In the order a verse
    flagged for several is named: the gravest first."""

    SEXUAL_MINORS = "sexual content involving minors"
    SELF_HARM_INSTRUCTIONS = "self-harm instructions"
    HARASSMENT = "harassment of a protected group"
    HATE = "hate"
    SLUR = "slur"


WITHHELD_AT: Mapping[FilterLevel, frozenset[Category]] = {
    FilterLevel.STANDARD: frozenset(Category),
    FilterLevel.STRICT: frozenset(Category),
    FilterLevel.OFF: frozenset(),
}

# A moderation endpoint's categories (OpenAI's names) that withhold a verse on their own. Its
# other categories do not: a rap battle is harassment, violence and profanity by design, so only
# harassment that is also hate (aimed at a protected group) counts, and it is named as such.
ENDPOINT_CATEGORIES: Mapping[str, Category] = {
    "hate": Category.HATE,
    "hate/threatening": Category.HATE,
    "sexual/minors": Category.SEXUAL_MINORS,
    "self-harm/instructions": Category.SELF_HARM_INSTRUCTIONS,
}
ENDPOINT_HARASSMENT = ("harassment", "harassment/threatening")


@dataclass(frozen=True, slots=True)
class Span:
    """Characters ``start`` to ``end`` (exclusive) of a verse."""

    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Finding:
    """What a check found in a verse: the categories that may withhold it, and where its
    profanity is (masked under ``strict``)."""

    categories: frozenset[Category] = frozenset()
    profanity: tuple[Span, ...] = ()


@dataclass(frozen=True, slots=True)
class Cleared:
    """The verse may be shown, as ``text`` (masked under ``strict``)."""

    text: str


@dataclass(frozen=True, slots=True)
class Withheld:
    """The verse must not be shown, for ``category``."""

    category: Category


Screening = Cleared | Withheld


def parse_level(value: str) -> FilterLevel:
    """A level as stored or typed; raises ValueError for anything else."""
    return FilterLevel(value.strip().lower())


def endpoint_categories(flags: Mapping[str, bool]) -> frozenset[Category]:
    """Our categories from an endpoint's flags (``{"hate": True, ...}``, OpenAI's names)."""
    found = {category for name, category in ENDPOINT_CATEGORIES.items() if flags.get(name)}
    if Category.HATE in found and any(flags.get(name) for name in ENDPOINT_HARASSMENT):
        found.add(Category.HARASSMENT)
    return frozenset(found)


def gravest(categories: Iterable[Category]) -> Category | None:
    """The category a verse flagged for several is withheld for (None: none)."""
    found = set(categories)
    return next((category for category in Category if category in found), None)


def decide(level: FilterLevel, text: str, finding: Finding) -> Screening:
    """What becomes of a verse at ``level`` given what screening found in it."""
    category = gravest(finding.categories & WITHHELD_AT[level])
    if category is not None:
        return Withheld(category)
    if level is FilterLevel.STRICT:
        return Cleared(mask(text, finding.profanity))
    return Cleared(text)


def mask(text: str, spans: Iterable[Span]) -> str:
    """``text`` with each span's non-space characters replaced by ``•``, so the verse keeps
    its length and its shape on screen."""
    characters = list(text)
    for span in spans:
        for index in range(max(span.start, 0), min(span.end, len(text))):
            if not characters[index].isspace():
                characters[index] = MASK_CHARACTER
    return "".join(characters)


# What every withheld verse's reason says, and so how a stored reason is known for one.
WITHHELD_MARK = "verse was withheld by the content filter"


def withheld_reason(stage_name: str, category: Category) -> str:
    """Why the battle ended, as its stored reason says it (no closing period, as every
    reason); ``stage_name`` is the side as the battle names it (MC A in a blind battle)."""
    return f"{stage_name}'s {WITHHELD_MARK} ({category.value})"


def is_withheld_reason(reason: str | None) -> bool:
    """Whether a battle's stored reason is a withheld verse's (see ``withheld_reason``)."""
    return reason is not None and WITHHELD_MARK in reason


def withheld_line(stage_name: str, category: Category) -> str:
    """The one line shown (and kept in the transcript) in place of a withheld verse."""
    return withheld_reason(stage_name, category) + "."


def withheld_lines(counts: Mapping[str, int]) -> list[str]:
    """Each model's withheld verses, as /battle-stats lists them: most first."""
    if not counts:
        return ["No verse withheld."]
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [f"`{model}` · withheld {count}" for model, count in ranked]
