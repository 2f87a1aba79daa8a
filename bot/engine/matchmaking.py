"""Matchmaking: which two models battle next when nobody named them, as Arena picks its pairs.

Arena samples each pair with a probability that grows with how much its next battle is expected
to shrink the leaderboard's uncertainty, so that the ranking settles with the fewest votes. The
rule here, in order:

1. **Allowed models only.** The pair is drawn from ``allowed`` (with ``fixed``, the opponent is);
   fewer than two models to draw from is a ``UserError``.
2. **Never the same pair back to back** in a channel: ``last_pair`` is left out, unless it is the
   only pair there is (an allow-list of two models).
3. **Models with no rated battles come first**: while any can be drawn, only pairs with one in
   them are (two newcomers together first, as they are the least known).
4. **Expected shrink of the uncertainty.** The current fit gives each model's rating and 95%
   interval. From the ratings and how often each pair has battled, the comparisons' information
   matrix (the Bradley-Terry Hessian) gives the ratings' covariance, scaled model by model so that
   its variances match the fit's intervals (which know how much a battle's vote share really
   scatters). One more battle between i and j adds p(1 - p) of information along their rating
   difference, p being i's chance of beating j under the fit; by the Sherman-Morrison formula it
   lowers each model k's variance by w d_k^2 / (1 + w v), where d is the covariance's column for
   i minus j's, v = var(r_i - r_j) and w the battle's information. A pair's gain is the fall of
   the sum of the models' variances to the 16th power (``OBJECTIVE_POWER``): a soft maximum, so
   the pairs that narrow the widest intervals, which keep a leaderboard from settling, gain most;
   among them, pairs whose difference is least known (large v) and that are close (p near 1/2).
5. **Randomness, and every model keeps playing.** The pair is drawn with probability
   proportional to its gain relative to the best pair's, to the 8th power (``SHARPNESS``), so
   the best few pairs are much preferred but never certain, and no pair's weight falls below
   ``FLOOR_SHARE`` (5%) of the average pair's, so even a settled, lopsided pair is played now
   and then.

In simulation (``benchmarks/matchmaking.py``: 20 models, 10 voters a battle) a board settles to
intervals of ±60 Elo in 0.56 to 0.59 of the battles uniform random pairs need on average (Arena
reports 54% fewer votes for its own rule), and the intervals still hold the true ratings. The
powers were chosen by that simulation: lower ones (8 and 3) settle in about 0.6 of the battles.

Pure: no I/O; the caller hands in the ratings (``bot.engine.ratings.Rating``), the pair counts
and a ``random.Random``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence

import numpy as np

from bot.engine.ratings import ELO_MEAN, ELO_SCALE, PRIOR_SD_ELO, Z_95, Rating
from bot.errors import UserError

# The gain is the fall of the sum of the models' variances to this power: a soft maximum, so
# that the widest intervals (which keep a board from settling) count most.
OBJECTIVE_POWER = 16
# A pair is drawn with probability proportional to its gain to this power (relative to the best
# pair's), then floored: the best pairs are much preferred, yet never certain.
SHARPNESS = 8
# No pair's weight is below this share of the average pair's weight (step 5).
FLOOR_SHARE = 0.05
# The sampled pairs' gains are computed this many pairs at a time, to bound memory on large boards.
_PAIRS_PER_BLOCK = 2048
_ELO_PER_LOGIT = ELO_SCALE / math.log(10)
_PRIOR_PRECISION = (_ELO_PER_LOGIT / PRIOR_SD_ELO) ** 2  # as in bot/engine/ratings.py
# The scale between the fit's variances and the information matrix's stays within these bounds
# (a vote share of many voters scatters far less than one vote; a lone battle tells little).
_SCALE_BOUNDS = (1e-3, 1e3)


def pick_pair(
    allowed: Sequence[str],
    ratings: Mapping[str, Rating],
    pair_battles: Mapping[frozenset[str], float],
    *,
    fixed: str | None = None,
    last_pair: frozenset[str] | None = None,
    rng: random.Random,
) -> tuple[str, str]:
    """The next battle's (model_a, model_b), by the rule in this module's docstring.

    ``ratings``: the board's current fit, by model (a model missing from it has no battles).
    ``pair_battles``: rated battles between two models, keyed by the pair. ``fixed``: a model
    already chosen (it stays model_a; only its opponent is picked). ``last_pair``: the pair of
    the channel's last battle. Without ``fixed`` the sides are drawn at random.
    """
    models = sorted(set(allowed) - {fixed} if fixed is not None else set(allowed))
    if fixed is not None:
        if not models:
            raise UserError(f"There is no allowed model left to battle `{fixed}`.")
        pairs = [(fixed, model) for model in models]
    else:
        if len(models) < 2:
            raise UserError(
                "Matchmaking needs at least two allowed models: name both models, "
                "or allow more models in /battle-settings."
            )
        pairs = [(a, b) for k, a in enumerate(models) for b in models[k + 1 :]]
    if last_pair is not None and len(pairs) > 1:
        pairs = [pair for pair in pairs if frozenset(pair) != last_pair]
    newcomers = {m for pair in pairs for m in pair if _battles(ratings, m) <= 0}
    if newcomers:
        pairs = [pair for pair in pairs if newcomers.intersection(pair)]
    weights = pair_weights(pairs, ratings, pair_battles)
    first, second = pairs[_draw(weights, rng)]
    if fixed is None and rng.random() < 0.5:
        first, second = second, first
    return first, second


def pair_weights(
    pairs: Sequence[tuple[str, str]],
    ratings: Mapping[str, Rating],
    pair_battles: Mapping[frozenset[str], float],
) -> np.ndarray:
    """Each pair's sampling weight: its expected gain (step 4), floored (step 5)."""
    gains = np.nan_to_num(expected_gains(pairs, ratings, pair_battles), nan=0.0)
    best = float(gains.max(initial=0.0))
    if best <= 0:
        return np.ones(len(pairs))
    weights = (np.maximum(gains, 0.0) / best) ** SHARPNESS
    return np.maximum(weights, FLOOR_SHARE * float(weights.mean()))


