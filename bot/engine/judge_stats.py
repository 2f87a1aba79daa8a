"""How the judges' panel compares with the crowd, from plain rows: one per judge's ballot.

Agreement is reported as Arena reports its crowd-expert agreement: a share with a 95% Wilson
interval, over the battles where both sides of the comparison named a winner (a crowd's draw or
the panel's split decision names none, and is counted apart). Agreement and the opening side's
wins cover the battles that have both crowd votes and a verdict; abstentions and tokens cover
every judged battle, since a battle where every judge abstained has no verdict to compare.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bot.engine.battle import Side
from bot.engine.verdicts import Proportion

# Judges listed by name in the statistics; more would not fit an embed field.
MAX_JUDGES_SHOWN = 12
JUDGE_NAME_CHARS = 40


@dataclass(frozen=True, slots=True)
class JudgeBallotRow:
    """One judge's ballot on one closed, judged battle, beside the crowd's count."""

    battle_id: int
    votes_a: int
    votes_b: int
    judge: str
    pick: Side | None  # None: the judge abstained
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass(frozen=True, slots=True)
class JudgeAgreement:
    """One judge: how often it picked the crowd's winner, and the rest of the panel's."""

    judge: str
    with_crowd: Proportion
    with_panel: Proportion


@dataclass(frozen=True, slots=True)
class JudgeStats:
    compared: int  # battles with both crowd votes and a verdict
    panel_with_crowd: Proportion  # the panel's majority picked the crowd's winner
    undecided: int  # of the compared battles: a crowd's draw or a split decision
    judges: tuple[JudgeAgreement, ...]  # most ballots first
    opener_by_crowd: Proportion  # side A (which opens) won the crowd's vote
    opener_by_judges: Proportion  # side A won the panel's verdict
    judged: int  # every judged battle, whatever the crowd did
    abstentions: Proportion  # ballots that abstained, of every ballot
    prompt_tokens: int
    completion_tokens: int


def _winner(a: int, b: int) -> Side | None:
    if a == b:
        return None
    return Side.A if a > b else Side.B


def _majority(picks: Iterable[Side]) -> Side | None:
    listed = list(picks)
    return _winner(listed.count(Side.A), listed.count(Side.B))


@dataclass
class _Count:
    successes: int = 0
    trials: int = 0

    def add(self, success: bool) -> None:
        self.successes += success
        self.trials += 1

    def proportion(self) -> Proportion:
        return Proportion(self.successes, self.trials)


def judge_stats(rows: Iterable[JudgeBallotRow]) -> JudgeStats:
    battles: dict[int, list[JudgeBallotRow]] = {}
    for row in rows:
        battles.setdefault(row.battle_id, []).append(row)
    panel, opener_crowd, opener_judges = _Count(), _Count(), _Count()
    with_crowd: dict[str, _Count] = {}
    with_panel: dict[str, _Count] = {}
    ballots: dict[str, int] = {}
    compared = undecided = abstained = total = prompt = completion = 0
    for ballots_here in battles.values():
        for row in ballots_here:
            total += 1
            abstained += row.pick is None
            prompt += row.prompt_tokens
            completion += row.completion_tokens
            ballots[row.judge] = ballots.get(row.judge, 0) + 1
        first = ballots_here[0]
        picks = [row.pick for row in ballots_here if row.pick is not None]
        if first.votes_a + first.votes_b == 0 or not picks:
            continue
        compared += 1
        crowd = _winner(first.votes_a, first.votes_b)
        judges = _majority(picks)
        if crowd is None or judges is None:
            undecided += 1
        else:
            panel.add(judges is crowd)
        if crowd is not None:
            opener_crowd.add(crowd is Side.A)
        if judges is not None:
            opener_judges.add(judges is Side.A)
        for index, row in enumerate(ballots_here):
            if row.pick is None:
                continue
            if crowd is not None:
                with_crowd.setdefault(row.judge, _Count()).add(row.pick is crowd)
            others = _majority(
                other.pick
                for i, other in enumerate(ballots_here)
                if i != index and other.pick is not None
            )
            if others is not None:
                with_panel.setdefault(row.judge, _Count()).add(row.pick is others)
    listed = sorted(ballots, key=lambda judge: (-ballots[judge], judge))
    return JudgeStats(
        compared=compared,
        panel_with_crowd=panel.proportion(),
        undecided=undecided,
        judges=tuple(
            JudgeAgreement(
                judge,
                with_crowd.get(judge, _Count()).proportion(),
                with_panel.get(judge, _Count()).proportion(),
            )
            for judge in listed
        ),
        opener_by_crowd=opener_crowd.proportion(),
        opener_by_judges=opener_judges.proportion(),
        judged=len(battles),
        abstentions=Proportion(abstained, total),
        prompt_tokens=prompt,
        completion_tokens=completion,
    )


def share(proportion: Proportion) -> str:
    """``62% (48–74%, n=40)``; ``no battles yet`` without trials."""
    if proportion.value is None:
        return "no battles yet"
    low, high = proportion.interval
    return (
        f"{proportion.value:.0%} ({low:.0%}–{high:.0%}, "
        f"{proportion.successes} of {proportion.trials})"
    )


def summary_lines(stats: JudgeStats) -> list[str]:
    """The headline figures, one per line (95% intervals in brackets)."""
    if stats.judged == 0:
        return ["No judged battle has closed yet."]
    lines = [
        f"**Panel picked the crowd's winner:** {share(stats.panel_with_crowd)}",
        f"-# over {_battles(stats.compared)} with votes and a verdict"
        + (f"; {stats.undecided} drawn or split, left out" if stats.undecided else ""),
        f"**Side that opened won:** crowd {share(stats.opener_by_crowd)};"
        f" judges {share(stats.opener_by_judges)}",
        f"**Abstentions:** {share(stats.abstentions)} of ballots"
        f" over {_battles(stats.judged)} judged",
        f"**Tokens:** {stats.prompt_tokens:,} in, {stats.completion_tokens:,} out"
        + (
            f" (about {(stats.prompt_tokens + stats.completion_tokens) // stats.judged:,} a battle)"
        ),
    ]
    return lines


def judge_lines(judges: Sequence[JudgeAgreement], limit: int = MAX_JUDGES_SHOWN) -> list[str]:
    """Each judge's agreement with the crowd and with the rest of the panel."""
    lines = [
        f"`{_clip(agreement.judge)}` crowd {_short(agreement.with_crowd)}"
        f" · panel {_short(agreement.with_panel)}"
        for agreement in judges[:limit]
    ]
    if len(judges) > limit:
        lines.append(f"… and {len(judges) - limit} more")
    return lines


def _short(proportion: Proportion) -> str:
    if proportion.value is None:
        return "–"
    low, high = proportion.interval
    return f"{proportion.value:.0%} ({low:.0%}–{high:.0%}, n={proportion.trials})"


def _battles(count: int) -> str:
    return f"{count} battle" if count == 1 else f"{count} battles"


def _clip(name: str) -> str:
    name = name.replace("`", "'")
    return name if len(name) <= JUDGE_NAME_CHARS else name[: JUDGE_NAME_CHARS - 1] + "…"


def fit_lines(lines: Sequence[str], limit: int) -> str:
    """As many whole lines as fit in ``limit`` characters (an embed field
    holds ``EMBED_FIELD_VALUE_CHARS``)."""
    kept: list[str] = []
    used = 0
    for line in lines:
        line = line if len(line) <= limit else line[: limit - 1] + "…"
        if used + len(line) + (1 if kept else 0) > limit:
            break
        used += len(line) + (1 if kept else 0)
        kept.append(line)
    return "\n".join(kept)
