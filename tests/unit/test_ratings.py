"""Bradley-Terry ratings: agreement with a plain maximum-likelihood fit, and honest intervals."""

import dataclasses
import math

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.stats import spearmanr

from bot.engine.ratings import (
    ELO_MEAN,
    ELO_SCALE,
    PRIOR_SD_ELO,
    Z_95,
    PairRecord,
    Rating,
    collapse,
    fit_pairs,
    fit_ratings,
    leaderboard_order,
    rank,
)

LOGIT_PER_ELO = math.log(10) / ELO_SCALE
REPETITIONS = 1000  # boards per coverage test: 16,000 intervals, a standard error near 0.2%


def simulate(
    rng: np.random.Generator, true_elo: dict[str, float], battles: int, max_voters: int = 1
) -> list[tuple[str, str, float]]:
    """Random pairings; a battle scores the vote share of 1..max_voters independent voters."""
    names = sorted(true_elo)
    elo = np.array([true_elo[name] for name in names])
    first = rng.integers(0, len(names), battles)
    second = (first + rng.integers(1, len(names), battles)) % len(names)  # never the same model
    p_first = 1.0 / (1.0 + 10.0 ** ((elo[second] - elo[first]) / ELO_SCALE))
    voters = rng.integers(1, max_voters + 1, battles)
    share = rng.binomial(voters, p_first) / voters
    return [(names[i], names[j], float(s)) for i, j, s in zip(first, second, share, strict=True)]


def spread_models(count: int, half_range: float) -> dict[str, float]:
    """True ratings evenly spread over ELO_MEAN ± half_range (so their mean is ELO_MEAN)."""
    return {
        f"m{k:02d}": ELO_MEAN + offset
        for k, offset in enumerate(np.linspace(-half_range, half_range, count))
    }


def drawn_models(rng: np.random.Generator, count: int, sd: float) -> dict[str, float]:
    """True ratings drawn from a normal with this sd, centred on ELO_MEAN as the fit centres."""
    offsets = rng.normal(0.0, sd, count)
    return {f"m{k:02d}": ELO_MEAN + offset for k, offset in enumerate(offsets - offsets.mean())}


@dataclasses.dataclass(frozen=True)
class Reference:
    rating: dict[str, float]
    information_half_width: dict[str, float]  # from the inverse observed information
    sandwich_half_width: dict[str, float]  # from I^-1 (sum over rows of g g') I^-1


def reference_fit(rows: list[tuple[str, str, float]]) -> Reference:
    """Unpenalised maximum likelihood over the raw rows with scipy, one model pinned at 0, then
    centred on ELO_MEAN; plus 95% half-widths from the inverse observed information, and from
    the textbook sandwich, built row by row."""
    names = sorted({a for a, _, _ in rows} | {b for _, b, _ in rows})
    index = {name: k for k, name in enumerate(names)}
    first = np.array([index[a] for a, _, _ in rows])
    second = np.array([index[b] for _, b, _ in rows])
    score = np.array([s for _, _, s in rows])

    def full(free: np.ndarray) -> np.ndarray:
        return np.concatenate([[0.0], free])

    def nll_and_gradient(free: np.ndarray) -> tuple[float, np.ndarray]:
        theta = full(free)
        diff = theta[first] - theta[second]
        p = 1.0 / (1.0 + np.exp(-diff))
        nll = -np.sum(score * np.log(p) + (1.0 - score) * np.log1p(-p))
        per_row = p - score
        gradient = np.bincount(first, per_row, len(names)) - np.bincount(
            second, per_row, len(names)
        )
        return float(nll), gradient[1:]

    result = minimize(
        nll_and_gradient, np.zeros(len(names) - 1), jac=True, method="BFGS", options={"gtol": 1e-9}
    )
    theta = full(result.x)
    centred = theta - theta.mean()

    # Observed information in the pinned parametrisation, inverted, then mapped to centred ratings.
    diff = theta[first] - theta[second]
    weight = 1.0 / (1.0 + np.exp(-diff)) / (1.0 + np.exp(diff))
    design = np.zeros((len(rows), len(names)))
    design[np.arange(len(rows)), first] = 1.0
    design[np.arange(len(rows)), second] = -1.0
    information = (design[:, 1:] * weight[:, None]).T @ design[:, 1:]
    inverse = np.linalg.inv(information)
    row_gradients = design[:, 1:] * (score - 1.0 / (1.0 + np.exp(-diff)))[:, None]
    sandwich = inverse @ (row_gradients.T @ row_gradients) @ inverse
    to_centred = (np.eye(len(names)) - 1.0 / len(names))[:, 1:]

    def half_widths(covariance: np.ndarray) -> dict[str, float]:
        variance = np.diag(to_centred @ covariance @ to_centred.T)
        return {name: Z_95 * math.sqrt(variance[k]) / LOGIT_PER_ELO for k, name in enumerate(names)}

    return Reference(
        {name: ELO_MEAN + centred[k] / LOGIT_PER_ELO for k, name in enumerate(names)},
        half_widths(inverse),
        half_widths(sandwich),
    )


