"""The transcript format, byte for byte, and verse cleanup."""

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.engine.battle import FINAL_ROUND, Battle, Side, Turn
from bot.engine.transcript import TranscriptFormatError, header, parse, render, turn_block
from bot.engine.verses import clean_verse

# Crafted in the tournament's style, with everything that makes the format hard to read back.
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "tournament-style-transcript.md"
# The tournament's own examples, where the repository sits next to them (not in a fresh clone).
EXAMPLES = Path(__file__).resolve().parents[3] / "shared" / "examples"


def example_files() -> list[Path]:
    return sorted(EXAMPLES.glob("*.md"))


def assert_round_trips_as_a_full_battle(raw: bytes) -> tuple[Turn, ...]:
    parsed = parse(raw.decode("utf-8"))
    assert render(parsed.model_a, parsed.model_b, parsed.turns).encode("utf-8") == raw
    assert [t.speaker for t in parsed.turns].count("system") == 1
    assert [t.side for t in parsed.turns if t.side] == [Side.A, Side.B] * 3
    assert parsed.turns[-1].round == 3
    return parsed.turns


def test_a_tournament_style_transcript_round_trips_byte_for_byte():
    turns = assert_round_trips_as_a_full_battle(FIXTURE.read_bytes())
    verses = [turn.text for turn in turns if not turn.is_announcement]
    lines = [line for verse in verses for line in verse.split("\n")]
    # The fixture keeps the features that make parsing hard; each must survive the round trip.
    assert any(line.startswith("**") and line.rstrip().endswith("**") for line in lines)
    assert sum(line.endswith("  ") for line in lines) >= 5
    assert all("\n\n" in verse for verse in verses[:3]) and "\n\n\n" in verses[2]
    not_speakers = [line for line in lines if line.startswith("> ")]
    assert "> system" in not_speakers and "> Final round!" in not_speakers
    assert any(line.startswith(f"> {turns[0].speaker} ") for line in not_speakers)
    assert any(line.startswith(" ") for line in lines)
    assert [turn.text for turn in turns if turn.is_announcement] == [FINAL_ROUND]


@pytest.mark.skipif(not example_files(), reason=f"no tournament examples in {EXAMPLES}")
def test_the_tournaments_own_transcripts_round_trip_byte_for_byte():
    for path in example_files():
        assert_round_trips_as_a_full_battle(path.read_bytes())


def test_render_matches_the_documented_layout():
    battle = Battle("qwen/qwen-max", "x-ai/grok-2", rounds=2)
    plan = battle.plan()
    texts = ["a1  \n\nstill a1", "b1", FINAL_ROUND, "a2", "b2"]
    turns = [battle.turn(slot, text) for slot, text in zip(plan, texts, strict=True)]
    expected = (
        "# qwen/qwen-max v x-ai/grok-2\n\n"
        "> qwen/qwen-max\na1  \n\nstill a1\n\n"
        "> x-ai/grok-2\nb1\n\n"
        "> system\nFinal round!\n\n"
        "> qwen/qwen-max\na2\n\n"
        "> x-ai/grok-2\nb2\n"
    )
    text = render(battle.model_a, battle.model_b, turns)
    assert text == expected
    assert header(battle.model_a, battle.model_b) + "".join(map(turn_block, turns)) == text
    assert parse(text).turns == tuple(turns)


def test_a_partial_battle_is_a_valid_transcript_after_every_turn():
    battle = Battle("m/a", "m/b")
    turns = [battle.turn(slot, f"text {i}") for i, slot in enumerate(battle.plan())]
    for count in range(len(turns) + 1):
        text = render("m/a", "m/b", turns[:count])
        assert parse(text).turns == tuple(turns[:count])


def test_verse_that_quotes_a_speaker_line_still_round_trips():
    tricky = "I said\n\n> m/b\nis weak"
    text = render("m/a", "m/b", [Battle("m/a", "m/b").turn(Battle("m/a", "m/b").plan()[0], tricky)])
    assert render(*_fields(parse(text))) == text


def _fields(transcript):
    return transcript.model_a, transcript.model_b, transcript.turns


@pytest.mark.parametrize(
    "text",
    [
        "",
        "no header\n",
        "# a v b\n\n> c\nwho?\n",
        "# a v b\n\n> b\nout of turn\n",
        "# a v b\n\n> a\nno end",
    ],
)
def test_malformed_transcripts_are_refused(text):
    with pytest.raises(TranscriptFormatError):
        parse(text)


verse_text = (
    st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=60)
    .map(str.strip)
    .filter(bool)
)


@given(st.lists(verse_text, min_size=0, max_size=7))
def test_any_battle_round_trips(texts):
    battle = Battle("vendor/a", "vendor/b")
    turns = [
        battle.turn(slot, FINAL_ROUND if slot.side is None else text)
        for slot, text in zip(battle.plan(), texts, strict=False)
    ]
    rendered = render("vendor/a", "vendor/b", turns)
    assert render(*_fields(parse(rendered))) == rendered


def test_cleanup_strips_whitespace_and_reasoning_only():
    assert clean_verse("  \n Yo,  \nbars  \n\n ") == "Yo,  \nbars"
    assert clean_verse("<think>plan the diss</think>\n\nYo") == "Yo"
    assert clean_verse("<THINK>a</THINK>Yo<think>b</think> too") == "Yo too"
    assert clean_verse("reasoning without an opening tag</think>Yo") == "Yo"
    assert clean_verse("<think>cut off before it ended") is None
    assert clean_verse("**bows** <i>@everyone</i> `x`") == "**bows** <i>@everyone</i> `x`"


@pytest.mark.parametrize("raw", [None, "", "   \n\t ", "<think>only thoughts</think>  "])
def test_empty_after_cleanup_is_no_verse(raw):
    assert clean_verse(raw) is None
