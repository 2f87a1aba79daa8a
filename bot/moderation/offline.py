"""The offline word list: better-profanity's list, shipped inside its package (nothing is
downloaded at run time), combined with the engine's slur table (bot/engine/word_list.py)."""

from __future__ import annotations

from importlib.resources import files

from bot.engine.word_list import WordList

PACKAGE = "better_profanity"
LIST_FILE = "profanity_wordlist.txt"


def packaged_words() -> list[str]:
    """The package's list, one word or phrase a line."""
    text = files(PACKAGE).joinpath(LIST_FILE).read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip()]


def offline_word_list() -> WordList:
    return WordList(packaged_words())