def assert_same(left: dict[str, Rating], right: dict[str, Rating], tolerance: float) -> None:
    assert left.keys() == right.keys()
    for name in left:
        for field in ("rating", "low", "high", "battles"):
            assert getattr(left[name], field) == pytest.approx(
                getattr(right[name], field), abs=tolerance
            ), (name, field)


def test_matches_scipy_maximum_likelihood_within_two_points():
    rng = np.random.default_rng(20240601)
    rows = simulate(rng, spread_models(8, 250), battles=3000, max_voters=5)
    fitted = fit_ratings(rows)
    reference = reference_fit(rows)

    gaps = [abs(fitted[name].rating - reference.rating[name]) for name in reference.rating]
    # About 750 battles a model: the prior's pull is a fraction of a point, well inside 2.
    assert max(gaps) < 2.0
    # The prior only ever shrinks toward the mean, never spreads the ratings out.
    spread = sum((r.rating - ELO_MEAN) ** 2 for r in fitted.values())
    assert spread <= sum((elo - ELO_MEAN) ** 2 for elo in reference.rating.values()) + 1e-6
    # The intervals agree with the row-by-row sandwich's, prior and shrinkage aside (about 107
    # battles a pair, so both are slight), and are narrower than the information matrix's: a
    # share of 1-5 voters scatters less than one vote.
    for name, rating in fitted.items():
        half_width = (rating.high - rating.low) / 2
        assert half_width == pytest.approx(reference.sandwich_half_width[name], rel=0.01)
        assert half_width < 0.9 * reference.information_half_width[name]
        assert rating.high - rating.rating == pytest.approx(rating.rating - rating.low)
    assert sum(r.rating for r in fitted.values()) / len(fitted) == pytest.approx(ELO_MEAN)
    assert sum(r.battles for r in fitted.values()) == 2 * len(rows)

    # Pairs without their sums of squares (older callers) scatter like single votes: the
    # information-matrix intervals, as before.
    unknown_scatter = [dataclasses.replace(pair, score_sq=None) for pair in collapse(rows)]
    for name, rating in fit_pairs(unknown_scatter).items():
        assert rating.rating == pytest.approx(fitted[name].rating, abs=1e-9)
        half_width = (rating.high - rating.low) / 2
        assert half_width == pytest.approx(reference.information_half_width[name], rel=0.01)


def test_recovers_the_order_of_simulated_models():
    rng = np.random.default_rng(7)
    true_elo = spread_models(10, 300)
    fitted = fit_ratings(simulate(rng, true_elo, battles=2000))
    names = sorted(true_elo)
    correlation = spearmanr([true_elo[n] for n in names], [fitted[n].rating for n in names])[0]
    assert correlation >= 0.9

    separated = {"low": 600.0, "mid": 900.0, "high": 1150.0, "top": 1350.0}
    fitted = fit_ratings(simulate(rng, separated, battles=1500))
    assert leaderboard_order(fitted) == ["top", "high", "mid", "low"]
    assert rank(fitted) == {"top": 1, "high": 2, "mid": 3, "low": 4}