def expected_gains(
    pairs: Sequence[tuple[str, str]],
    ratings: Mapping[str, Rating],
    pair_battles: Mapping[frozenset[str], float],
) -> np.ndarray:
    """How much one more battle of each pair lowers the sum of the pairs' models' rating
    variances (log-odds units) to ``OBJECTIVE_POWER``, by the Sherman-Morrison update of the
    ratings' covariance."""
    wanted = sorted({m for pair in pairs for m in pair})
    names = sorted(set(wanted).union(ratings))
    index = {name: k for k, name in enumerate(names)}
    theta = np.array([_theta(ratings, name) for name in names])
    n = len(names)
    information = np.eye(n) * _PRIOR_PRECISION
    for pair, count in pair_battles.items():
        if len(pair) != 2 or count <= 0:
            continue
        i, j = (index.get(name) for name in pair)
        if i is None or j is None:
            continue  # a pair outside the board and the allowed models tells nothing here
        weight = count * _closeness(theta[i] - theta[j])
        information[i, i] += weight
        information[j, j] += weight
        information[i, j] -= weight
        information[j, i] -= weight
    covariance = np.linalg.inv(information)
    played = np.zeros(n)  # each model's battles now, which may be more than the fit has seen
    for pair, count in pair_battles.items():
        for name in pair if len(pair) == 2 and count > 0 else ():
            if name in index:
                played[index[name]] += count
    scale = _scales(ratings, names, np.diag(covariance), played)
    covariance *= np.sqrt(np.outer(scale, scale))
    # The objective counts only the models that can be drawn.
    counted = np.zeros(n)
    counted[[index[m] for m in wanted]] = 1.0
    variance = np.diag(covariance)
    first = np.array([index[a] for a, _ in pairs], np.intp)
    second = np.array([index[b] for _, b in pairs], np.intp)
    gains = np.empty(len(pairs))
    for start in range(0, len(pairs), _PAIRS_PER_BLOCK):
        i, j = first[start : start + _PAIRS_PER_BLOCK], second[start : start + _PAIRS_PER_BLOCK]
        columns = np.arange(len(i))
        difference = covariance[:, i] - covariance[:, j]  # one column per pair
        spread = difference[i, columns] - difference[j, columns]  # var(theta_i - theta_j)
        # One battle's information, in the units of the scaled covariance.
        battle = _closeness(theta[i] - theta[j]) / np.sqrt(scale[i] * scale[j])
        fall = battle * difference**2 / (1.0 + battle * spread)  # each model's variance drop
        after = np.maximum(variance[:, None] - fall, 0.0)
        gains[start : start + _PAIRS_PER_BLOCK] = (
            counted[:, None] * (variance[:, None] ** OBJECTIVE_POWER - after**OBJECTIVE_POWER)
        ).sum(axis=0)
    return gains


def _draw(weights: np.ndarray, rng: random.Random) -> int:
    """An index drawn with probability proportional to its weight."""
    cumulative = np.cumsum(weights)
    index = int(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right"))
    return min(index, len(weights) - 1)


def _battles(ratings: Mapping[str, Rating], model: str) -> float:
    rating = ratings.get(model)
    return 0.0 if rating is None else rating.battles


def _theta(ratings: Mapping[str, Rating], model: str) -> float:
    rating = ratings.get(model)
    return 0.0 if rating is None else (rating.rating - ELO_MEAN) / _ELO_PER_LOGIT


def _closeness(difference: np.ndarray | float) -> np.ndarray:
    """p (1 - p) for a log-odds difference: a battle's information under the fit."""
    p = 1.0 / (1.0 + np.exp(-np.abs(difference)))
    return np.asarray(p * (1.0 - p))


def _scales(
    ratings: Mapping[str, Rating],
    names: Sequence[str],
    information_variance: np.ndarray,
    played: np.ndarray,
) -> np.ndarray:
    """Each model's ratio of the fit's variance to the information matrix's: below 1 when a
    battle's vote share scatters less than one vote would. A model's battles since the fit
    (``played`` beyond its ``battles``) are taken to have narrowed its variance as 1/battles. A
    model with no rated battles is listed at the prior's interval, which is the matrix's: 1."""
    ratios = np.ones(len(names))
    for k, name in enumerate(names):
        rating = ratings.get(name)
        if rating is None or rating.battles <= 0:
            continue
        fitted = ((rating.high - rating.low) / (2 * Z_95) / _ELO_PER_LOGIT) ** 2
        fitted *= rating.battles / max(played[k], rating.battles)
        ratios[k] = fitted / information_variance[k]
    return np.clip(ratios, *_SCALE_BOUNDS)
