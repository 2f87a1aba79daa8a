"""Leaderboard ratings: a Bradley-Terry maximum-likelihood fit on the Elo scale, as Arena does.

Online Elo depends on the order of the votes; this fit depends only on the counts between each pair
of models, so the same battles always give the same leaderboard.

Each battle is one observation, its score the vote share of side A: the voters of one battle heard
the same verses, so their votes are not independent draws. How much such a score scatters depends
on how many voted (a share of 20 voters scatters far less than one vote), which the binomial model
does not know. The intervals therefore come from a robust (sandwich) covariance, which takes the
scatter from the battles themselves, through each pair's sum of squared scores.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import repeat
from operator import attrgetter, is_

import numpy as np

ELO_MEAN = 1000.0  # mean rating over the fitted models
ELO_SCALE = 400.0  # points per factor 10 of odds
# The prior pulling every model toward the mean: a normal with this sd in Elo points. A model 400
# points above the mean beats an average one 91% of the time; real leaderboards spread less than
# that, so the prior rules out only absurd ratings. Its weight, 1/sd^2 in log-odds units (0.19), is
# less than the information in one battle between equals (0.25): a few battles outweigh it (3000
# battles among 8 models shrink ratings by under 1 point), yet it keeps an unbeaten record finite
# and centres each unconnected group of models on the mean, where pure maximum likelihood diverges
# or is undetermined.
PRIOR_SD_ELO = 400.0
Z_95 = 1.959963984540054  # two-sided 95% normal quantile

_ELO_PER_LOGIT = ELO_SCALE / math.log(10)  # BT is logistic in natural log-odds; Elo uses log10
_PRIOR_PRECISION = (_ELO_PER_LOGIT / PRIOR_SD_ELO) ** 2
_STEP_TOLERANCE = 1e-5  # log-odds; the last step is taken too, leaving an error near its square
_MAX_NEWTON_STEPS = 100  # the posterior is strictly convex; Newton needs fewer than 20
_MAX_HALVINGS = 60
_SCORE_SLACK = 1e-9  # relative; stored aggregates may carry float rounding
# Why a sandwich and not a bootstrap over battles, as Arena does: /leaderboard must answer within
# 50 ms at 1M battles, and is fitted from pair aggregates (45,000 pairs of 300 models) in tens of
# milliseconds. A bootstrap would have to read the million battles and refit a few hundred times,
# seconds or minutes per refit. The sandwich needs one more sum per pair and two matrix products.
#
# Pairs seen in one or two battles show almost none of their scatter (one 0.5 between equals leaves
# a residual of 0), which would make a newcomer look certain. So each pair's scatter is shrunk
# toward the board's: the ratio of all residuals to what single votes would give, itself shrunk
# toward single votes (ratio 1), each by this many pseudo-battles. Chosen by simulation (16
# models with a 150-point sd, 1-20 voters a battle, 200 to 2,500 battles): shrinking each pair
# straight toward single votes instead covers 99% on a board of 200 such battles, as such a vote
# share scatters about 5 times less than one vote; toward the board's ratio, 95-97% at every size,
# with little change between 1 and 4 pseudo-battles.
_PSEUDO_BATTLES = 2.0


@dataclass(frozen=True, slots=True)
class Rating:
    rating: float  # Elo scale
    low: float  # 95% interval
    high: float
    battles: float  # number of rated battles the model took part in (weight sum)


@dataclass(frozen=True, slots=True)
class PairRecord:
    """Outcomes between two models collapsed to counts (what the store keeps as aggregates)."""

    model_a: str
    model_b: str
    battles: float  # number of battles between them (each battle weight 1)
    score_a: float  # sum over those battles of model_a's score (vote share, draw 0.5)
    # Sum over those battles of model_a's score squared: how much the scores scatter. None when
    # unknown; the fit then assumes each battle scattered like a single vote.
    score_sq: float | None = None


def fit_ratings(outcomes: Iterable[tuple[str, str, float]]) -> dict[str, Rating]:
    """(model_a, model_b, score_a) rows, score_a in [0, 1] (vote share; 0.5 a draw).

    A score outside [0, 1] raises ValueError. A model playing itself carries no information, so
    such rows are ignored rather than refused (see fit_pairs for how such a model is listed).
    """
    return fit_pairs(collapse(outcomes))


def collapse(outcomes: Iterable[tuple[str, str, float]]) -> list[PairRecord]:
    """Sum rows into one record per unordered pair, model_a < model_b, sorted.

    Self-play rows are kept as counts (the store may keep them too); fit_pairs ignores them.
    """
    sums: dict[tuple[str, str], list[float]] = {}
    for model_a, model_b, score_a in outcomes:
        score = float(score_a)
        if not 0.0 <= score <= 1.0:  # also rejects NaN
            raise ValueError(f"Score {score_a!r} for {model_a} vs {model_b} is not in [0, 1].")
        if model_b < model_a:
            model_a, model_b, score = model_b, model_a, 1.0 - score
        counts = sums.setdefault((model_a, model_b), [0.0, 0.0, 0.0])
        counts[0] += 1.0
        counts[1] += score
        counts[2] += score * score
    return [PairRecord(a, b, n, s, q) for (a, b), (n, s, q) in sorted(sums.items())]


def fit_pairs(pairs: Iterable[PairRecord]) -> dict[str, Rating]:
    """The same fit from collapsed pair counts; fit_ratings collapses and calls this.

    Records for the same unordered pair, in either order, are merged (a reversed record's scores
    are 1 - s, so its squares sum to battles - 2 score_a + score_sq); a negative or non-finite
    count, or a score or a sum of squares outside [0, battles], raises ValueError. A pair with any
    record lacking score_sq is taken to scatter like single votes. A model with no rated battles
    (only self-play, or only zero-battle records) is listed at the mean with the prior's interval
    and 0 battles; it takes no part in the fit, so it moves no other rating or interval. Groups of
    models never compared with each other are each centred on the mean, with intervals that say
    so.
    """
    records = list(pairs)
    if not records:
        return {}
    # map and attrgetter rather than comprehensions: a store may hand over 45,000 records.
    first_names = list(map(attrgetter("model_a"), records))
    second_names = list(map(attrgetter("model_b"), records))
    names = sorted(set(first_names).union(second_names))
    index = {name: i for i, name in enumerate(names)}
    first = np.fromiter(map(index.__getitem__, first_names), np.intp, len(records))
    second = np.fromiter(map(index.__getitem__, second_names), np.intp, len(records))
    battles = np.fromiter(map(attrgetter("battles"), records), float, len(records))
    score = np.fromiter(map(attrgetter("score_a"), records), float, len(records))
    squares = list(map(attrgetter("score_sq"), records))
    unknown = np.fromiter(map(is_, squares, repeat(None)), bool, len(records))
    square = np.array(squares, float)  # None becomes NaN, replaced just below
    square[unknown] = 0.0
    _check(records, battles, score, square)
    score = np.clip(score, 0.0, battles)
    square = np.clip(square, 0.0, battles)

    prior_half_width = Z_95 * PRIOR_SD_ELO
    ratings = {
        name: Rating(ELO_MEAN, ELO_MEAN - prior_half_width, ELO_MEAN + prior_half_width, 0.0)
        for name in names
    }
    # Sum records into an (n x n) table, the size of the Hessian anyway: entry [low, high] holds
    # the pair's battles, low's score and its squares, whichever order its records named the two
    # models in; and how many of its records lack the squares.
    rated = (first != second) & (battles > 0)
    first, second, battles = first[rated], second[rated], battles[rated]
    score, square, unknown = score[rated], square[rated], unknown[rated]
    swap = first > second
    cells = np.where(swap, second, first) * len(names) + np.where(swap, first, second)
    size = len(names) ** 2
    battle_table = np.bincount(cells, battles, size)
    score_table = np.bincount(cells, np.where(swap, battles - score, score), size)
    square_table = np.bincount(cells, np.where(swap, battles - 2 * score + square, square), size)
    unknown_table = np.bincount(cells, unknown, size)
    cells = np.flatnonzero(battle_table)
    if not len(cells):
        return ratings
    battles, score, square = battle_table[cells], score_table[cells], square_table[cells]
    square = np.where(unknown_table[cells] > 0, np.nan, square)
    # Fit only the models with battles, re-indexed; the rest keep the prior.
    low, high = cells // len(names), cells % len(names)
    fitted = np.flatnonzero(
        np.bincount(low, minlength=len(names)) + np.bincount(high, minlength=len(names))
    )
    position = np.zeros(len(names), np.intp)
    position[fitted] = np.arange(len(fitted))
    low, high = position[low], position[high]
    theta, variance = _fit(len(fitted), low, high, battles, score, square)
    played = np.bincount(low, battles, len(fitted)) + np.bincount(high, battles, len(fitted))
    for k, i in enumerate(fitted):
        rating = ELO_MEAN + _ELO_PER_LOGIT * float(theta[k])
        half_width = Z_95 * _ELO_PER_LOGIT * math.sqrt(max(float(variance[k]), 0.0))
        ratings[names[i]] = Rating(
            rating, rating - half_width, rating + half_width, float(played[k])
        )
    return ratings


def rank(ratings: Mapping[str, Rating]) -> dict[str, int]:
    """1 + the number of models whose low is above this model's high.

    Models whose intervals overlap share a rank, as the data cannot tell them apart.
    """
    lows = sorted(r.low for r in ratings.values())
    return {name: 1 + len(lows) - bisect.bisect_right(lows, r.high) for name, r in ratings.items()}


def leaderboard_order(ratings: Mapping[str, Rating]) -> list[str]:
    """Models by rating, best first; equal ratings by name, so the order is stable."""
    return sorted(ratings, key=lambda name: (-ratings[name].rating, name))


def _check(
    records: list[PairRecord], battles: np.ndarray, score: np.ndarray, square: np.ndarray
) -> None:
    slack = _SCORE_SLACK * np.maximum(battles, 1.0)

    def within(values: np.ndarray) -> np.ndarray:
        return (values >= -slack) & (values <= battles + slack)  # also False for NaN

    bad = ~(np.isfinite(battles) & (battles >= 0) & within(score))
    if bad.any():
        r = records[int(np.argmax(bad))]
        raise ValueError(
            f"Pair {r.model_a} vs {r.model_b}: score {r.score_a!r} over {r.battles!r} battles "
            "is not a score between 0 and the number of battles."
        )
    bad = ~within(square)
    if bad.any():
        r = records[int(np.argmax(bad))]
        raise ValueError(
            f"Pair {r.model_a} vs {r.model_b}: sum of squared scores {r.score_sq!r} over "
            f"{r.battles!r} battles is not between 0 and the number of battles."
        )


def _fit(
    n: int,
    low: np.ndarray,
    high: np.ndarray,
    battles: np.ndarray,
    score: np.ndarray,
    square: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Posterior mode in log-odds, centred, and the variances of the centred ratings.

    Newton's method on the negative log posterior; score is low's wins (ties half) against high,
    square the sum of their squares (NaN where unknown).
    """
    theta = _starting_point(n, low, high, battles, score)
    value, gradient, weight = _evaluate(theta, low, high, battles, score)
    for _ in range(_MAX_NEWTON_STEPS):
        step = np.linalg.solve(_hessian(n, low, high, weight), gradient)
        if float(np.max(np.abs(step))) < _STEP_TOLERANCE:
            theta -= step
            break
        decrease = float(gradient @ step)
        # Backtrack until the objective falls enough; the slack absorbs rounding at the optimum.
        scale = 1.0
        for _ in range(_MAX_HALVINGS):
            candidate = theta - scale * step
            evaluated = _evaluate(candidate, low, high, battles, score)
            if evaluated[0] <= value - 1e-4 * scale * decrease + 1e-12 * abs(value):
                break
            scale /= 2
        theta, (value, gradient, weight) = candidate, evaluated
    # The prior already centres the mode (the likelihood ignores a common shift); make it exact.
    theta -= theta.mean()
    weight = _evaluate(theta, low, high, battles, score)[2]
    inverse = np.linalg.inv(_hessian(n, low, high, weight))
    # The sandwich H^-1 M H^-1: H the curvature of the penalised likelihood, M how much its
    # gradient really varies from battle to battle, each pair's scatter in place of the binomial
    # one. M keeps the prior's precision, as H does: where the battles scatter like single votes
    # (M = H) this is H^-1, the posterior covariance, and a model with few battles keeps its
    # interval as wide as the prior and that scatter say.
    scatter = _battle_scatter(theta[low] - theta[high], battles, score, square)
    covariance = inverse @ _hessian(n, low, high, scatter) @ inverse
    # Covariance of the centred ratings: P C P with P = I - 11'/n; only its diagonal is needed.
    row_means = covariance.mean(axis=1)
    return theta, np.diag(covariance) - 2 * row_means + row_means.mean()