@pytest.mark.parametrize("max_voters", [20, 1], ids=["1-20 voters", "one voter"])
def test_intervals_hold_the_truth_95_percent_of_the_time_however_many_vote(max_voters):
    """The issue's simulation: 16 models with a 150-point sd, 2,500 battles, each scoring the vote
    share of 1 to max_voters voters (uniform). The intervals are calibrated, and no wider than
    the error calls for (a calibrated 95% interval is 1.96 x the RMSE)."""
    rng = np.random.default_rng(20261130 + max_voters)
    covered = total = 0
    half_widths, errors = [], []
    for _ in range(REPETITIONS):
        true_elo = drawn_models(rng, 16, sd=150.0)
        for name, rating in fit_ratings(simulate(rng, true_elo, 2500, max_voters)).items():
            covered += rating.low <= true_elo[name] <= rating.high
            total += 1
            half_widths.append((rating.high - rating.low) / 2)
            errors.append(rating.rating - true_elo[name])
    assert total == 16 * REPETITIONS
    coverage = covered / total
    width_ratio = float(np.mean(half_widths)) / math.sqrt(float(np.mean(np.square(errors))))
    print(f"{max_voters=}: coverage {coverage:.3f}, mean half-width / RMSE {width_ratio:.2f}")
    assert 0.93 <= coverage <= 0.97
    assert width_ratio <= 2.5


def test_a_vote_share_of_many_voters_counts_for_more_than_one_vote():
    rng = np.random.default_rng(17)
    true_elo = drawn_models(rng, 16, sd=150.0)
    crowded = fit_ratings(simulate(rng, true_elo, 2500, max_voters=20))
    single = fit_ratings(simulate(rng, true_elo, 2500, max_voters=1))
    for name in true_elo:
        # 1-20 voters: a share's variance is p(1-p) times the mean of 1/voters, 0.18.
        assert crowded[name].high - crowded[name].low < 0.6 * (single[name].high - single[name].low)


def test_intervals_cover_the_true_rating_about_95_percent_of_the_time():
    rng = np.random.default_rng(12345)
    true_elo = spread_models(10, 300)
    covered = total = 0
    for _ in range(200):
        for name, rating in fit_ratings(simulate(rng, true_elo, battles=400)).items():
            covered += rating.low <= true_elo[name] <= rating.high
            total += 1
    assert total == 2000
    assert 0.90 <= covered / total <= 0.99


def test_order_and_sides_of_rows_do_not_matter():
    rng = np.random.default_rng(3)
    rows = simulate(rng, spread_models(6, 200), battles=500, max_voters=3)
    shuffled = [rows[k] for k in rng.permutation(len(rows))]
    mirrored = [(b, a, 1.0 - s) if rng.random() < 0.5 else (a, b, s) for a, b, s in shuffled]
    assert_same(fit_ratings(rows), fit_ratings(mirrored), tolerance=1e-9)


def test_all_draws_leave_both_at_the_mean():
    fitted = fit_ratings([("alpha", "beta", 0.5)] * 20)
    assert fitted["alpha"].rating == pytest.approx(ELO_MEAN, abs=1e-9)
    assert fitted["beta"].rating == pytest.approx(ELO_MEAN, abs=1e-9)
    assert_same({"x": fitted["alpha"]}, {"x": fitted["beta"]}, tolerance=1e-9)
    assert fitted["alpha"].battles == 20
    assert rank(fitted) == {"alpha": 1, "beta": 1}


def test_empty_input_gives_no_ratings():
    assert fit_ratings([]) == {}
    assert fit_pairs([]) == {}
    assert collapse([]) == []


def test_a_single_model_sits_at_the_mean_with_the_prior_interval():
    # Self-play rows are ignored, but the model is still listed, with no rated battles.
    half_width = Z_95 * PRIOR_SD_ELO
    assert fit_ratings([("solo", "solo", 1.0)]) == {
        "solo": Rating(ELO_MEAN, ELO_MEAN - half_width, ELO_MEAN + half_width, 0.0)
    }


