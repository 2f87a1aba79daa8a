"""The content filter's rules: what each level withholds, masking, the endpoint's categories, the
withheld line, and the offline word list (slurs told from ordinary profanity, within budget)."""

from __future__ import annotations

import re
import time

import pytest

from bot.engine.battle import Battle, Side
from bot.engine.content_filter import (
    MASK_CHARACTER,
    Category,
    Cleared,
    FilterLevel,
    Finding,
    Span,
    Withheld,
    decide,
    endpoint_categories,
    gravest,
    mask,
    parse_level,
    withheld_line,
    withheld_lines,
    withheld_reason,
)
from bot.engine.word_list import SLUR_DIGESTS, WordList, slur_digest, word_key
from bot.moderation.offline import packaged_words
from tests.fakes.filtered_words import listed_slurs

WORDS = WordList(packaged_words())
SLUR = listed_slurs()[0]


def screened(level: FilterLevel, text: str):
    return decide(level, text, WORDS.check(text))


# -- levels ---------------------------------------------------------------------------------------


def test_standard_withholds_a_slur_and_keeps_ordinary_profanity():
    assert screened(FilterLevel.STANDARD, f"you {SLUR}, sit down") == Withheld(Category.SLUR)
    verse = "Fuck your bars, this shit is weak, you bitch-made clown"
    assert screened(FilterLevel.STANDARD, verse) == Cleared(verse)


def test_strict_masks_profanity_with_as_many_dots_and_still_withholds_slurs():
    verse = "Fuck your bars, this shit is weak, you bitch-made clown"
    result = screened(FilterLevel.STRICT, verse)
    assert result == Cleared("•••• your bars, this •••• is weak, you •••••-made clown")
    assert len(result.text) == len(verse)
    assert screened(FilterLevel.STRICT, f"{SLUR}!") == Withheld(Category.SLUR)


def test_off_withholds_nothing_and_masks_nothing():
    for verse in (f"you {SLUR}", "fuck it"):
        assert screened(FilterLevel.OFF, verse) == Cleared(verse)
    every = Finding(frozenset(Category), (Span(0, 4),))
    assert decide(FilterLevel.OFF, "fuck it", every) == Cleared("fuck it")


def test_every_category_is_withheld_at_standard_and_strict():
    for category in Category:
        for level in (FilterLevel.STANDARD, FilterLevel.STRICT):
            assert decide(level, "x", Finding(frozenset({category}))) == Withheld(category)


def test_levels_parse_as_typed_and_refuse_anything_else():
    assert parse_level(" Strict ") is FilterLevel.STRICT
    assert [parse_level(level.value) for level in FilterLevel] == list(FilterLevel)
    with pytest.raises(ValueError):
        parse_level("lenient")


# -- masking --------------------------------------------------------------------------------------


def test_mask_keeps_length_and_spaces_and_ignores_spans_past_the_end():
    assert mask("blow job done", [Span(0, 8)]) == "•••• ••• done"
    assert mask("abc", [Span(1, 99), Span(-5, 1)]) == MASK_CHARACTER * 3
    assert mask("line one\nline two", []) == "line one\nline two"


# -- the endpoint's categories --------------------------------------------------------------------


def test_a_rap_battles_usual_flags_do_not_withhold():
    flags = {
        "harassment": True,
        "harassment/threatening": True,
        "violence": True,
        "sexual": True,
        "illicit": True,
        "self-harm": True,
        "self-harm/intent": True,
    }
    assert endpoint_categories(flags) == frozenset()


def test_endpoint_categories_map_onto_ours():
    assert endpoint_categories({"hate": True}) == {Category.HATE}
    assert endpoint_categories({"hate/threatening": True}) == {Category.HATE}
    assert endpoint_categories({"sexual/minors": True}) == {Category.SEXUAL_MINORS}
    assert endpoint_categories({"self-harm/instructions": True}) == {
        Category.SELF_HARM_INSTRUCTIONS
    }
    assert endpoint_categories({"hate": False, "harassment": True}) == frozenset()
    # Harassment that is also hate is aimed at a protected group, and named as such.
    both = endpoint_categories({"hate": True, "harassment": True})
    assert both == {Category.HATE, Category.HARASSMENT}
    assert gravest(both) is Category.HARASSMENT


def test_the_gravest_category_names_a_verse_flagged_for_several():
    assert gravest([Category.SLUR, Category.SEXUAL_MINORS, Category.HATE]) is (
        Category.SEXUAL_MINORS
    )
    assert gravest([]) is None


# -- the withheld line ----------------------------------------------------------------------------


def test_the_withheld_line_names_the_side_as_the_battle_does():
    blind = Battle("a/one", "b/two", blind=True)
    assert withheld_line(blind.stage_name(Side.B), Category.HATE) == (
        "MC B's verse was withheld by the content filter (hate)."
    )
    named = Battle("a/one", "b/two")
    assert withheld_reason(named.stage_name(Side.A), Category.SLUR) == (
        "a/one's verse was withheld by the content filter (slur)"
    )


def test_stats_lines_list_the_most_withheld_first():
    assert withheld_lines({}) == ["No verse withheld."]
    assert withheld_lines({"b/x": 1, "a/y": 3, "a/x": 1}) == [
        "`a/y` · withheld 3",
        "`a/x` · withheld 1",
        "`b/x` · withheld 1",
    ]


# -- the offline word list ------------------------------------------------------------------------


def test_the_slur_table_is_digests_and_names_words_of_the_packages_list():
    assert all(re.fullmatch(r"[0-9a-f]{16}", digest) for digest in SLUR_DIGESTS)
    slurs = listed_slurs()
    # The table and the package's list agree on dozens of words (a renamed list would show).
    assert len(slurs) >= 40
    assert len({word_key(word) for word in slurs}) >= 25


def test_a_slur_is_found_in_any_case_spelling_plural_or_possessive():
    spellings = [SLUR.upper(), f"{SLUR}s", f"{SLUR}'s", ".".join(SLUR), f"({SLUR})"]
    for spelling in spellings:
        assert WORDS.check(f"look at this {spelling} here").categories == {Category.SLUR}
    assert slur_digest(SLUR.upper()) in SLUR_DIGESTS


def test_words_that_only_look_like_slurs_pass():
    verse = (
        "Homo sapiens, he she they, spick and span, a raccoon in Scunthorpe,\n"
        "don't niggle, Dickens at the class cocktail, assassin on the bass"
    )
    assert WORDS.check(verse) == Finding()


def test_profanity_is_found_in_its_spellings_and_ordinary_listed_words_are_not():
    verse = "s.h.i.t and a$$, sh!t, fuckery, motherfucker's, blow job, goddamn"
    found = WORDS.check(verse)
    assert found.categories == frozenset()
    masked = mask(verse, found.profanity)
    assert masked == "••••••• and •••, ••••, •••••••, ••••••••••••'s, •••• •••, •••••••"
    # The package lists these too, but they are no profanity.
    assert WORDS.check("God will kill the drunk with a weed and vodka").profanity == ()


def test_the_offline_check_is_well_within_its_50_ms_a_verse():
    verse = ("Yo I spit fire, fuck your rhymes, you bitch-made fraud, damn\n" * 60)[:4000]
    started = time.perf_counter()
    for _ in range(20):
        WORDS.check(verse)
    assert (time.perf_counter() - started) / 20 < 0.050
