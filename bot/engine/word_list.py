"""The offline check: slurs and profanity found word by word, in a few milliseconds a verse.

It reads words, not meaning: offline, a verse is withheld only for a slur (hate, harassment,
sexual content involving minors and self-harm instructions need the moderation endpoint), and
profanity is found for ``strict`` to mask.

Two sources, combined:
- A profanity list shipped inside a package (better-profanity's, loaded by
  ``bot/moderation/offline.py``): its spellings, leetspeak and compounds ("f.u.c.k", "a$$",
  "fuckwit"). It also lists ordinary words ("god", "kill", "drunk"), so a listed word counts as
  profanity only when it holds one of ``PROFANE_STEMS``; the rest are left alone.
- The category table below: which words are slurs. It is kept as SHA-256 digests (the first 16
  hex digits) of each word's key (``word_key``), so that the source carries no slurs; a word is
  looked up by its digest. To add one, append ``slur_digest("the word")`` to its group.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from bot.engine.content_filter import Category, Finding, Span

# Common letter swaps, undone before a word is looked up ("n1gg3r", "sh!t", "a$$").
_LEET = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i"}
    | {"+": "t"}
)
# A word as written: letters and the symbols swapped for letters, joined by . - ' inside.
_WORD = re.compile(r"[\w@$!+*]+(?:['.\-][\w@$!+*]+)*")
_PART = re.compile(r"[\w@$!+*]+")
_JOINTS = ("'", ".", "-")
# Words that hold any of these are profanity whether or not the package lists them
# ("fuckery", "shitstorm"); the shorter stems below need the list's word to count.
STRONG_STEMS = ("fuck", "shit")
# A listed word holding one of these is ordinary profanity (masked under ``strict``). Matched
# against the word's key (letters only, swaps undone).
PROFANE_STEMS = (
    *STRONG_STEMS,
    "fuk", "fuq", "phuck", "phuk", "phuq", "fcuk", "fvck", "fxck", "fux",
    "crap", "damn", "goddam", "cunt", "cnut", "twat", "twunt", "bitch", "biatch", "bastard",
    "ass", "arse", "dick", "dlck", "cock", "kock", "cawk", "pussy", "puss", "prick", "piss",
    "wank", "whore", "hore", "slut", "skank", "bollock", "bellend", "knob", "nob", "tosser",
    "douch", "duche", "mothafuck", "mofo", "jizz", "jism", "jiz", "cum", "kum", "tit", "boob",
    "stfu", "gtfo", "wtf", "foad", "gfy", "feck", "fook", "frig", "turd", "terd", "poon", "quim",
    "schlong", "dildo", "blowjob", "handjob", "rimjob", "porn", "pron", "spunk", "spooge",
    "smegma", "sob", "shag", "pecker", "whor", "butthole", "ballsack", "nutsack", "jackoff",
    "jerkoff",
)  # fmt: skip

# Slurs, by the group they target, as digests of their keys (see the module's docstring).
# Words that are slurs only in some senses are left out ("homo" as in homo sapiens, "paddy",
# "spick and span", "ritard." in a score, "he she"); a plural is found by its singular.
RACIAL_AND_ETHNIC_SLURS = (
    "12e6274e4309293e", "567ee6b87988ebaf", "1c4bfd100aa92982", "f9d0d9b18ae9033a",
    "e7b98c6aa5b944e0", "cc02032349c833ac", "0515b9e67e0e8306", "a40ccba874d28799",
    "a7bf072c97a0779f", "619bc82e0d200e4a", "c3de533e9b7fe63b", "3c8400b402baa7f1",
    "f57decd953b30651", "7d2969e37aa4ff60", "038c9ccdd226f572", "08a841e996781e9e",
    "1290d04b901d01be", "87d1690e74a1d827", "120f6e5b4ea32f65", "b726c4b4a1b4f011",
    "3b1e0d7c5dd45583", "43508b5c03b8b8ce", "22fc75e65a0e9d34", "68681c97086eb97c",
    "98b52c4b6b7d1f48", "6b95d47887bf5070", "333f7618092958c7", "eef3bd091670c344",
    "a77ac6b9073428ea", "0be9b885f4a35a18", "e742d17ff490c87e",
)  # fmt: skip
HOMOPHOBIC_AND_TRANSPHOBIC_SLURS = (
    "dfc6a720c7f4c62b", "886d51e97ad7931d", "9915ba2d822280f2", "40582c4d824a2660",
    "045c89d13d244409", "12815a8ffae018c9", "8f5083e3e5c7dc89", "63bd9333b1a0b11d",
    "b7ae4d206c964844", "cfb9b64306389859", "ec44545ba157fe0b", "86f624562262063a",
    "b01e90e12186f28b", "acc96930e3a69737", "ac388ed51e923f18", "574cf2a15e8b437e",
    "b5975fae7b601150", "4e8a200044aeb9d2", "80c6b7cd410760f8", "9f1b8e5a29bc9a88",
    "b04a31b6d9045145", "1cb13c16e9c308b8", "33740da8a87dc7de", "66415f8ce37b74a5",
    "16ea09fc78ca83ca",
)  # fmt: skip
ABLEIST_SLURS = (
    "428cc39e867f3776", "27eb0c4ad7072067", "ea2a3c6bcbb56087", "158869a97379229b",
    "bd331fb1d24298f5", "ed939b046a78f1d2", "1802d081455e60cd", "9f1c7abfa23bb24e",
    "65961619eae0bfcd",
)  # fmt: skip
SLUR_DIGESTS = frozenset(RACIAL_AND_ETHNIC_SLURS + HOMOPHOBIC_AND_TRANSPHOBIC_SLURS + ABLEIST_SLURS)


def word_key(word: str) -> str:
    """A word as it is looked up: lower case, letter swaps undone, letters only
    ("N1GG3R" and "n.i.g.g.e.r" have one key)."""
    return "".join(char for char in word.casefold().translate(_LEET) if char.isalpha())


def slur_digest(phrase: str) -> str:
    """A slur's entry in the table: the digest of its words' keys, joined by spaces."""
    key = " ".join(word_key(word) for word in phrase.split())
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class _Word:
    written: str  # as in the verse, lower case, outer punctuation trimmed
    key: str
    span: Span

    @property
    def compound(self) -> bool:
        return any(joint in self.written for joint in _JOINTS)

    def parts(self) -> Iterator[_Word]:
        """The words a compound is made of, each with its own span."""
        for match in _PART.finditer(self.written):
            key = word_key(match.group())
            if key:
                start = self.span.start + match.start()
                yield _Word(match.group(), key, Span(start, start + len(match.group())))


class WordList:
    """The offline check over a package's profanity list and the slur table."""

    def __init__(self, listed: Iterable[str], slurs: frozenset[str] = SLUR_DIGESTS) -> None:
        self._listed = frozenset(word.strip().casefold() for word in listed if word.strip())
        self._listed_keys = frozenset(word_key(word) for word in self._listed)
        self._slurs = slurs

    def check(self, text: str) -> Finding:
        """The slurs (as the category) and the profanity (as spans) in ``text``."""
        words = list(_words(text))
        slur = False
        profanity: list[Span] = []
        for index, word in enumerate(words):
            pair = words[index + 1] if index + 1 < len(words) else None
            if pair is not None and text[word.span.end : pair.span.start].isspace():
                slur = slur or self._is_slur(f"{word.key} {pair.key}")
                if f"{word.written} {pair.written}" in self._listed and _profane(
                    word.key + pair.key
                ):
                    profanity.append(Span(word.span.start, pair.span.end))
                    continue
            # A compound is looked up whole ("f-u-c-k"), else by its parts ("bitch-made").
            for part in self._flagged(word):
                if part is None:
                    slur = True
                else:
                    profanity.append(part.span)
        categories = frozenset({Category.SLUR}) if slur else frozenset()
        return Finding(categories, tuple(profanity))

    def _flagged(self, word: _Word) -> Iterator[_Word | None]:
        """What is flagged in a word: None for a slur, else the profane word or parts."""
        if self._is_slur(word.key):
            yield None
        elif self._is_profanity(word):
            yield word
        elif word.compound:
            for part in word.parts():
                if self._is_slur(part.key):
                    yield None
                elif self._is_profanity(part):
                    yield part

    def _is_slur(self, key: str) -> bool:
        return any(_digest(form) in self._slurs for form in _singulars(key))

    def _is_profanity(self, word: _Word) -> bool:
        if any(stem in word.key for stem in STRONG_STEMS):
            return True
        listed = word.written in self._listed or any(
            form in self._listed_keys for form in _singulars(word.key)
        )
        return listed and _profane(word.key)


def _profane(key: str) -> bool:
    return any(stem in key for stem in PROFANE_STEMS)


def _words(text: str) -> Iterator[_Word]:
    for match in _WORD.finditer(text):
        written = match.group().casefold().rstrip("!")  # "sh!t" holds one; "shit!" ends one
        start = match.start()
        end = start + len(written)
        if written.endswith("'s"):  # a possessive is its word's
            written, end = written[:-2], end - 2
        key = word_key(written)
        if key:
            yield _Word(written, key, Span(start, end))


def _singulars(key: str) -> tuple[str, ...]:
    """The key, and the singulars a plural may have ("…s", "…es")."""
    forms = [key]
    if key.endswith("s") and len(key) > 3:
        forms.append(key[:-1])
        if key.endswith("es"):
            forms.append(key[:-2])
    return tuple(forms)


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]
