"""Tournament rules: pairing, decisions, tiers, the Swiss table, and the files' text.

Single elimination follows the tournament behind our format exactly; Swiss goes beyond it. The
runners play the battles (bot/services/tournaments/); the progression is bot/engine/progression.py,
and everything it decides comes from here, so a resumed run decides exactly as an uninterrupted one.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from bot.engine.ratings import Rating, fit_ratings, leaderboard_order, rank

# From the top: the champion, the finalist, then each earlier round's losers one tier lower.
TIERS = ("SSS", "SS", "S", "A", "B", "C", "D", "F", "FF", "FFF")
# Pairing a Swiss round is a search; this many steps is far beyond any real roster's need, and
# stops a pathological history from hanging the run.
SWISS_SEARCH_LIMIT = 200_000


class TournamentFormat(enum.Enum):
    SINGLE = "single"
    SWISS = "swiss"


@dataclass(frozen=True, slots=True)
class Pairing:
    """Battle ``index`` of a round; side A opens and is the higher seed."""

    index: int
    side_a: str
    side_b: str


@dataclass(frozen=True, slots=True)
class RoundPlan:
    """A round's contestants in order, who sits out (if anyone), and its battles in order."""

    contestants: tuple[str, ...]
    bye: str | None
    pairings: tuple[Pairing, ...]


