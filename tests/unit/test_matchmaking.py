"""Matchmaking: the engine's rule (bot/engine/matchmaking.py) and the service that feeds it."""

import random
from collections import Counter

import pytest

from bot.engine.battle import Battle, Side
from bot.engine.matchmaking import FLOOR_SHARE, pair_weights, pick_pair
from bot.engine.ratings import Z_95, Rating
from bot.engine.server_settings import ALLOWED_MODELS, ServerRules, ServerSettings
from bot.engine.votes import DEFAULT_EMOJI, Tally
from bot.errors import UserError
from bot.models import ModelCatalog, ModelInfo
from bot.services.battles.matchmaker import Matchmaker
from bot.services.battles.standings import StandingsService
from bot.store import NewBattle
from tests.fakes.memory_store import MemoryStore

DRAWS = 1000


def rated(rating: float, half_width: float, battles: float) -> Rating:
    return Rating(rating, rating - half_width, rating + half_width, battles)


def draws(allowed, ratings, pairs=None, count=DRAWS, seed=7, **options) -> Counter:
    rng = random.Random(seed)
    return Counter(
        frozenset(pick_pair(allowed, ratings, pairs or {}, rng=rng, **options))
        for _ in range(count)
    )


# A board where a and b are close and little known, c and d far apart and settled.
BOARD = {
    "a": rated(1005, 150, 4),
    "b": rated(995, 150, 4),
    "c": rated(1300, 25, 300),
    "d": rated(700, 25, 300),
}
BOARD_PAIRS = {
    frozenset("ab"): 2,
    frozenset("ac"): 1,
    frozenset("bd"): 1,
    frozenset("cd"): 300,
}


def test_fewer_than_two_allowed_models_is_a_clear_user_error():
    for allowed in ([], ["a"], ["a", "a"]):
        with pytest.raises(UserError, match="at least two allowed models"):
            pick_pair(allowed, {}, {}, rng=random.Random(1))
    with pytest.raises(UserError, match="no allowed model left to battle `a`"):
        pick_pair(["a"], {}, {}, fixed="a", rng=random.Random(1))


def test_models_with_no_battles_come_first():
    ratings = {"a": rated(1000, 60, 30), "b": rated(1050, 60, 30), "c": rated(950, 60, 30)}
    allowed = ["a", "b", "c", "new1"]
    seen = draws(allowed, ratings, {frozenset("ab"): 10, frozenset("bc"): 10})
    assert all("new1" in pair for pair in seen)
    # Two newcomers: only pairs with one of them, the two together most often.
    seen = draws([*allowed, "new2"], ratings | {"new2": rated(1000, 784, 0)})
    assert all(pair & {"new1", "new2"} for pair in seen)
    assert seen.most_common(1)[0][0] == {"new1", "new2"}


def test_a_wide_close_pair_is_preferred_to_a_settled_lopsided_one():
    # x's opponent: b is close and little known, d far apart and settled.
    ratings = BOARD | {"x": rated(1000, 60, 40)}
    pairs = BOARD_PAIRS | {frozenset("xc"): 20, frozenset("xd"): 20}
    seen = draws("bdx", ratings, pairs, fixed="x")
    assert seen[frozenset("bx")] > 10 * seen[frozenset("dx")] > 0
    # Among all pairs, the little-known models play most, and the settled, lopsided pair least.
    seen = draws("abcd", BOARD, BOARD_PAIRS)
    assert min(seen, key=seen.__getitem__) == frozenset("cd")
    assert sum(n for pair, n in seen.items() if pair & {"a", "b"}) > 0.95 * DRAWS
    # Yet every model keeps being played: no pair's weight is below the floor.
    assert seen[frozenset("cd")] > 0 and set().union(*seen) == set("abcd")
    pairs = [("a", "b"), ("a", "c"), ("a", "d"), ("b", "c"), ("b", "d"), ("c", "d")]
    weights = pair_weights(pairs, BOARD, BOARD_PAIRS)
    assert weights.min() >= FLOOR_SHARE / (1 + FLOOR_SHARE) * weights.mean()


def test_a_model_whose_interval_is_wider_is_played_more():
    ratings = {name: rated(1000 + 10 * k, 40, 50) for k, name in enumerate("abcdef")}
    ratings["f"] = rated(1050, 120, 8)
    seen = draws("abcdef", ratings, {frozenset(p): 5 for p in ("ab", "cd", "ef", "ac", "be")})
    plays = Counter(model for pair, count in seen.items() for model in pair for _ in range(count))
    assert plays["f"] == max(plays.values()) and plays["f"] > DRAWS / 2


def test_never_the_same_pair_back_to_back_unless_it_is_the_only_pair():
    seen = draws("abcd", BOARD, BOARD_PAIRS, last_pair=frozenset("ab"))
    assert frozenset("ab") not in seen and len(seen) == 5
    assert draws("ab", BOARD, BOARD_PAIRS, last_pair=frozenset("ab")) == {frozenset("ab"): DRAWS}
    # With a fixed model: its last opponent is not picked again while another is allowed.
    seen = draws("abcd", BOARD, BOARD_PAIRS, fixed="c", last_pair=frozenset("ac"))
    assert set(seen) == {frozenset("bc"), frozenset("cd")}


