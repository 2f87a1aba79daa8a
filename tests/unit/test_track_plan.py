"""A battle's track as a script: order, voices, what is read aloud, and chunks an engine takes."""

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.engine.battle import FINAL_ROUND, Battle, Side, Turn
from bot.engine.track import (
    Speaker,
    TrackPart,
    VoiceCast,
    cast_voices,
    display_name,
    speech_chunks,
    speech_text,
    track_parts,
    voice_index,
)
from bot.engine.transcript import parse

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "tournament-style-transcript.md"
VOICES = ("alloy", "ash", "ballad", "coral", "echo", "fable", "onyx", "nova", "sage", "shimmer")
CAST = VoiceCast(host="onyx", mc_a="ash", mc_b="coral")
MODEL_A, MODEL_B = "qwen/qwen-max", "meta-llama/llama-3-70b-instruct"


def battle_turns(rounds: int = 3) -> list[Turn]:
    battle = Battle(MODEL_A, MODEL_B, rounds=rounds)
    return [
        battle.turn(slot, FINAL_ROUND if slot.side is None else f"verse {slot.side} {slot.round}")
        for slot in battle.plan()
    ]


def verse(side: Side, text: str, round_number: int = 1) -> Turn:
    return Turn(MODEL_A if side is Side.A else MODEL_B, text, side, round_number)


# -- order and speakers ---------------------------------------------------------------------------


def test_the_host_reads_the_title_card_then_every_turn_in_order():
    parts = track_parts(MODEL_A, MODEL_B, battle_turns(), CAST, topic="pineapple on pizza")
    assert parts[0] == TrackPart(
        Speaker.HOST, "onyx", "qwen max versus llama 3 70b instruct. The topic: pineapple on pizza"
    )
    assert [(part.speaker, part.text) for part in parts[1:]] == [
        (Speaker.MC_A, "verse Side.A 1"),
        (Speaker.MC_B, "verse Side.B 1"),
        (Speaker.MC_A, "verse Side.A 2"),
        (Speaker.MC_B, "verse Side.B 2"),
        (Speaker.HOST, "Final round!"),
        (Speaker.MC_A, "verse Side.A 3"),
        (Speaker.MC_B, "verse Side.B 3"),
    ]


def test_each_speaker_speaks_in_its_own_voice():
    parts = track_parts(MODEL_A, MODEL_B, battle_turns(), CAST)
    voices = {part.speaker: {p.voice for p in parts if p.speaker is part.speaker} for part in parts}
    assert voices == {Speaker.HOST: {"onyx"}, Speaker.MC_A: {"ash"}, Speaker.MC_B: {"coral"}}


def test_without_a_topic_the_card_is_the_two_names():
    parts = track_parts(MODEL_A, MODEL_B, [], CAST)
    assert parts == (TrackPart(Speaker.HOST, "onyx", "qwen max versus llama 3 70b instruct"),)


def test_blind_names_are_read_as_they_are():
    parts = track_parts("MC A", "MC B", [], CAST, topic="robots")
    assert parts[0].text == "MC A versus MC B. The topic: robots"


def test_a_verse_of_only_stage_directions_has_no_part():
    turns = [
        verse(Side.A, "*clears throat*\n\n**drops the mic**\n(*bows*)"),
        verse(Side.B, "Real bars here"),
    ]
    parts = track_parts(MODEL_A, MODEL_B, turns, CAST)
    assert [(part.speaker, part.text) for part in parts[1:]] == [(Speaker.MC_B, "Real bars here")]


def test_model_ids_inside_a_verse_are_read_as_display_names():
    turns = [verse(Side.B, "qwen/qwen-max is a fraud, meta-llama/llama-3-70b-instruct is the king")]
    parts = track_parts(MODEL_A, MODEL_B, turns, CAST)
    assert parts[1].text == "qwen max is a fraud, llama 3 70b instruct is the king"