def test_self_play_and_empty_records_change_nothing_else():
    rng = np.random.default_rng(11)
    rows = simulate(rng, spread_models(4, 150), battles=200)
    plain = fit_ratings(rows)
    padded = fit_ratings([*rows, ("m00", "m00", 1.0), ("loner", "loner", 0.0)])
    assert padded.pop("loner").battles == 0
    assert padded == plain
    with_empty = fit_pairs([*collapse(rows), PairRecord("m01", "ghost", 0.0, 0.0)])
    assert with_empty.pop("ghost").rating == ELO_MEAN
    assert with_empty == plain


def test_a_single_battle_gives_a_finite_modest_rating_and_a_wide_interval():
    fitted = fit_ratings([("winner", "loser", 1.0)])
    winner, loser = fitted["winner"], fitted["loser"]
    assert ELO_MEAN < winner.rating < ELO_MEAN + 400
    assert ELO_MEAN - 400 < loser.rating < ELO_MEAN
    assert winner.rating - ELO_MEAN == pytest.approx(ELO_MEAN - loser.rating)
    assert winner.low < ELO_MEAN < winner.high and winner.high - winner.low > 400
    assert winner.battles == loser.battles == 1

    rng = np.random.default_rng(5)
    rows = [*simulate(rng, spread_models(5, 200), battles=1000), ("newcomer", "m02", 1.0)]
    fitted = fit_ratings(rows)
    newcomer = fitted.pop("newcomer")
    assert abs(newcomer.rating - ELO_MEAN) < 400
    assert all(math.isfinite(v) for v in (newcomer.rating, newcomer.low, newcomer.high))
    widest_regular = max(r.high - r.low for r in fitted.values())
    assert newcomer.high - newcomer.low > 3 * widest_regular


@pytest.mark.parametrize("score", [0.5, 1.0])
def test_one_battle_among_crowded_ones_still_gives_a_wide_interval(score):
    # A 0.5 against an equal opponent leaves a residual of 0: the pair shows no scatter of its own.
    rng = np.random.default_rng(23)
    true_elo = drawn_models(rng, 16, sd=150.0)
    middle = min(true_elo, key=lambda name: abs(true_elo[name] - ELO_MEAN))
    rows = [*simulate(rng, true_elo, 2500, max_voters=20), ("newcomer", middle, score)]
    fitted = fit_ratings(rows)
    newcomer = fitted.pop("newcomer")
    assert newcomer.battles == 1
    assert all(math.isfinite(v) for v in (newcomer.rating, newcomer.low, newcomer.high))
    assert newcomer.high - newcomer.rating > 250  # one battle says little
    assert newcomer.high - newcomer.low > 5 * max(r.high - r.low for r in fitted.values())


def test_an_unbeaten_record_stays_finite():
    fitted = fit_ratings([("champ", "chump", 1.0)] * 500)
    assert all(math.isfinite(v) for r in fitted.values() for v in (r.rating, r.low, r.high))
    assert fitted["champ"].low > fitted["chump"].high
    assert rank(fitted) == {"champ": 1, "chump": 2}


def test_a_disconnected_comparison_graph_centres_each_group():
    rows = [("a", "b", 1.0)] * 3 + [("a", "b", 0.0)] + [("c", "d", 0.25)] * 4
    fitted = fit_ratings(rows)
    values = [v for r in fitted.values() for v in (r.rating, r.low, r.high)]
    assert all(math.isfinite(v) for v in values)
    assert sum(r.rating for r in fitted.values()) / 4 == pytest.approx(ELO_MEAN)
    assert (fitted["a"].rating + fitted["b"].rating) / 2 == pytest.approx(ELO_MEAN)
    assert fitted["a"].rating > fitted["b"].rating and fitted["c"].rating < fitted["d"].rating


def test_collapsed_pairs_fit_the_same_as_rows():
    rng = np.random.default_rng(9)
    rows = simulate(rng, spread_models(5, 200), battles=300, max_voters=4)
    assert fit_pairs(collapse(rows)) == fit_ratings(rows)
    assert collapse([("b", "a", 1.0), ("a", "b", 0.25), ("a", "c", 0.5)]) == [
        PairRecord("a", "b", 2.0, 0.25, 0.0625),
        PairRecord("a", "c", 1.0, 0.5, 0.25),
    ]


