"""Discord-sized message splitting and verse pacing."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.engine.discord_limits import MESSAGE_CHARS
from bot.engine.pacing import (
    AUTO_CHARS_PER_SECOND,
    AUTO_MAX_SECONDS,
    AUTO_MIN_SECONDS,
    Pace,
)
from bot.engine.splitting import (
    escape_markdown,
    split_message,
    verse_header,
    verse_messages,
)
from bot.errors import InvalidBattle


def test_short_text_is_one_message():
    assert split_message("hello") == ["hello"]
    assert split_message("") == []


def test_splits_at_an_empty_line_before_a_line_break_or_space():
    paragraph = "word " * 300  # 1500 characters, spaces only
    text = paragraph + "\n\n" + paragraph + "\nline\n" + paragraph
    pieces = split_message(text)
    assert pieces[0] == paragraph + "\n\n"
    assert "".join(pieces) == text


def test_splits_at_a_line_break_when_no_empty_line_fits():
    lines = "\n".join(f"bar {i:04d} rhymes with the line before it" for i in range(100))
    pieces = split_message(lines)
    assert all(piece.endswith("\n") for piece in pieces[:-1])
    assert "".join(pieces) == lines


def test_hard_cut_only_for_a_single_run_without_breaks():
    run = "x" * 4500
    assert split_message(run) == ["x" * 2000, "x" * 2000, "x" * 500]


def test_a_14000_character_verse_splits_into_messages_under_the_limit():
    verse = "\n\n".join(
        "\n".join(f"stanza {s} line {n}: " + "flow " * 10 for n in range(8)) for s in range(40)
    )
    assert len(verse) >= 14_000
    messages = verse_messages("qwen/qwen-max", 2, 3, verse)
    assert len(messages) >= 7
    assert all(len(m) <= MESSAGE_CHARS for m in messages)
    assert "".join(messages) == verse_header("qwen/qwen-max", 2, 3) + "\n" + verse
    assert all(m.strip() for m in messages)


@given(
    st.text(st.sampled_from([*list("ab \n"), "🔥", "é"]), max_size=3000),
    st.integers(min_value=1, max_value=300),
)
def test_splitting_never_loses_duplicates_or_reorders(text, limit):
    pieces = split_message(text, limit)
    assert "".join(pieces) == text
    assert all(0 < len(piece) <= limit for piece in pieces)


def test_header_names_the_speaker_and_round_and_escapes_markdown():
    assert verse_header("qwen/qwen-max", 1, 3) == "🎤 **qwen/qwen\\-max** · Round 1"
    assert verse_header("MC A", 3, 3).endswith("· Final round")
    assert verse_header("x", 1, 1).endswith("· Round 1")
    assert escape_markdown("a_b*c`d") == "a\\_b\\*c\\`d"


def test_fixed_pace_and_off():
    assert Pace.parse("0").pause_after("anything") == 0
    assert Pace.parse(" 7.5 ").pause_after("x" * 10_000) == 7.5
    assert str(Pace.parse("5")) == "5"


def test_auto_pace_is_reading_time_clamped():
    auto = Pace.parse("AUTO")
    assert auto.is_auto and str(auto) == "auto"
    assert auto.pause_after("short") == AUTO_MIN_SECONDS
    median_verse = "x" * 1050
    assert auto.pause_after(median_verse) == pytest.approx(1050 / AUTO_CHARS_PER_SECOND)
    assert auto.pause_after("x" * 14_000) == AUTO_MAX_SECONDS


@pytest.mark.parametrize("bad", ["-1", "soon", "nan", "inf", "301", ""])
def test_bad_pace_is_refused_with_a_clear_message(bad):
    with pytest.raises(InvalidBattle, match="Pace must be"):
        Pace.parse(bad)