def _battle_scatter(
    diff: np.ndarray, battles: np.ndarray, score: np.ndarray, square: np.ndarray
) -> np.ndarray:
    """Each pair's variance of the gradient, sum_b (s_b - p)^2, shrunk as _PSEUDO_BATTLES says.

    diff is low's rating minus high's (log-odds). The residuals come from the sums, as
    square - 2 p score + battles p^2. Where square is NaN (unknown) each battle counts as one
    vote, battles p (1 - p): the binomial model's own figure.
    """
    small = np.exp(-np.abs(diff))  # as in _evaluate, so that nothing overflows
    p_low = np.where(diff >= 0, 1.0, small) / (1.0 + small)
    one_vote = p_low * (1.0 - p_low)
    known = ~np.isnan(square)
    # Rounding can take a near-perfect fit's residuals slightly below 0.
    residual = np.where(known, square, 0.0) - 2.0 * p_low * score + battles * p_low**2
    residual = np.maximum(residual, 0.0)
    # A pseudo-battle of one vote at p = 1/2 adds 1/4 to both sums.
    board_ratio = (residual[known].sum() + _PSEUDO_BATTLES / 4) / (
        (battles * one_vote)[known].sum() + _PSEUDO_BATTLES / 4
    )
    shrunk = (residual + _PSEUDO_BATTLES * board_ratio * one_vote) / (battles + _PSEUDO_BATTLES)
    return battles * np.where(known, shrunk, one_vote)