def test_a_tournament_transcript_becomes_a_track_with_every_line_and_no_markers():
    transcript = parse(FIXTURE.read_text(encoding="utf-8"))
    cast = cast_voices(transcript.model_a, transcript.model_b, VOICES, "onyx")
    parts = track_parts(transcript.model_a, transcript.model_b, transcript.turns, cast)
    assert parts[0].text == "ultra rhymer 70b versus max flow"
    assert len(parts) == 1 + len(transcript.turns)
    assert [part.speaker for part in parts[1:]] == [
        Speaker.HOST if t.is_announcement else Speaker.MC_A if t.side is Side.A else Speaker.MC_B
        for t in transcript.turns
    ]
    spoken = "\n".join(part.text for part in parts)
    for unread in ("*", "> ", "clears throat", "drops the beat", "smirks", "mic check", "bows"):
        assert unread not in spoken
    assert "Ultra Rhymer never stops," in spoken  # bold inside a lyric is read
    assert "nested quotes can't save your face." in spoken


# -- what is read aloud ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "spoken"),
    [
        ("**clears throat**\nYo, I run this", "Yo, I run this"),
        ("*clears throat*\nYo", "Yo"),
        ("I win the crown. **drops the mic**", "I win the crown."),
        ("(*laughs*) you call that a bar?", "you call that a bar?"),
        ("Hey **(laughs)** yo", "Hey yo"),
        ("**Ultra Rhymer** never stops", "Ultra Rhymer never stops"),
        ("More like Nemotron *slam*.", "More like Nemotron slam."),
        ("mine go ***rat-a-tat***", "mine go rat-a-tat"),
        ("# Verse one\n## Hook", "Verse one\nHook"),
        ("> quoted bars\n> > nested too", "quoted bars\nnested too"),
        ("- first bar\n* second bar\n+ third\n1. fourth", "first bar\nsecond bar\nthird\nfourth"),
        ("I'm `fast` and _slick_ and __bold__", "I'm fast and slick and bold"),
        ("~~old~~ new", "old new"),
        ("see [my page](https://example.com/x) now", "see my page now"),
        ("go to https://example.com/spam now", "go to now"),
        ("```\ncode bars\n```", "code bars"),
        ("bars\n---\nmore bars", "bars\nmore bars"),
        ("snake_case flow", "snake case flow"),
        ("two   spaces  here ", "two spaces here"),
        ("blank lines\n\n\nsqueezed", "blank lines\nsqueezed"),
        ("Final round!", "Final round!"),
        ("#1 in the game", "#1 in the game"),
    ],
)
def test_speech_text(written, spoken):
    assert speech_text(written) == spoken


@pytest.mark.parametrize("directions", ["*bows*", "**drops the mic**\n\n(*exits*)", "---", " ", ""])
def test_nothing_to_say_is_empty(directions):
    assert speech_text(directions) == ""


# -- display names --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model_id", "name"),
    [
        ("qwen/qwen-max", "qwen max"),
        ("meta-llama/llama-3.1-405b-instruct", "llama 3.1 405b instruct"),
        ("nvidia/llama-3.1-nemotron-ultra-253b-v1", "llama 3.1 nemotron ultra 253b v1"),
        ("openai/gpt-4o", "gpt 4o"),
        ("openai/gpt-4o:free", "gpt 4o"),
        ("deepseek/deepseek_r1", "deepseek r1"),
        ("llama3:8b", "llama3 8b"),
        ("gpt-4o", "gpt 4o"),
        ("MC A", "MC A"),
        ("MC B", "MC B"),
    ],
)
def test_display_name(model_id, name):
    assert display_name(model_id) == name


# -- voices ---------------------------------------------------------------------------------------


def test_a_model_keeps_its_voice_across_battles():
    opponents = ["openai/gpt-4o", "x-ai/grok-2", "mistralai/mistral-large", "google/gemini-pro-1.5"]
    as_a = {cast_voices(MODEL_A, other, VOICES, "onyx").mc_a for other in opponents}
    as_b = {
        cast_voices(other, MODEL_A, VOICES, "onyx").mc_b
        for other in opponents
        if voice_index(other, 9) != voice_index(MODEL_A, 9)
    }
    assert len(as_a) == 1 and as_a == as_b


def test_voices_are_a_stable_hash_not_pythons_salted_one():
    # sha256 of the id, pinned: the same in every process and release, so voices never move.
    assert voice_index("qwen/qwen-max", 10) == voice_index("qwen/qwen-max", 10)
    assert [voice_index(f"model-{n}", 10) for n in range(8)] == [4, 1, 0, 2, 8, 9, 9, 6]


