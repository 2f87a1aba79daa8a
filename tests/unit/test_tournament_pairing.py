"""Tournament rules: single-elimination pairing, decisions, tiers, Swiss pairing and results."""

import random

import pytest

from bot.engine.tournament import (
    TIERS,
    Decision,
    NoPairing,
    Pairing,
    PlayedRound,
    TournamentFormat,
    decide,
    elimination_round,
    next_contestants,
    render_results,
    swiss_round,
    swiss_standings,
    swiss_table,
    tier_list,
)
from bot.engine.verdicts import VerdictFile


def roster(n: int) -> list[str]:
    return [f"lab{i}/model-{i}" for i in range(n)]


def run_bracket(models: list[str], pick=lambda pairing: pairing.side_a):
    """Every round's plan, playing each battle with ``pick``; returns (plans, champion)."""
    plans, contestants = [], tuple(models)
    while len(contestants) > 1:
        plan = elimination_round(contestants)
        plans.append(plan)
        contestants = next_contestants(plan, [pick(p) for p in plan.pairings])
    return plans, contestants[0]


@pytest.mark.parametrize("n", range(2, 201))
def test_every_size_pairs_each_contestant_once_and_plays_n_minus_one_battles(n):
    rng = random.Random(n)
    models = roster(n)
    plans, champion = run_bracket(models, lambda p: rng.choice((p.side_a, p.side_b)))
    sizes = [len(plan.contestants) for plan in plans]
    assert sizes[0] == n
    for size, following in zip(sizes, [*sizes[1:], 1], strict=True):
        assert following == (size + 1) // 2  # half the battles' winners plus the bye
    for plan in plans:
        seen = [m for p in plan.pairings for m in (p.side_a, p.side_b)]
        seen += [plan.bye] if plan.bye is not None else []
        assert sorted(seen) == sorted(plan.contestants)
        assert len(plan.pairings) == len(plan.contestants) // 2
        assert [p.index for p in plan.pairings] == list(range(len(plan.pairings)))
        assert (plan.bye is not None) == (len(plan.contestants) % 2 == 1)
    assert sum(len(plan.pairings) for plan in plans) == n - 1
    assert len(plans) == (n - 1).bit_length()  # ceil(log2 n) rounds
    # The champion is the one model that never lost: it is in every round.
    assert all(champion in plan.contestants for plan in plans)


@pytest.mark.parametrize("n", range(2, 201))
def test_the_higher_seeds_win_every_battle_so_the_top_seed_is_champion(n):
    plans, champion = run_bracket(roster(n))
    assert champion == roster(n)[0]
    # Side A is always the higher seed (earlier in the round's order).
    for plan in plans:
        order = {m: i for i, m in enumerate(plan.contestants)}
        assert all(order[p.side_a] < order[p.side_b] for p in plan.pairings)


def test_the_formula_on_even_and_odd_rounds():
    four = elimination_round(["a", "b", "c", "d"])
    assert four.bye is None
    assert four.pairings == (Pairing(0, "a", "c"), Pairing(1, "b", "d"))
    five = elimination_round(["a", "b", "c", "d", "e"])
    assert five.bye == "a"
    assert five.pairings == (Pairing(0, "b", "d"), Pairing(1, "c", "e"))
    assert next_contestants(five, ["d", "c"]) == ("a", "d", "c")
    two = elimination_round(["x", "y"])
    assert two.pairings == (Pairing(0, "x", "y"),) and two.bye is None