def _starting_point(
    n: int, low: np.ndarray, high: np.ndarray, battles: np.ndarray, score: np.ndarray
) -> np.ndarray:
    """Each model's log-odds of winning, as if against an average opponent: saves Newton steps."""
    played = np.bincount(low, battles, n) + np.bincount(high, battles, n)
    won = np.bincount(low, score, n) + np.bincount(high, battles - score, n)
    theta = np.log((won + 0.5) / (played - won + 0.5))  # the halves keep unbeaten records finite
    return theta - theta.mean()


def _evaluate(
    theta: np.ndarray, low: np.ndarray, high: np.ndarray, battles: np.ndarray, score: np.ndarray
) -> tuple[float, np.ndarray, np.ndarray]:
    """The negative log posterior (up to a constant), its gradient, and each pair's curvature."""
    n = len(theta)
    diff = theta[low] - theta[high]
    # Through e^-|d|, so that nothing overflows whatever the difference.
    small = np.exp(-np.abs(diff))
    log_one_plus_exp = np.maximum(diff, 0.0) + np.log1p(small)  # log(1 + e^d)
    # score * log(1 + e^-d) + (battles - score) * log(1 + e^d), as log(1 + e^-d) = that - d.
    value = battles @ log_one_plus_exp - score @ diff + 0.5 * _PRIOR_PRECISION * (theta @ theta)
    p_low = np.where(diff >= 0, 1.0, small) / (1.0 + small)  # P(low beats high)
    residual = battles * p_low - score
    gradient = np.bincount(low, residual, n) - np.bincount(high, residual, n)
    gradient += _PRIOR_PRECISION * theta
    return float(value), gradient, battles * p_low * (1.0 - p_low)


def _hessian(n: int, low: np.ndarray, high: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """The weighted graph Laplacian of the comparisons, plus the prior's precision."""
    hessian = np.zeros(n * n)
    # Pairs are unique after merging, so plain assignment fills the off-diagonal entries.
    hessian[low * n + high] = -weight
    hessian[high * n + low] = -weight
    diagonal = np.bincount(low, weight, n) + np.bincount(high, weight, n) + _PRIOR_PRECISION
    hessian[:: n + 1] = diagonal
    return hessian.reshape(n, n)