def test_only_allowed_models_are_picked():
    ratings = BOARD | {"e": rated(1000, 300, 1), "f": rated(1000, 300, 1)}
    seen = draws(["c", "d", "a"], ratings, BOARD_PAIRS)
    assert set().union(*seen) <= {"a", "c", "d"}


def test_a_fixed_model_keeps_its_side_and_gets_an_allowed_opponent():
    rng = random.Random(3)
    for _ in range(200):
        first, second = pick_pair("abcd", BOARD, BOARD_PAIRS, fixed="a", rng=rng)
        assert first == "a" and second in "bcd"
    # Even when the fixed model is not in the list handed in (admission has the last word).
    first, second = pick_pair(["b", "c"], BOARD, BOARD_PAIRS, fixed="x", rng=rng)
    assert first == "x" and second in ("b", "c")


def test_sides_are_drawn_at_random_and_a_seed_repeats_its_picks():
    rng = random.Random(5)
    orders = Counter(pick_pair("ab", BOARD, {}, rng=rng) for _ in range(400))
    assert set(orders) == {("a", "b"), ("b", "a")} and min(orders.values()) > 150
    first = [pick_pair("abcd", BOARD, BOARD_PAIRS, rng=random.Random(9)) for _ in range(3)]
    assert first == [pick_pair("abcd", BOARD, BOARD_PAIRS, rng=random.Random(9))] * 3


def test_a_large_board_is_fine_and_quick():
    names = [f"m{k:03d}" for k in range(150)]
    ratings = {n: rated(900 + k, 80 + k % 7, 10 + k % 5) for k, n in enumerate(names)}
    pairs = {frozenset((names[k], names[(k + 1) % 150])): 3 for k in range(150)}
    first, second = pick_pair(names, ratings, pairs, rng=random.Random(1))
    assert first != second and {first, second} <= set(names)
    assert Z_95 > 1.9  # the intervals handed in are 95% ones


# -- the service ---------------------------------------------------------------------------------

LISTED = ["qwen/qwen-max", "x-ai/grok-2", "openai/gpt-4o", "some/obscure-model"]


def catalog(ids=LISTED) -> ModelCatalog:
    async def fetch() -> list[ModelInfo]:
        return [ModelInfo(model, model) for model in ids]

    return ModelCatalog(fetch, {})


def matchmaker(store: MemoryStore, ids=LISTED, seed: int = 1) -> Matchmaker:
    return Matchmaker(catalog(ids), store, StandingsService(store), random.Random(seed))


def rules(*allowed: str) -> ServerRules:
    return ServerSettings(**{ALLOWED_MODELS.name: tuple(allowed)}).apply_to(ServerRules.defaults())


async def play(store: MemoryStore, channel: int, a: str, b: str, votes_a: int = 1) -> None:
    made = await store.create_battle(NewBattle(1, channel, 100, Battle(a, b, 1)), now=1.0)
    await store.open_voting(made.id, made.id, 2.0, DEFAULT_EMOJI)
    ballots = {k: Side.A if k < votes_a else Side.B for k in range(3)}
    await store.close_voting(made.id, Tally(ballots), 3.0)


async def test_the_service_draws_from_the_allow_list_and_skips_the_channels_last_pair():
    store = MemoryStore()
    await play(store, 10, "qwen/qwen-max", "x-ai/grok-2")
    service = matchmaker(store)
    allowed = rules("qwen/qwen-max", "x-ai/grok-2", "openai/gpt-4o")
    for _ in range(30):
        pair = await service.match(1, 10, allowed)
        assert set(pair) <= {"qwen/qwen-max", "x-ai/grok-2", "openai/gpt-4o"}
        assert set(pair) != {"qwen/qwen-max", "x-ai/grok-2"}
    # Another channel has no last pair to avoid; an allow-list of two gives those two.
    two = rules("qwen/qwen-max", "x-ai/grok-2")
    assert set(await service.match(1, 10, two)) == {"qwen/qwen-max", "x-ai/grok-2"}
    first, second = await service.match(1, 10, allowed, fixed="openai/gpt-4o")
    assert first == "openai/gpt-4o" and second in ("qwen/qwen-max", "x-ai/grok-2")
    with pytest.raises(UserError, match="not allowed"):
        await service.match(1, 10, allowed, fixed="some/obscure-model")


async def test_without_an_allow_list_the_well_known_and_board_models_are_drawn():
    store = MemoryStore()
    await play(store, 10, "some/obscure-model", "qwen/qwen-max")
    service = matchmaker(store)
    seen = {model for _ in range(60) for model in await service.match(1, 11, rules())}
    # The built-in aliases' targets the provider lists, and the board's models.
    assert seen == {"qwen/qwen-max", "x-ai/grok-2", "openai/gpt-4o", "some/obscure-model"}
    # A provider listing none of the well-known models: every listed model.
    odd = matchmaker(MemoryStore(), ids=["odd/one", "odd/two", "odd/three"])
    assert set(await odd.match(None)) <= {"odd/one", "odd/two", "odd/three"}
