"""The judges' rules: what a judge reads, reading its answer, the verdict and its YAML file."""

import json
import math

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import binomtest

from bot.engine.battle import FINAL_ROUND, Battle, Side, Turn
from bot.engine.transcript import parse, transcript_of
from bot.engine.verdicts import (
    DEFAULT_PANEL,
    Ballot,
    Decision,
    Pick,
    Proportion,
    Verdict,
    VerdictFile,
    VerdictFormatError,
    judge_messages,
    judged_names,
    judged_transcript,
    judges_own_vendor,
    parse_judge_list,
    read_pick,
    recused,
    same_vendor,
    verdict_response_format,
    wilson_interval,
)
from bot.errors import ConfigError
from bot.settings import Settings

QWEN, LLAMA = "qwen/qwen-max", "meta-llama/llama-3-70b-instruct"


def battle_turns(battle: Battle) -> list[Turn]:
    turns = []
    for slot in battle.plan():
        text = FINAL_ROUND if slot.side is None else f"verse of {slot.side.value} {slot.round}"
        turns.append(battle.turn(slot, text))
    return turns


# -- what a judge reads -------------------------------------------------------------------------


def test_the_judge_reads_the_transcript_exactly_as_exported():
    battle = Battle(QWEN, LLAMA, rounds=2, topic="cats")
    turns = battle_turns(battle)
    assert judged_transcript(battle, turns) == transcript_of(battle, turns)
    assert judged_names(battle) == (QWEN, LLAMA)

    messages = judge_messages(transcript_of(battle, turns), battle.topic)
    assert [m["role"] for m in messages] == ["system", "user"]
    assert messages[1]["content"] == transcript_of(battle, turns)
    system = messages[0]["content"]
    for idea in ("wit", "flow", "rhyme", "rebuttal", "Ignore anything you know"):
        assert idea in system
    assert '"cats"' in system
    assert '"cats"' not in judge_messages("# a v b\n")[0]["content"]


def test_a_blind_battle_is_judged_under_stage_names_only():
    battle = Battle(QWEN, LLAMA, rounds=3, blind=True)
    text = judged_transcript(battle, battle_turns(battle))
    assert QWEN not in text and LLAMA not in text
    assert text.startswith("# MC A v MC B\n")
    parsed = parse(text)
    assert [t.speaker for t in parsed.turns] == [
        "MC A",
        "MC B",
        "MC A",
        "MC B",
        "system",
        "MC A",
        "MC B",
    ]
    assert [t.text for t in parsed.turns] == [t.text for t in battle_turns(battle)]
    assert judged_names(battle) == ("MC A", "MC B")


def test_a_model_against_itself_is_judged_under_stage_names():
    battle = Battle(QWEN, QWEN, rounds=1)
    assert judged_names(battle) == ("MC A", "MC B")
    assert judged_transcript(battle, battle_turns(battle)).startswith("# MC A v MC B\n")


def test_response_format_is_exact():
    assert verdict_response_format("MC A", "MC B") == {
        "type": "json_schema",
        "json_schema": {
            "name": "verdict",
            "strict": True,
            "schema": {
                "type": "object",
                "properties": {
                    "winner": {"type": "string", "enum": ["MC A", "MC B"]},
                    "closing_statement": {"type": "string"},
                },
                "required": ["winner", "closing_statement"],
                "additionalProperties": False,
            },
        },
    }


# -- reading an answer --------------------------------------------------------------------------

VALID = json.dumps({"winner": LLAMA, "closing_statement": "Sharper rebuttals."})


@pytest.mark.parametrize(
    "content",
    [
        VALID,
        f"  {VALID}\n",
        f"```json\n{VALID}\n```",
        f"Here is my verdict:\n```\n{VALID}\n```\nGood battle.",
        f"After careful thought, {VALID} -- final answer.",
        f'Considering {{"notes": "a draft"}} first... {VALID}',
        json.dumps({"winner": LLAMA.upper(), "closing_statement": "  Sharper rebuttals. "}),
    ],
)
def test_a_pick_is_read_from_bare_fenced_or_surrounded_json(content):
    assert read_pick(content, QWEN, LLAMA) == Pick(Side.B, "Sharper rebuttals.")


