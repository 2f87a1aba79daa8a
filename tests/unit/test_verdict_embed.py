"""The "⚖️ Judges' verdict" embed: what it says, and that it always fits Discord's limits; and the
judges' server settings."""

from __future__ import annotations

import pytest

from bot.engine.battle import Battle, Side
from bot.engine.discord_limits import EMBED_DESCRIPTION_CHARS as EMBED_DESCRIPTION_LIMIT
from bot.engine.discord_limits import EMBED_FIELD_NAME_CHARS as FIELD_NAME_LIMIT
from bot.engine.discord_limits import EMBED_FIELD_VALUE_CHARS as FIELD_VALUE_LIMIT
from bot.engine.discord_limits import EMBED_FIELDS as EMBED_FIELDS_LIMIT
from bot.engine.discord_limits import EMBED_TITLE_CHARS as EMBED_TITLE_LIMIT
from bot.engine.discord_limits import EMBED_TOTAL_CHARS as EMBED_TOTAL_LIMIT
from bot.engine.server_settings import (
    JUDGE_MODELS,
    JUDGE_RECUSAL,
    JUDGES,
    InvalidSetting,
    ServerRules,
    ServerSettings,
)
from bot.engine.verdicts import MAX_JUDGES, Ballot, Verdict
from bot.engine.votes import Tally
from bot.stages.embeds import VERDICT_TITLE, verdict_embed

QWEN, GROK = "qwen/qwen-max", "x-ai/grok-2"
BATTLE = Battle(QWEN, GROK, 1)


def crowd(a: int, b: int) -> Tally:
    return Tally({i: Side.A for i in range(a)} | {100 + i: Side.B for i in range(b)})


def text_of(embed) -> str:
    return "\n".join(
        [embed.title or "", embed.description or ""]
        + [f"{field.name}\n{field.value}" for field in embed.fields]
    )


def assert_fits(embed) -> None:
    assert len(embed.title) <= EMBED_TITLE_LIMIT
    assert len(embed.description) <= EMBED_DESCRIPTION_LIMIT
    assert len(embed.fields) <= EMBED_FIELDS_LIMIT
    for field in embed.fields:
        assert 0 < len(field.name) <= FIELD_NAME_LIMIT
        assert 0 < len(field.value) <= FIELD_VALUE_LIMIT
    assert len(embed) <= EMBED_TOTAL_LIMIT


def test_the_score_each_judges_pick_and_agreement_with_the_crowd():
    verdict = Verdict(
        QWEN,
        GROK,
        (
            Ballot("x-ai/grok-4", Side.B, "Grok's flow was relentless.", same_vendor=True),
            Ballot("openai/gpt-5", Side.A, "Qwen flipped every punchline."),
            Ballot("google/gemini-2.5-pro", Side.A, "Sharper rebuttals from Qwen."),
            Ballot.abstention("mistralai/mistral-large", "the provider is down (503)"),
        ),
    )
    embed = verdict_embed(BATTLE, verdict, crowd(3, 1))
    assert embed.title == VERDICT_TITLE
    assert "**qwen/qwen\\-max** 2 – 1 **x\\-ai/grok\\-2**" in embed.description
    assert "qwen/qwen-max wins 2-1 (1 abstained)" in embed.description
    assert "agreed with the crowd" in embed.description
    names = [field.name for field in embed.fields]
    assert names == [
        "x-ai/grok-4 · same vendor as a contestant",
        "openai/gpt-5",
        "google/gemini-2.5-pro",
        "mistralai/mistral-large",
    ]
    assert embed.fields[0].value == "Picked **x\\-ai/grok\\-2**\nGrok's flow was relentless."
    assert embed.fields[3].value == "Abstained\nthe provider is down (503)"
    assert_fits(embed)

    disagreeing = verdict_embed(BATTLE, verdict, crowd(0, 2))
    assert "disagreed with the crowd, which picked **x\\-ai/grok\\-2**" in disagreeing.description
    assert "did not vote" in verdict_embed(BATTLE, verdict, crowd(0, 0)).description
    assert "crowd drew" in verdict_embed(BATTLE, verdict, crowd(1, 1)).description


