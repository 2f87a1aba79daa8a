"""Admission as a pure decision: each refusal with the words its starter reads, the order in which
they are met, and what an admitted battle holds. Plain data in, no arena, store or event loop."""

from __future__ import annotations

import datetime
from dataclasses import replace

from bot.engine.admission import (
    Admitted,
    Application,
    InPlay,
    Refused,
    Seating,
    admit,
    cost_estimate,
    wants_judges,
)
from bot.engine.battle import Battle
from bot.engine.house_rules import Pricing, PromptSizes, battle_cost_upper_bound
from bot.engine.server_settings import (
    COOLDOWN_SECONDS,
    MAX_BATTLES,
    ServerRules,
    ServerSettings,
)
from bot.engine.spend import CostEstimate, usd
from bot.engine.verdicts import judge_messages

GUILD, OTHER_GUILD = 1, 2
CHANNEL, OTHER_CHANNEL = 10, 11
ALICE, BOB = 100, 200
MAX_TOKENS = 700
# 2026-11-30 10:00 UTC: the daily budget resets at 2026-12-01 00:00 UTC.
NOW = datetime.datetime(2026, 11, 30, 10, 0, tzinfo=datetime.UTC).timestamp()
NEXT_MIDNIGHT = int(datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC).timestamp())
BATTLE = Battle("m/a", "m/b", rounds=1)
PRICES = {"m/a": Pricing(0.000001, 0.000002), "m/b": Pricing(0.000003, 0.000004)}
JUDGE_PRICE = Pricing(0.000005, 0.00001)
RULES = ServerRules.defaults({COOLDOWN_SECONDS: 30.0, MAX_BATTLES: 2})
BOUND = battle_cost_upper_bound(
    BATTLE, PromptSizes.for_battle(BATTLE, clean=True), MAX_TOKENS, PRICES
)


def rules(**changes: object) -> ServerRules:
    """RULES with a server's changes, by setting name."""
    return ServerSettings(**changes).apply_to(RULES)


def application(**changes: object) -> Application:
    plain = Application(GUILD, CHANNEL, ALICE, BATTLE, pricing=PRICES)
    return replace(plain, **changes)


def running(
    guild_id: int = GUILD,
    starter_id: int = BOB,
    place_id: int | None = OTHER_CHANNEL,
    started_at: float | None = NOW - 3600,
    bound_usd: float | None = None,
) -> InPlay:
    return InPlay(guild_id, starter_id, place_id, started_at, bound_usd)


def decide(
    app: Application | None = None,
    server: ServerRules = RULES,
    in_play: tuple[InPlay, ...] = (),
    *,
    last_start: float | None = None,
    jury: Seating | None = None,
    spent_today: float = 0.0,
) -> Admitted | Refused:
    return admit(
        app or application(),
        server,
        in_play,
        last_start=last_start,
        jury=jury,
        spent_today=spent_today,
        max_tokens=MAX_TOKENS,
        now=NOW,
    )


def refusal(decision: Admitted | Refused) -> str:
    assert isinstance(decision, Refused), decision
    return decision.message


# Admitted


def test_an_admitted_battle_holds_its_channel_its_starter_and_its_bound():
    assert decide() == Admitted(CostEstimate(BOUND), InPlay(GUILD, ALICE, CHANNEL, None, BOUND))


def test_a_battle_that_will_open_its_own_thread_holds_no_channel():
    decision = decide(server=rules(threads=True))
    assert isinstance(decision, Admitted) and decision.hold.place_id is None


# Each refusal


def test_missing_permissions_are_named():
    decision = decide(application(missing_permissions=("Send Messages", "Add Reactions")))
    assert refusal(decision) == (
        "I need these permissions in this channel: Send Messages, Add Reactions."
    )


def test_only_models_the_server_allows_may_battle():
    server = rules(allowed_models=("m/a", "m/c"))
    assert refusal(decide(server=server)).startswith(
        "`m/b` is not allowed on this server. Allowed: `m/a`, `m/c`."
    )
    assert isinstance(decide(application(battle=Battle("m/c", "m/a")), server), Admitted)


def test_a_channel_holds_one_battle_running_or_starting():
    for other in (running(place_id=CHANNEL), running(place_id=CHANNEL, started_at=None)):
        assert refusal(decide(in_play=(other,))) == (
            "A battle is already running in this channel. Wait for it to end."
        )
    assert isinstance(decide(in_play=(running(place_id=OTHER_CHANNEL),)), Admitted)


def test_in_threads_a_busy_channel_takes_one_more():
    decision = decide(server=rules(threads=True), in_play=(running(place_id=CHANNEL),))
    assert isinstance(decision, Admitted)


def test_the_cap_counts_the_servers_battles_running_and_starting():
    here = (running(place_id=None, started_at=None), running(place_id=12))
    assert refusal(decide(in_play=here)) == (
        "This server already has 2 battles running, the most it allows. Try again when one ends."
    )
    elsewhere = tuple(replace(other, guild_id=OTHER_GUILD) for other in here)
    assert isinstance(decide(in_play=elsewhere), Admitted)
    assert isinstance(decide(in_play=here, server=rules(max_battles=3)), Admitted)


def test_a_starter_starts_one_battle_at_a_time():
    starting = running(starter_id=ALICE, started_at=None)
    assert refusal(decide(in_play=(starting,))) == (
        "You are already starting a battle. Wait a moment."
    )
    assert isinstance(decide(in_play=(replace(starting, starter_id=BOB),)), Admitted)
    assert isinstance(decide(in_play=(starting,), server=rules(cooldown_seconds=0.0)), Admitted)


