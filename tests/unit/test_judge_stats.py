"""The judges-v-crowd statistics from plain rows, and the text /battle-stats shows."""

from __future__ import annotations

import pytest

from bot.engine.battle import Side
from bot.engine.judge_stats import (
    JudgeBallotRow,
    fit_lines,
    judge_lines,
    judge_stats,
    share,
    summary_lines,
)
from bot.engine.verdicts import Proportion

A, B = Side.A, Side.B


def battle(battle_id: int, votes: tuple[int, int], *picks: Side | None, tokens=(100, 10)):
    """Rows for one battle: judge jN gives the N-th pick."""
    return [
        JudgeBallotRow(battle_id, votes[0], votes[1], f"lab{i}/j{i}", pick, *tokens)
        for i, pick in enumerate(picks)
    ]


def test_the_panels_majority_against_the_crowds_winner():
    rows = [
        *battle(1, (3, 1), A, A, B),  # agree: A
        *battle(2, (0, 2), A, B, B),  # agree: B
        *battle(3, (5, 1), B, B, A),  # disagree
        *battle(4, (2, 2), A, A, A),  # crowd drew: left out of agreement
        *battle(5, (1, 0), A, B, None),  # split decision: left out
        *battle(6, (0, 0), A, A, A),  # no votes: not compared at all
        *battle(7, (1, 0), None, None, None),  # every judge abstained: no verdict
    ]
    stats = judge_stats(rows)
    assert stats.compared == 5 and stats.undecided == 2
    assert stats.panel_with_crowd == Proportion(2, 3)
    # The side that opened: the crowd picked A in 1, 3, 5 of its 4 decided battles (1, 2, 3, 5).
    assert stats.opener_by_crowd == Proportion(3, 4)
    # The judges named a winner in 1, 2, 3, 4: A in 1 and 4.
    assert stats.opener_by_judges == Proportion(2, 4)
    assert stats.judged == 7
    assert stats.abstentions == Proportion(4, 21)
    assert (stats.prompt_tokens, stats.completion_tokens) == (2100, 210)


def test_each_judge_against_the_crowd_and_the_rest_of_the_panel():
    rows = [
        *battle(1, (3, 1), A, A, B),
        *battle(2, (0, 2), A, B, B),
        *battle(3, (5, 1), B, B, A),
    ]
    stats = judge_stats(rows)
    by_judge = {agreement.judge: agreement for agreement in stats.judges}
    # j0 picked A, A, B against the crowd's A, B, A: right once.
    assert by_judge["lab0/j0"].with_crowd == Proportion(1, 3)
    # The rest of the panel: battle 1 split (A, B), battle 2 B, battle 3 split (B, A).
    assert by_judge["lab0/j0"].with_panel == Proportion(0, 1)
    assert by_judge["lab1/j1"].with_crowd == Proportion(2, 3)
    # j1 against j0+j2: battle 1 (A, B) split; battle 2 (A, B) split; battle 3 (B, A) split.
    assert by_judge["lab1/j1"].with_panel == Proportion(0, 0)
    assert by_judge["lab2/j2"].with_crowd == Proportion(2, 3)


def test_judges_are_listed_by_ballots_then_name():
    rows = [*battle(1, (1, 0), A), *battle(2, (1, 0), A, B)]
    assert [a.judge for a in judge_stats(rows).judges] == ["lab0/j0", "lab1/j1"]


def test_nothing_judged_says_so():
    stats = judge_stats([])
    assert stats.judged == 0 and stats.panel_with_crowd == Proportion(0, 0)
    assert summary_lines(stats) == ["No judged battle has closed yet."]
    assert share(stats.panel_with_crowd) == "no battles yet"


def test_shares_read_with_their_interval():
    text = share(Proportion(8, 10))
    low, high = Proportion(8, 10).interval
    assert text == f"80% ({low:.0%}–{high:.0%}, 8 of 10)"
    assert low == pytest.approx(0.49, abs=0.01) and high == pytest.approx(0.94, abs=0.01)


def test_the_text_fits_an_embed_field():
    rows = []
    for battle_id in range(40):
        rows += [
            JudgeBallotRow(battle_id, 2, 1, f"{'vendor' * 10}/judge-{i}", A, 5, 5)
            for i in range(20)
        ]
    stats = judge_stats(rows)
    lines = judge_lines(stats.judges)
    assert lines[-1] == "… and 8 more"
    text = fit_lines(lines, 1024)
    assert len(text) <= 1024 and text.splitlines() == lines[: len(text.splitlines())]
    assert all(len(fit_lines(summary_lines(stats), n)) <= n for n in (50, 200, 1024))