@pytest.mark.parametrize(
    "content",
    [
        None,
        "",
        "The second MC clearly won.",
        "```json\n{not json}\n```",
        json.dumps({"winner": "Nobody", "closing_statement": "a tie"}),
        json.dumps({"winner": "qwen", "closing_statement": "close but not a name"}),
        json.dumps({"winner": ["qwen/qwen-max"], "closing_statement": "a list"}),
        json.dumps({"closing_statement": "no winner key"}),
        json.dumps([QWEN]),
    ],
)
def test_an_answer_naming_neither_side_or_without_json_is_no_pick(content):
    assert read_pick(content, QWEN, LLAMA) is None


def test_a_pick_without_a_statement_still_counts():
    assert read_pick(json.dumps({"winner": QWEN}), QWEN, LLAMA) == Pick(Side.A, "")


# -- the panel ----------------------------------------------------------------------------------


def test_judge_lists_and_the_default_panel():
    assert parse_judge_list(" openai/gpt-5, ,grok-4,OPENAI/gpt-5 ") == ("openai/gpt-5", "grok-4")
    assert parse_judge_list(" , ") == ()
    assert len(DEFAULT_PANEL) == 5 and len({m.split("/")[0] for m in DEFAULT_PANEL}) == 5
    assert Settings.from_env({}).judge_models == DEFAULT_PANEL
    env = {"JUDGE_MODELS": "gpt-5, grok-4"}
    assert Settings.from_env(env).judge_models == ("gpt-5", "grok-4")
    with pytest.raises(ConfigError, match="JUDGE_MODELS"):
        Settings.from_env({"JUDGE_MODELS": ",,"})


def test_same_vendor_and_recusal():
    assert same_vendor("qwen/qwen3-235b", QWEN)
    assert same_vendor("Qwen/qwen3", QWEN)
    assert not same_vendor("openai/gpt-5", QWEN)
    assert not same_vendor("meta-llama-x/judge", LLAMA)
    battle = Battle("openai/gpt-4o", "x-ai/grok-2")
    assert judges_own_vendor("x-ai/grok-4", battle)
    assert recused(DEFAULT_PANEL, battle) == (
        "deepseek/deepseek-chat",
        "google/gemini-2.5-pro",
        "mistralai/mistral-large",
    )
    assert recused(DEFAULT_PANEL, Battle(QWEN, LLAMA)) == DEFAULT_PANEL


def ballots(*picks: Side | None) -> tuple[Ballot, ...]:
    return tuple(
        Ballot.abstention(f"lab{i}/judge", "down")
        if pick is None
        else Ballot(f"lab{i}/judge", pick, f"statement {i}", prompt_tokens=10, completion_tokens=i)
        for i, pick in enumerate(picks)
    )


def test_more_judges_win():
    verdict = Verdict(QWEN, LLAMA, ballots(Side.B, Side.A, Side.B, Side.B, Side.A))
    assert (verdict.votes(Side.A), verdict.votes(Side.B)) == (2, 3)
    assert verdict.winner is Side.B and verdict.decision is Decision.WIN
    assert verdict.summary() == f"{LLAMA} wins 3-2"
    assert verdict.prompt_tokens == 50 and verdict.completion_tokens == 10


def test_abstentions_are_counted_apart():
    verdict = Verdict(QWEN, LLAMA, ballots(Side.A, None, Side.A, Side.A, Side.B))
    assert verdict.winner is Side.A and verdict.abstentions == 1
    assert verdict.summary() == f"{QWEN} wins 3-1 (1 abstained)"


def test_equal_numbers_are_a_split_decision():
    verdict = Verdict(QWEN, LLAMA, ballots(Side.A, Side.B, None, Side.B, Side.A))
    assert verdict.winner is None and verdict.decision is Decision.SPLIT
    assert verdict.summary() == "split decision 2-2 (1 abstained)"


def test_every_judge_abstaining_is_no_verdict():
    verdict = Verdict(QWEN, LLAMA, ballots(None, None, None))
    assert verdict.winner is None and verdict.decision is Decision.NONE
    assert verdict.summary() == "no verdict: all 3 judges abstained"
    assert VerdictFile.of(verdict) == VerdictFile({}, {})
    assert Verdict(QWEN, LLAMA, ballots(None)).summary() == "no verdict: the judge abstained"
    assert Verdict(QWEN, LLAMA, ()).summary() == "no verdict: no judge sat"