def test_the_cooldown_names_when_the_starter_may_start_again():
    started = NOW - 10
    expected = f"You can start another battle <t:{int(started + 30) + 1}:R>."
    assert refusal(decide(last_start=started)) == expected
    # A battle running here counts even before the store is seen to have it.
    assert refusal(decide(in_play=(running(starter_id=ALICE, started_at=started),))) == expected
    assert isinstance(decide(last_start=NOW - 30), Admitted)
    assert isinstance(decide(last_start=started, server=rules(cooldown_seconds=0.0)), Admitted)


def test_the_cooldown_is_per_server():
    elsewhere = running(OTHER_GUILD, ALICE, started_at=NOW - 1)
    assert isinstance(decide(in_play=(elsewhere,)), Admitted)


def test_a_panel_that_cannot_sit_refuses_with_its_reason():
    jury = Seating(refusal="This bot has no judges' panel.")
    assert refusal(decide(jury=jury)) == "This bot has no judges' panel."


def test_with_a_budget_an_unpriced_battle_is_refused():
    server = rules(daily_budget_usd=100.0)
    assert refusal(decide(application(pricing={}), server)) == (
        f"This server has a daily budget of {usd(100.0)}, and a model in this battle has no "
        "listed price, so its cost can't be checked against the budget. Pick priced models."
    )
    assert isinstance(decide(application(pricing={})), Admitted)  # no budget, no check


def test_the_budget_counts_todays_spend_and_what_running_battles_hold():
    budget = 3 * BOUND
    server = rules(daily_budget_usd=budget)
    assert isinstance(decide(server=server, spent_today=2 * BOUND), Admitted)  # lands on it
    holding = running(bound_usd=BOUND, started_at=None, place_id=None)
    decision = decide(server=server, in_play=(holding,), spent_today=1.5 * BOUND)
    assert refusal(decision) == (
        f"This battle could cost up to {usd(BOUND)}, and this server has "
        f"{usd(budget - (1.5 * BOUND + BOUND))} left of its {usd(budget)} daily budget "
        "(spent or held by running battles today, UTC). "
        f"The budget resets <t:{NEXT_MIDNIGHT}:R>."
    )
    elsewhere = replace(holding, guild_id=OTHER_GUILD)
    assert isinstance(decide(server=server, in_play=(elsewhere,), spent_today=2 * BOUND), Admitted)


# The order in which refusals are met


def test_the_first_check_that_fails_is_the_one_refusal():
    """A request that fails every check is told only of the first; with that one mended, of the
    next; and so on down the list, until the battle is admitted."""
    changes = {"allowed_models": ("m/a",), "max_battles": 1, "daily_budget_usd": BOUND / 2}
    facts = {
        "app": application(missing_permissions=("Embed Links",)),
        "in_play": (running(starter_id=ALICE, place_id=CHANNEL, started_at=None),),
        "last_start": NOW,
        "jury": Seating(refusal="The judges' panel (JUDGE_MODELS) is unusable: no such model"),
    }

    def mend_app(**fixed: object) -> None:
        facts["app"] = replace(facts["app"], **fixed)

    def mend_running(**fixed: object) -> None:
        facts["in_play"] = (replace(facts["in_play"][0], **fixed),)

    ladder = [
        ("I need these permissions in this channel", lambda: mend_app(missing_permissions=())),
        ("`m/b` is not allowed on this server", lambda: changes.pop("allowed_models")),
        ("A battle is already running in this channel", lambda: mend_running(place_id=None)),
        ("This server already has 1 battles running", lambda: changes.update(max_battles=2)),
        ("You are already starting a battle", lambda: mend_running(starter_id=BOB)),
        ("You can start another battle", lambda: facts.update(last_start=None)),
        ("The judges' panel (JUDGE_MODELS) is unusable", lambda: facts.update(jury=None)),
        ("This battle could cost up to", lambda: changes.pop("daily_budget_usd")),
    ]
    for told, mend in ladder:
        assert refusal(decide(server=rules(**changes), **facts)).startswith(told)
        mend()
    assert isinstance(decide(server=rules(**changes), **facts), Admitted)


# The cost estimate and the judges


def test_seated_judges_add_to_the_bound_and_an_unpriced_one_makes_it_unknown():
    jury = Seating(("j/one", "j/two"), {"j/one": JUDGE_PRICE, "j/two": JUDGE_PRICE})
    instructions = len(judge_messages("", BATTLE.topic)[0]["content"])
    sizes = PromptSizes.for_battle(BATTLE, clean=True, judge_prompt=instructions)
    expected = battle_cost_upper_bound(BATTLE, sizes, MAX_TOKENS, PRICES, [JUDGE_PRICE] * 2)
    assert cost_estimate(BATTLE, PRICES, MAX_TOKENS, jury) == CostEstimate(expected)
    assert expected > BOUND
    decision = decide(jury=jury)
    assert isinstance(decision, Admitted) and decision.estimate == CostEstimate(expected)
    unpriced = replace(jury, prices={"j/one": JUDGE_PRICE})
    assert cost_estimate(BATTLE, PRICES, MAX_TOKENS, unpriced) == CostEstimate(None)
    assert cost_estimate(BATTLE, {"m/a": PRICES["m/a"]}, MAX_TOKENS) == CostEstimate(None)


def test_a_battle_is_judged_as_asked_else_as_the_server_says():
    assert not wants_judges(RULES, None)
    assert wants_judges(rules(judges=True), None)
    assert wants_judges(RULES, True) and not wants_judges(rules(judges=True), False)