def test_reversed_pair_records_are_merged():
    split = [
        PairRecord("a", "b", 3.0, 2.0),
        PairRecord("b", "a", 2.0, 0.5),
        PairRecord("c", "b", 4.0, 1.0),
    ]
    merged = [PairRecord("a", "b", 5.0, 3.5), PairRecord("b", "c", 4.0, 3.0)]
    assert_same(fit_pairs(split), fit_pairs(merged), tolerance=1e-9)
    assert fit_pairs(split)["b"].battles == 9


def test_reversed_pair_records_merge_their_squares():
    # Reversed, a score s is 1 - s: the squares sum to battles - 2 score_a + score_sq.
    split = [
        PairRecord("a", "b", 3.0, 2.0, 1.5),
        PairRecord("b", "a", 2.0, 0.5, 0.25),
        PairRecord("c", "b", 4.0, 1.0, 0.5),
    ]
    merged = [PairRecord("a", "b", 5.0, 3.5, 2.75), PairRecord("b", "c", 4.0, 3.0, 2.5)]
    assert_same(fit_pairs(split), fit_pairs(merged), tolerance=1e-9)
    rows = [("a", "b", 1.0), ("a", "b", 0.5), ("b", "a", 0.25), ("c", "b", 0.75), ("b", "c", 0.6)]
    assert_same(fit_pairs(collapse(rows)), fit_ratings(rows), tolerance=1e-9)
    assert fit_pairs(merged) != fit_pairs([PairRecord("a", "b", 5.0, 3.5), merged[1]])


def test_a_pair_with_any_record_lacking_squares_scatters_like_single_votes():
    partly_known = [
        PairRecord("a", "b", 3.0, 2.0, 1.5),
        PairRecord("b", "a", 2.0, 1.0),
        PairRecord("b", "c", 4.0, 3.0, 2.5),
    ]
    unknown = [PairRecord("a", "b", 5.0, 3.0), PairRecord("b", "c", 4.0, 3.0, 2.5)]
    assert_same(fit_pairs(partly_known), fit_pairs(unknown), tolerance=1e-9)


@pytest.mark.parametrize("score", [1.5, -0.1, math.nan])
def test_scores_outside_zero_to_one_are_refused(score):
    with pytest.raises(ValueError):
        fit_ratings([("a", "b", 1.0), ("a", "b", score)])


@pytest.mark.parametrize(
    "record",
    [
        PairRecord("a", "b", 2.0, 2.5),
        PairRecord("a", "b", 2.0, -1.0),
        PairRecord("a", "b", -1.0, 0.0),
        PairRecord("a", "b", math.inf, 1.0),
        PairRecord("a", "b", 2.0, 1.0, 2.5),
        PairRecord("a", "b", 2.0, 1.0, -0.5),
        PairRecord("a", "b", 2.0, 1.0, math.nan),
    ],
)
def test_impossible_pair_records_are_refused(record):
    with pytest.raises(ValueError):
        fit_pairs([record])


def test_overlapping_intervals_share_a_rank():
    ratings = {
        "best": Rating(1300.0, 1250.0, 1350.0, 100),
        "close": Rating(1150.0, 1100.0, 1200.0, 100),
        "closer": Rating(1140.0, 1090.0, 1190.0, 100),
        "bridge": Rating(1000.0, 850.0, 1120.0, 10),
        "last": Rating(900.0, 860.0, 940.0, 100),
    }
    assert rank(ratings) == {"best": 1, "close": 2, "closer": 2, "bridge": 2, "last": 4}
    assert rank({}) == {}


def test_leaderboard_order_breaks_ties_by_name():
    ratings = {
        name: Rating(rating, rating - 50, rating + 50, 10)
        for name, rating in [("zeta", 1100.0), ("beta", 1000.0), ("alpha", 1000.0), ("mu", 900.0)]
    }
    assert leaderboard_order(ratings) == ["zeta", "alpha", "beta", "mu"]