def test_a_split_decision_and_no_verdict():
    split = Verdict(QWEN, GROK, (Ballot("a/j", Side.A, "x"), Ballot("b/j", Side.B, "y")))
    embed = verdict_embed(BATTLE, split, crowd(2, 0))
    assert "split decision 1-1" in embed.description and "The judges split" in embed.description
    silent = Verdict(QWEN, GROK, tuple(Ballot.abstention(f"l{i}/j", "timeout") for i in range(5)))
    embed = verdict_embed(BATTLE, silent, crowd(2, 0))
    assert embed.description.startswith("**No verdict**: all 5 judges abstained.")
    assert "nothing to compare" in embed.description
    assert_fits(embed)


def test_a_blind_battles_verdict_names_the_models_it_revealed():
    blind = Battle(QWEN, GROK, 1, blind=True)
    verdict = Verdict(QWEN, GROK, (Ballot("a/j", Side.B, "MC B won."),))
    text = text_of(verdict_embed(blind, verdict, crowd(1, 0)))
    assert "x\\-ai/grok\\-2" in text and "MC B won." in text


@pytest.mark.parametrize("judges", [1, 5, MAX_JUDGES, 30])
@pytest.mark.parametrize("statement_chars", [0, 300, 900, 5000])
def test_statements_are_cut_to_fit_every_limit(judges, statement_chars):
    ballots = tuple(
        Ballot(
            f"{'lab' * 40}{i}/{'judge' * 60}", Side.A if i % 2 else Side.B, "w" * statement_chars
        )
        for i in range(judges)
    )
    name_a, name_b = "a/" + "m" * 300, "b/" + "n" * 300
    verdict = Verdict(name_a, name_b, ballots)
    embed = verdict_embed(Battle(name_a, name_b, 1), verdict, crowd(4, 1))
    assert_fits(embed)
    if statement_chars and judges <= 5:
        # Room is shared: every statement shows some of its text.
        assert all("w" in field.value for field in embed.fields)
    if judges > EMBED_FIELDS_LIMIT:
        # The judges who do not fit are counted in a last field.
        assert embed.fields[-1].name == f"… and {judges - len(embed.fields) + 1} more judges"


def test_a_short_statement_is_shown_whole_beside_long_ones():
    ballots = (
        Ballot("a/j", Side.A, "Short and sweet."),
        *(Ballot(f"l{i}/j", Side.B, "x" * 3000) for i in range(6)),
    )
    embed = verdict_embed(BATTLE, Verdict(QWEN, GROK, ballots), crowd(1, 0))
    assert embed.fields[0].value.endswith("Short and sweet.")
    assert all(field.value.endswith("…") for field in embed.fields[1:])
    assert_fits(embed)


def test_the_judges_settings():
    rules = ServerRules.defaults()
    assert rules[JUDGES] is False and rules[JUDGE_RECUSAL] is False
    assert rules[JUDGE_MODELS] is None
    assert JUDGE_MODELS.parse("default") is None and JUDGE_MODELS.parse(" ") is None
    assert JUDGE_MODELS.parse("gpt-5, grok-4") == ("gpt-5", "grok-4")
    seven = tuple(f"lab{i}/judge" for i in range(MAX_JUDGES))
    assert ServerSettings().changed(judge_models=seven).chosen(JUDGE_MODELS) == seven
    with pytest.raises(InvalidSetting, match=f"at most {MAX_JUDGES} judges"):
        ServerSettings().changed(judge_models=(*seven, "one/more"))
    row = ServerSettings(judges=True, judge_models=seven, judge_recusal=True).to_row()
    assert ServerSettings.from_row(row) == ServerSettings(
        judges=True, judge_models=seven, judge_recusal=True
    )
    # Every option description fits Discord's 100 characters.
    assert all(len(s.description) <= 100 for s in (JUDGES, JUDGE_MODELS, JUDGE_RECUSAL))