def test_a_ballot_has_a_pick_or_a_reason():
    with pytest.raises(ValueError):
        Ballot("a/b", None)
    with pytest.raises(ValueError):
        Ballot("a/b", Side.A, "fine", abstained="but also down")


# -- the YAML verdict file ----------------------------------------------------------------------


def test_the_verdict_file_has_two_sorted_mappings_and_omits_unchosen_models():
    long = "Qwen's wordplay was sharper in every round, and its rebuttals landed. " * 3
    verdict = Verdict(
        QWEN,
        LLAMA,
        (
            Ballot("x-ai/grok-4", Side.A, "Short: yes"),
            Ballot("openai/gpt-5", Side.A, long.strip()),
            Ballot.abstention("google/gemini-2.5-pro", "the model is down (502)"),
        ),
    )
    data = VerdictFile.of(verdict)
    assert data.score == {QWEN: 2}
    text = data.to_yaml()
    assert text == yaml.safe_dump(
        {
            "closing_statements": {"openai/gpt-5": long.strip(), "x-ai/grok-4": "Short: yes"},
            "score": {QWEN: 2},
        }
    )
    assert text.startswith("closing_statements:\n  openai/gpt-5: ")
    assert max(len(line) for line in text.splitlines()) <= 90  # folded
    assert text.endswith("score:\n  qwen/qwen-max: 2\n")
    assert VerdictFile.from_yaml(text) == data


def test_a_tournament_file_loads_to_the_same_data():
    statements = {f"lab{i}/judge": f"Qwen won, reason {i}." for i in range(5)}
    text = yaml.safe_dump({"closing_statements": statements, "score": {QWEN: 5}})
    loaded = VerdictFile.from_yaml(text)
    assert loaded.score == {QWEN: 5}
    assert loaded.closing_statements == statements
    assert loaded.to_yaml() == text
    flow = "closing_statements: {a/b: fine}\nscore: {qwen/qwen-max: 5}\n"
    assert VerdictFile.from_yaml(flow) == VerdictFile({"a/b": "fine"}, {QWEN: 5})


@pytest.mark.parametrize(
    "text",
    [
        "score: {a/b: 1}\n",
        "closing_statements: {}\nscore: {}\nextra: 1\n",
        "closing_statements: [a, b]\nscore: {}\n",
        "closing_statements: {}\nscore: {a/b: many}\n",
        "closing_statements: {}\nscore: {a/b: 0}\n",
        "closing_statements: {}\nscore: {a/b: true}\n",
        "- a list\n",
        "closing_statements: {\n",
    ],
)
def test_other_yaml_is_not_a_verdict_file(text):
    with pytest.raises(VerdictFormatError):
        VerdictFile.from_yaml(text)


@given(
    st.dictionaries(
        st.from_regex(r"[a-z]{1,8}/[a-z0-9.-]{1,12}", fullmatch=True), st.text(max_size=300)
    ),
    st.dictionaries(
        st.from_regex(r"[a-z]{1,8}/[a-z0-9.-]{1,12}", fullmatch=True), st.integers(1, 7)
    ),
)
def test_any_verdict_file_round_trips(statements, score):
    data = VerdictFile(statements, score)
    assert VerdictFile.from_yaml(data.to_yaml()) == data


# -- agreement statistics -----------------------------------------------------------------------


@pytest.mark.parametrize(("successes", "trials"), [(0, 10), (7, 10), (10, 10), (62, 170), (1, 1)])
def test_wilson_interval_matches_scipy(successes, trials):
    expected = binomtest(successes, trials).proportion_ci(0.95, method="wilson")
    low, high = wilson_interval(successes, trials)
    assert math.isclose(low, expected.low, abs_tol=1e-9)
    assert math.isclose(high, expected.high, abs_tol=1e-9)


def test_a_proportion_with_no_trials_is_unknown():
    assert Proportion(0, 0).value is None
    assert Proportion(0, 0).interval == (0.0, 1.0)
    agreement = Proportion(83, 100)
    assert agreement.value == 0.83
    low, high = agreement.interval
    assert low < 0.83 < high
    with pytest.raises(ValueError):
        Proportion(3, 2)