def test_the_host_voice_is_never_an_mcs():
    for n in range(50):
        cast = cast_voices(f"vendor/model-{n}", f"other/model-{n}", VOICES, "onyx")
        assert "onyx" not in (cast.mc_a, cast.mc_b)
        assert cast.host == "onyx"


def test_colliding_mcs_take_the_next_voice():
    pool = [voice for voice in VOICES if voice != "onyx"]
    first = next(
        (a, b)
        for a in (f"a/model-{n}" for n in range(100))
        for b in (f"b/model-{n}" for n in range(100))
        if voice_index(a, len(pool)) == voice_index(b, len(pool))
    )
    cast = cast_voices(*first, VOICES, "onyx")
    index = voice_index(first[0], len(pool))
    assert cast.mc_a == pool[index]
    assert cast.mc_b == pool[(index + 1) % len(pool)]


def test_a_model_against_itself_gets_two_voices():
    cast = cast_voices(MODEL_A, MODEL_A, VOICES, "onyx")
    assert cast.mc_a != cast.mc_b


@given(st.text(min_size=1, max_size=40), st.text(min_size=1, max_size=40))
def test_two_mcs_never_share_a_voice(model_a, model_b):
    cast = cast_voices(model_a, model_b, VOICES, "onyx")
    assert cast.mc_a != cast.mc_b
    assert {cast.mc_a, cast.mc_b} <= set(VOICES) - {"onyx"}


def test_one_voice_besides_the_hosts_is_shared_and_none_is_refused():
    assert cast_voices(MODEL_A, MODEL_B, ["onyx", "ash"], "onyx") == VoiceCast("onyx", "ash", "ash")
    assert cast_voices(MODEL_A, MODEL_B, ["onyx"], "onyx") == VoiceCast("onyx", "onyx", "onyx")
    with pytest.raises(ValueError):
        cast_voices(MODEL_A, MODEL_B, [], "onyx")


# -- chunks ---------------------------------------------------------------------------------------


def squeezed(text: str) -> str:
    return re.sub(r"\s+", "", text)


def test_short_text_is_one_chunk():
    assert speech_chunks("  one short verse \n") == ["one short verse"]
    assert speech_chunks("") == []
    assert speech_chunks(" \n ") == []


def test_a_14000_character_verse_is_cut_at_line_ends_under_the_limit():
    line = "I spit fire on the mic and the whole crowd goes wild"  # 52 characters
    text = "\n".join(f"{line} {n:03d}" for n in range(250))
    assert len(text) > 14_000
    chunks = speech_chunks(text, 4096)
    assert len(chunks) == 4
    assert all(len(chunk) <= 4096 for chunk in chunks)
    assert all(re.fullmatch(r".* \d{3}", chunk.splitlines()[-1]) for chunk in chunks)
    assert "\n".join(chunks) == text


def test_prose_is_cut_at_sentence_ends():
    text = " ".join(f"Sentence number {n} ends here." for n in range(600))
    chunks = speech_chunks(text, 1000)
    assert all(chunk.endswith(".") and len(chunk) <= 1000 for chunk in chunks)
    assert " ".join(chunks) == text


def test_a_paragraph_break_wins_over_a_later_line_end():
    text = "a" * 60 + "\n\n" + "b" * 20 + "\n" + "c" * 30
    assert speech_chunks(text, 100) == ["a" * 60, "b" * 20 + "\n" + "c" * 30]


def test_without_sentences_it_cuts_at_spaces_then_mid_word():
    words = " ".join(["word"] * 100)
    assert all(len(chunk) <= 22 and not chunk.endswith(" ") for chunk in speech_chunks(words, 22))
    assert speech_chunks("x" * 25, 10) == ["x" * 10, "x" * 10, "x" * 5]


def test_the_limit_must_be_positive():
    with pytest.raises(ValueError):
        speech_chunks("text", 0)


@given(
    st.text(alphabet=st.sampled_from("ab .,!?\n\t—"), max_size=600) | st.text(max_size=300),
    st.integers(min_value=1, max_value=80),
)
def test_chunks_keep_the_text_modulo_whitespace_and_stay_under_the_limit(text, limit):
    chunks = speech_chunks(text, limit)
    assert all(0 < len(chunk) <= limit for chunk in chunks)
    assert all(chunk == chunk.strip() for chunk in chunks)
    assert squeezed("".join(chunks)) == squeezed(text)
