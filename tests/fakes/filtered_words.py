"""Words for the content filter's tests, found rather than spelled out: a slur from the
package's list as the engine's table classes it, so that no test carries one in its source."""

from __future__ import annotations

from bot.engine.word_list import WordList
from bot.moderation.offline import packaged_words


def listed_slurs() -> list[str]:
    """Every word of the package's list that the slur table classes as a slur (plain letters
    only, so that a test can put it inside a sentence as it is)."""
    table = WordList(())
    return [word for word in packaged_words() if word.isalpha() and table.check(word).categories]


def a_listed_slur() -> str:
    return listed_slurs()[0]