def elimination_round(contestants: Sequence[str]) -> RoundPlan:
    """Battle k pairs index (n mod 2) + k with index n - n//2 + k; with odd n, index 0 sits out.

    So the top half meets the bottom half in order, and the top seed of an odd round advances.
    """
    n = len(contestants)
    if n < 2:
        raise ValueError("A round needs at least two contestants.")
    first = n % 2
    second = n - n // 2
    pairings = tuple(
        Pairing(k, contestants[first + k], contestants[second + k]) for k in range(n // 2)
    )
    return RoundPlan(tuple(contestants), contestants[0] if first else None, pairings)


def next_contestants(plan: RoundPlan, winners: Sequence[str]) -> tuple[str, ...]:
    """The bye (if any), then the winners in battle order (not the files' text order)."""
    if len(winners) != len(plan.pairings):
        raise ValueError(f"{len(plan.pairings)} battles need {len(plan.pairings)} winners.")
    return ((plan.bye,) if plan.bye is not None else ()) + tuple(winners)


def tier_list(rounds: Sequence[Sequence[str]]) -> list[tuple[str, tuple[str, ...]]]:
    """Tiers from the contestants of every round, the last being the champion alone.

    A model's tier is set by the last round it reached; beyond ten rounds the lowest tier holds
    every earlier round. Tiers are listed top first, each with its models in seeding order.
    """
    if not rounds or len(rounds[-1]) != 1:
        raise ValueError("The last round holds only the champion.")
    last_round_reached: dict[str, int] = {}
    for number, contestants in enumerate(rounds):
        for model in contestants:
            last_round_reached[model] = number
    final = len(rounds) - 1
    grouped: dict[str, list[str]] = {}
    for model in rounds[0]:
        tier = TIERS[min(final - last_round_reached[model], len(TIERS) - 1)]
        grouped.setdefault(tier, []).append(model)
    return [(tier, tuple(grouped[tier])) for tier in TIERS if tier in grouped]


# -- deciding a battle -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Decision:
    """Who advances, with the note results.md shows for a tie or a forfeit."""

    pairing: Pairing
    winner: str
    judges_a: int
    judges_b: int
    forfeit: str | None = None
    note: str | None = None

    @property
    def loser(self) -> str:
        return self.pairing.side_b if self.winner == self.pairing.side_a else self.pairing.side_a

    @property
    def is_tie(self) -> bool:
        return self.forfeit is None and self.judges_a == self.judges_b

    @property
    def score_a(self) -> float:
        """Side A's score for the fit: a tie broken by seed is no evidence, so it counts half."""
        if self.is_tie:
            return 0.5
        return 1.0 if self.winner == self.pairing.side_a else 0.0


def decide(
    pairing: Pairing,
    score: Mapping[str, int],
    forfeit: str | None = None,
    withheld: str | None = None,
) -> Decision:
    """The model most judges chose wins; a tie goes to side A, the higher seed; a forfeit loses.
    ``withheld``: why the content filter withheld the forfeiting model's verse, if it did."""
    a, b = pairing.side_a, pairing.side_b
    if a == b:
        raise ValueError(f"{a} cannot battle itself in a tournament.")
    if forfeit is not None:
        if forfeit not in (a, b):
            raise ValueError(f"{forfeit} forfeited a battle it was not in ({a} v {b}).")
        winner = b if forfeit == a else a
        why = (
            "it delivered no verse after the retries"
            if withheld is None
            else f"its verse was withheld by the content filter ({withheld})"
        )
        note = f"`{forfeit}` forfeits: {why}."
        return Decision(pairing, winner, 0, 0, forfeit, note)
    unknown = set(score) - {a, b}
    if unknown:
        raise ValueError(f"The score names {sorted(unknown)}, not in {a} v {b}.")
    judges_a, judges_b = int(score.get(a, 0)), int(score.get(b, 0))
    if judges_a > judges_b:
        return Decision(pairing, a, judges_a, judges_b)
    if judges_b > judges_a:
        return Decision(pairing, b, judges_a, judges_b)
    if judges_a == 0:
        note = f"No judge chose a side: `{a}`, side A and the higher seed, advances."
    else:
        note = f"Tie {judges_a}–{judges_b}: `{a}`, side A and the higher seed, advances."
    return Decision(pairing, a, judges_a, judges_b, None, note)


# -- Swiss -------------------------------------------------------------------------------------


class NoPairing(ValueError):
    """No pairing of this Swiss round avoids a rematch."""


@dataclass(frozen=True, slots=True)
class SwissStanding:
    model: str
    points: float
    wins: int
    losses: int
    byes: int


def swiss_standings(
    seeds: Sequence[str], decisions: Sequence[Decision], byes: Sequence[str]
) -> list[SwissStanding]:
    """Models by points (a win or a bye is a point), then by seed."""
    seed_of = {model: index for index, model in enumerate(seeds)}
    wins = dict.fromkeys(seeds, 0)
    losses = dict.fromkeys(seeds, 0)
    bye_count = dict.fromkeys(seeds, 0)
    for decision in decisions:
        wins[decision.winner] += 1
        losses[decision.loser] += 1
    for model in byes:
        bye_count[model] += 1
    rows = [
        SwissStanding(
            model, wins[model] + bye_count[model], wins[model], losses[model], bye_count[model]
        )
        for model in seeds
    ]
    return sorted(rows, key=lambda row: (-row.points, seed_of[row.model]))


def swiss_round(
    seeds: Sequence[str], decisions: Sequence[Decision], byes: Sequence[str]
) -> RoundPlan:
    """The next Swiss round: equal points meet, nearest seeds first, never a rematch.

    A score group that cannot be paired sends its leftover to the nearest group; with an odd
    count the lowest-ranked model that has not sat out yet sits out. Side A is the higher seed.
    The plan's contestants are the standings going into the round. Raises NoPairing when every
    pairing would repeat a battle.
    """
    if len(set(seeds)) != len(seeds) or len(seeds) < 2:
        raise ValueError("A Swiss round needs at least two distinct models.")
    standings = swiss_standings(seeds, decisions, byes)
    order = [row.model for row in standings]
    points = {row.model: row.points for row in standings}
    seed_of = {model: index for index, model in enumerate(seeds)}
    met = {frozenset((d.pairing.side_a, d.pairing.side_b)) for d in decisions}
    bye_candidates: list[str | None] = [None]
    if len(order) % 2:
        bye_candidates = [model for model in reversed(order) if model not in byes]
        if not bye_candidates:  # everyone has sat out once: start again from the bottom
            bye_candidates = list(reversed(order))
    groups = sorted(set(points.values()), reverse=True)
    search = _SwissSearch(
        {model: groups.index(points[model]) for model in order},
        {model: points[model] for model in order},
        seed_of,
        met,
    )
    for bye in bye_candidates:
        remaining = tuple(model for model in order if model != bye)
        pairs = search.pairs(remaining)
        if pairs is not None:
            pairings = tuple(
                Pairing(k, *sorted(pair, key=seed_of.__getitem__)) for k, pair in enumerate(pairs)
            )
            return RoundPlan(tuple(order), bye, pairings)
    raise NoPairing("Every pairing of this round would repeat a battle.")


@dataclass(frozen=True, slots=True)
class _SwissSearch:
    """Pairs a ranked list with the fewest crossings of score groups, then nearest seeds first.

    A pair's cost is how many score groups apart its two models are. Costs allowed grow from the
    least that the groups' sizes force (each odd group sends one model down), so a group is only
    pulled apart when rematches leave no other way. Within that, a depth-first search lets the top
    remaining model take the closest opponent it has not met, backtracking only when a choice
    leaves the rest unpairable.
    """

    group: Mapping[str, int]  # 0 for the top score group
    points: Mapping[str, float]
    seed_of: Mapping[str, int]
    met: Collection[frozenset[str]]

    def pairs(self, ranked: tuple[str, ...]) -> list[tuple[str, str]] | None:
        if len(ranked) % 2:
            raise ValueError("An even number of models is paired.")
        most = len(ranked) // 2 * (max(self.group.values(), default=0) + 1)
        for allowed in range(self._forced_cost(ranked), most + 1):
            budget = [SWISS_SEARCH_LIMIT]
            found = self._search(ranked, allowed, budget)
            if found is not None:
                return found
        return None

    def _forced_cost(self, ranked: Sequence[str]) -> int:
        """The least cost: each group with an odd count (after what floated in) sends one down."""
        sizes: dict[int, int] = {}
        for model in ranked:
            sizes[self.group[model]] = sizes.get(self.group[model], 0) + 1
        cost, carry, previous = 0, 0, None
        for group in sorted(sizes):
            if carry and previous is not None:
                cost += group - previous
            carry = (carry + sizes[group]) % 2
            previous = group
        return cost

    def _search(
        self, ranked: tuple[str, ...], allowed: int, budget: list[int]
    ) -> list[tuple[str, str]] | None:
        if not ranked:
            return []
        budget[0] -= 1
        if budget[0] < 0 or self._forced_cost(ranked) > allowed:
            return None
        top, rest = ranked[0], ranked[1:]
        candidates = sorted(
            (
                model
                for model in rest
                if frozenset((top, model)) not in self.met
                and abs(self.group[model] - self.group[top]) <= allowed
            ),
            key=lambda model: (
                abs(self.points[model] - self.points[top]),
                abs(self.seed_of[model] - self.seed_of[top]),
                self.seed_of[model],
            ),
        )
        for opponent in candidates:
            cost = abs(self.group[opponent] - self.group[top])
            left = tuple(model for model in rest if model != opponent)
            pairs = self._search(left, allowed - cost, budget)
            if pairs is not None:
                return [(top, opponent), *pairs]
        return None


@dataclass(frozen=True, slots=True)
class TableRow:
    rank: int
    model: str
    rating: Rating
    standing: SwissStanding


def swiss_table(
    seeds: Sequence[str], decisions: Sequence[Decision], byes: Sequence[str]
) -> list[TableRow]:
    """A Bradley-Terry fit of every battle (1, 0, or 0.5 for a tied panel), best first."""
    ratings = fit_ratings((d.pairing.side_a, d.pairing.side_b, d.score_a) for d in decisions)
    standings = {row.model: row for row in swiss_standings(seeds, decisions, byes)}
    for model in seeds:  # a model that only sat out still gets a row
        ratings.setdefault(model, fit_ratings([(model, model, 0.5)])[model])
    ranks = rank(ratings)
    return [
        TableRow(ranks[model], model, ratings[model], standings[model])
        for model in leaderboard_order(ratings)
    ]


# -- results.md --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlayedRound:
    plan: RoundPlan
    decisions: tuple[Decision, ...]


def render_results(
    tournament_format: TournamentFormat,
    seeds: Sequence[str],
    rounds: Sequence[PlayedRound],
    ended_early: str | None = None,
) -> str:
    """results.md: every round's battles with links, winners and notes, then tiers or the table.

    It holds no timestamps, so a resumed run writes the same file as an uninterrupted one.
    ``ended_early`` says why a Swiss tournament stopped before its last round.
    """
    lines: list[str] = ["# Tournament results", ""]
    if tournament_format is TournamentFormat.SINGLE:
        champion = _champion(rounds)
        lines += [
            f"Single elimination: {len(seeds)} models, {len(rounds)} rounds"
            + (f", champion `{champion}`." if champion else " so far."),
            "",
        ]
    else:
        lines += [f"Swiss: {len(seeds)} models, {len(rounds)} rounds.", ""]
        if ended_early is not None:
            lines += [ended_early, ""]
    for number, played in enumerate(rounds):
        lines += _round_lines(tournament_format, number, played)
    if tournament_format is TournamentFormat.SINGLE:
        champion = _champion(rounds)
        if champion is not None:
            contestants = [played.plan.contestants for played in rounds] + [(champion,)]
            lines += ["## Tier list", "", "| Tier | Models |", "|---|---|"]
            for tier, models in tier_list(contestants):
                lines.append(f"| {tier} | {', '.join(f'`{m}`' for m in models)} |")
            lines.append("")
    else:
        decisions = [d for played in rounds for d in played.decisions]
        byes = [played.plan.bye for played in rounds if played.plan.bye is not None]
        lines += [
            "## Table",
            "",
            f"A Bradley-Terry fit of all {len(decisions)} battles on the Elo scale, with 95% "
            "intervals. A tied panel counts as half a win each in the fit; in the points, as in "
            "the bracket, it goes to side A. A bye is a point but no battle.",
            "",
            "| Rank | Model | Rating | 95% interval | Points | Won–lost | Byes |",
            "|--:|---|--:|---|--:|---|--:|",
        ]
        for row in swiss_table(seeds, decisions, byes):
            standing = row.standing
            lines.append(
                f"| {row.rank} | `{row.model}` | {row.rating.rating:.0f} "
                f"| {row.rating.low:.0f} to {row.rating.high:.0f} | {standing.points:g} "
                f"| {standing.wins}–{standing.losses} | {standing.byes} |"
            )
        lines.append("")
    return "\n".join(lines)


def _champion(rounds: Sequence[PlayedRound]) -> str | None:
    if not rounds:
        return None
    last = rounds[-1]
    if len(last.decisions) == 1 and last.plan.bye is None:
        return last.decisions[0].winner
    return None


def _round_lines(
    tournament_format: TournamentFormat, number: int, played: PlayedRound
) -> list[str]:
    plan = played.plan
    folder = f"round{number}"
    if tournament_format is TournamentFormat.SINGLE:
        intro = f"{len(plan.contestants)} contestants ([list]({folder}/contestants.txt))"
        intro += f"; `{plan.bye}` advances without a battle." if plan.bye else "."
    else:
        intro = f"{len(plan.contestants)} models by points ([standings]({folder}/contestants.txt))"
        intro += f"; `{plan.bye}` sits out and takes a point." if plan.bye else "."
    lines = [
        f"## Round {number}",
        "",
        intro,
        "",
        "| Battle | Side A | Side B | Judges | Winner | Files |",
        "|--:|---|---|---|---|---|",
    ]
    for decision in played.decisions:
        pairing = decision.pairing
        judges = "forfeit" if decision.forfeit else f"{decision.judges_a}–{decision.judges_b}"
        files = (
            f"[transcript]({folder}/{pairing.index}.txt) · [verdict]({folder}/{pairing.index}.yml)"
        )
        lines.append(
            f"| {pairing.index} | `{pairing.side_a}` | `{pairing.side_b}` | {judges} "
            f"| `{decision.winner}` | {files} |"
        )
    notes = [d for d in played.decisions if d.note]
    if notes:
        lines.append("")
        lines += [f"- Battle {d.pairing.index}: {d.note}" for d in notes]
    lines.append("")
    return lines