@pytest.mark.parametrize("n", [3, 5, 7, 11, 99, 171, 199])
def test_odd_rounds_give_the_first_contestant_a_bye_and_it_leads_the_next_round(n):
    models = roster(n)
    plan = elimination_round(models)
    assert plan.bye == models[0]
    assert plan.pairings[0] == Pairing(0, models[1], models[n - n // 2])
    assert plan.pairings[-1] == Pairing(n // 2 - 1, models[n // 2], models[n - 1])
    winners = [p.side_b for p in plan.pairings]
    assert next_contestants(plan, winners) == (models[0], *winners)


def test_promotion_is_in_battle_order_not_the_files_text_order():
    # The original's rounds 2 and 3 promoted 0, 1, 10, 11, ..., 2, 20, ...: sorted file names.
    models = roster(44)
    plan = elimination_round(models)
    winners = [p.side_b for p in plan.pairings]
    following = next_contestants(plan, winners)
    assert following == tuple(models[22:44])
    text_order = sorted(range(22), key=str)
    assert following != tuple(winners[k] for k in text_order)
    second = elimination_round(following)
    assert second.pairings[0] == Pairing(0, models[22], models[33])
    assert second.pairings[10] == Pairing(10, models[32], models[43])


def test_the_original_170_model_tournament_shape():
    plans, _ = run_bracket(roster(170))
    assert [len(plan.contestants) for plan in plans] == [170, 85, 43, 22, 11, 6, 3, 2]
    assert [plan.bye is not None for plan in plans] == [
        False, True, True, False, True, False, True, False,
    ]  # fmt: skip


def test_tiers_from_the_last_round_back():
    plans, champion = run_bracket(roster(11))
    rounds = [plan.contestants for plan in plans] + [(champion,)]
    tiers = dict(tier_list(rounds))
    models = roster(11)
    # 11 -> 6 -> 3 -> 2 -> 1, the higher seed winning every battle.
    assert tiers == {
        "SSS": (models[0],),
        "SS": (models[1],),
        "S": (models[2],),
        "A": tuple(models[3:6]),
        "B": tuple(models[6:11]),
    }


def test_a_bye_counts_as_reaching_the_next_round():
    rounds = [("a", "b", "c"), ("a", "c"), ("c",)]
    assert tier_list(rounds) == [("SSS", ("c",)), ("SS", ("a",)), ("S", ("b",))]


def test_beyond_ten_rounds_the_lowest_tier_holds_every_earlier_round():
    plans, champion = run_bracket(roster(2048))
    rounds = [plan.contestants for plan in plans] + [(champion,)]
    tiers = dict(tier_list(rounds))
    assert list(tiers) == list(TIERS)
    # 11 rounds of battles give 12 groups (champion + 11 rounds of losers) for 10 tiers.
    assert len(tiers["FFF"]) == 1024 + 512 + 256  # losers of rounds 0, 1 and 2
    assert len(tiers["FF"]) == 128
    assert sum(map(len, tiers.values())) == 2048


def test_decisions_majority_tie_abstentions_and_forfeit():
    pairing = Pairing(0, "m/a", "m/b")
    assert decide(pairing, {"m/a": 3, "m/b": 2}).winner == "m/a"
    assert decide(pairing, {"m/b": 5}).winner == "m/b"
    tie = decide(pairing, {"m/a": 2, "m/b": 2})
    assert (tie.winner, tie.is_tie, tie.score_a) == ("m/a", True, 0.5)
    assert "Tie 2–2" in tie.note and "higher seed" in tie.note
    nobody = decide(pairing, {})
    assert nobody.winner == "m/a" and "No judge" in nobody.note
    forfeit = decide(pairing, {}, forfeit="m/a")
    assert (forfeit.winner, forfeit.loser, forfeit.score_a) == ("m/b", "m/a", 0.0)
    assert forfeit.note == "`m/a` forfeits: it delivered no verse after the retries."
    withheld = decide(pairing, {}, forfeit="m/b", withheld="slur")
    assert (withheld.winner, withheld.forfeit) == ("m/a", "m/b")
    assert withheld.note == "`m/b` forfeits: its verse was withheld by the content filter (slur)."
    with pytest.raises(ValueError):
        decide(pairing, {"m/c": 1})
    with pytest.raises(ValueError):
        decide(pairing, {}, forfeit="m/c")


def test_verdict_files_round_trip_in_the_tournament_format():
    verdict = VerdictFile(
        {"z/judge": "Short.", "a/judge": " ".join(["Long"] * 30)}, {"m/b": 1, "m/a": 1}
    )
    text = verdict.to_yaml()
    assert text.startswith("closing_statements:\n  a/judge: Long Long")
    assert text.endswith("score:\n  m/a: 1\n  m/b: 1\n")
    assert len(text.splitlines()) == 7  # the long statement is folded over two lines
    assert max(len(line) for line in text.splitlines()) < 90  # PyYAML folds near 80 columns
    assert VerdictFile.from_yaml(text) == VerdictFile(verdict.closing_statements, verdict.score)
    quoted = VerdictFile({"j/one": "It’s fire — a “clean” sweep"}, {"m/a": 1})
    assert VerdictFile.from_yaml(quoted.to_yaml()) == quoted
    forfeit = VerdictFile({}, {}, "m/a").to_yaml()
    assert forfeit == "closing_statements: {}\nforfeit: m/a\nscore: {}\n"
    assert VerdictFile.from_yaml(forfeit).forfeit == "m/a"
    withheld = VerdictFile({}, {}, "m/a", "hate").to_yaml()
    assert withheld == "closing_statements: {}\nforfeit: m/a\nscore: {}\nwithheld: hate\n"
    assert VerdictFile.from_yaml(withheld) == VerdictFile({}, {}, "m/a", "hate")
    bad_files = (
        "- a\n",
        "score: {m/a: two}\n",
        "score: [\n",
        "closing_statements: {}\nscore: {}\nwithheld: hate\n",  # withheld without a forfeit
        "closing_statements: {}\nforfeit: m/a\nscore: {}\nwithheld: [hate]\n",
    )
    for bad in bad_files:
        with pytest.raises(ValueError):
            VerdictFile.from_yaml(bad)


# -- Swiss -------------------------------------------------------------------------------------


def play_swiss(models, rounds, rng):
    decisions, byes, plans = [], [], []
    for _ in range(rounds):
        plan = swiss_round(models, decisions, byes)
        plans.append(plan)
        if plan.bye is not None:
            byes.append(plan.bye)
        for pairing in plan.pairings:
            score = {rng.choice((pairing.side_a, pairing.side_b)): rng.randint(3, 5)}
            decisions.append(decide(pairing, score))
    return plans, decisions, byes


@pytest.mark.parametrize("n", [2, 3, 5, 8, 9, 16, 33, 64, 101])
def test_swiss_never_rematches_and_gives_at_most_one_bye_each(n):
    rng = random.Random(n)
    models = roster(n)
    rounds = min(n - 1, 7)
    plans, decisions, byes = play_swiss(models, rounds, rng)
    pairs = [frozenset((d.pairing.side_a, d.pairing.side_b)) for d in decisions]
    assert len(pairs) == len(set(pairs))
    assert len(byes) == len(set(byes)) == (rounds if n % 2 else 0)
    for plan in plans:
        seen = [m for p in plan.pairings for m in (p.side_a, p.side_b)]
        assert sorted(seen + ([plan.bye] if plan.bye else [])) == sorted(models)


def test_swiss_first_round_pairs_nearest_seeds_and_the_bottom_seed_sits_out():
    plan = swiss_round(roster(7), [], [])
    models = roster(7)
    assert plan.bye == models[6]
    assert [(p.side_a, p.side_b) for p in plan.pairings] == [
        (models[0], models[1]),
        (models[2], models[3]),
        (models[4], models[5]),
    ]


@pytest.mark.parametrize("seed", range(20))
def test_swiss_score_groups_are_respected(seed):
    rng = random.Random(seed)
    models = roster(rng.choice([16, 20, 24, 32]))
    decisions, byes = [], []
    for _ in range(4):
        plan = swiss_round(models, decisions, byes)
        points = {row.model: row.points for row in swiss_standings(models, decisions, byes)}
        groups = sorted({points[m] for m in models}, reverse=True)
        sizes = {g: sum(points[m] == g for m in models) for g in groups}
        crossing = [p for p in plan.pairings if points[p.side_a] != points[p.side_b]]
        # Only a group's odd leftover floats, one group down: no group is pulled apart.
        assert len(crossing) <= sum(size % 2 for size in sizes.values())
        for p in crossing:
            high, low = sorted((points[p.side_a], points[p.side_b]), reverse=True)
            assert groups.index(low) - groups.index(high) == 1
        # The standings going into the round are by points, then seed.
        assert [points[m] for m in plan.contestants] == sorted(points.values(), reverse=True)
        for pairing in plan.pairings:
            score = {rng.choice((pairing.side_a, pairing.side_b)): 3}
            decisions.append(decide(pairing, score))


def test_swiss_falls_back_to_the_nearest_group_when_a_group_has_met():
    models = ["a", "b", "c", "d"]
    # Round 0: a beat b, c beat d. Then a and c lead; had a met c before, a would float.
    decisions = [decide(Pairing(0, "a", "b"), {"a": 3}), decide(Pairing(1, "c", "d"), {"c": 3})]
    plan = swiss_round(models, decisions, [])
    assert [(p.side_a, p.side_b) for p in plan.pairings] == [("a", "c"), ("b", "d")]
    decisions += [decide(Pairing(0, "a", "c"), {"a": 3}), decide(Pairing(1, "b", "d"), {"b": 3})]
    plan = swiss_round(models, decisions, [])
    # a (2 points) has met b and c, so takes d; b and c (1 point) have not met.
    assert [(p.side_a, p.side_b) for p in plan.pairings] == [("a", "d"), ("b", "c")]
    decisions += [decide(p, {p.side_a: 3}) for p in plan.pairings]
    with pytest.raises(NoPairing):
        swiss_round(models, decisions, [])


def test_swiss_is_deterministic():
    first = play_swiss(roster(37), 6, random.Random(5))
    second = play_swiss(roster(37), 6, random.Random(5))
    assert first == second


def test_swiss_table_is_a_bradley_terry_fit_with_intervals():
    models = roster(8)
    _plans, decisions, byes = play_swiss(models, 3, random.Random(1))
    table = swiss_table(models, decisions, byes)
    assert sorted(row.model for row in table) == sorted(models)
    ratings = [row.rating.rating for row in table]
    assert ratings == sorted(ratings, reverse=True)
    assert all(row.rating.low < row.rating.rating < row.rating.high for row in table)
    unbeaten = [row for row in table if row.standing.wins == 3]
    winless = [row for row in table if row.standing.wins == 0]
    assert unbeaten and winless
    assert min(r.rating.rating for r in unbeaten) > max(r.rating.rating for r in winless)
    assert abs(sum(ratings) / len(ratings) - 1000) < 1e-6


def test_results_list_rounds_links_notes_and_tiers():
    models = ["m/a", "m/b", "m/c"]
    first = elimination_round(models)
    tie = decide(first.pairings[0], {"m/b": 2, "m/c": 2})
    final = elimination_round(next_contestants(first, [tie.winner]))
    forfeit = decide(final.pairings[0], {}, forfeit="m/a")
    text = render_results(
        TournamentFormat.SINGLE,
        models,
        [PlayedRound(first, (tie,)), PlayedRound(final, (forfeit,))],
    )
    assert "champion `m/b`" in text
    assert "[transcript](round0/0.txt) · [verdict](round0/0.yml)" in text
    assert "[transcript](round1/0.txt)" in text
    assert "`m/a` advances without a battle" in text
    assert "- Battle 0: Tie 2–2: `m/b`, side A and the higher seed, advances." in text
    assert "- Battle 0: `m/a` forfeits" in text
    assert text.endswith("| SSS | `m/b` |\n| SS | `m/a` |\n| S | `m/c` |\n")
    assert isinstance(forfeit, Decision)
