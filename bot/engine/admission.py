"""Admission: whether a battle may start here and now, decided in one place.

Pure, no I/O: the arena gathers what it knows (the server's rules, the battles this process runs
or is starting, the starter's last start as stored, the judges it could seat, the catalog's prices
and the server's spend today) and acts on the answer: the battle admitted, with its cost estimate
and what it holds while it starts, or the one refusal its starter is shown. The checks run in the
order below, and the first that fails is the answer:

1. the bot's permissions in the channel, then in the voice or Stage channel the battle is
   performed in, if any;
2. the models the server allows;
3. one battle per channel (none when battles open threads of their own);
4. the server's cap on battles running at once; then, for a battle performed live, one live
   battle per server (a bot is in at most one voice channel of a server) and the process's cap
   on live battles (``MAX_VOICE_BATTLES``);
5. the starter's cooldown: one start at a time, then a wait (none for a scheduled battle, which
   no one started: its schedule runs at most every 10 minutes; nor for a tournament's own
   matches, which the tournament starts one after another);
6. the judges' panel, when the battle is judged;
7. the daily budget, against the most the battle can cost.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from bot.engine.battle import Battle, Side
from bot.engine.house_rules import (
    Pricing,
    PromptSizes,
    battle_cost_upper_bound,
    check_daily_budget,
)
from bot.engine.server_settings import (
    COOLDOWN_SECONDS,
    DAILY_BUDGET_USD,
    JUDGES,
    MAX_BATTLES,
    THREADS,
    ServerRules,
)
from bot.engine.spend import CostEstimate, budget_refusal, unknown_cost_refusal
from bot.engine.verdicts import judge_messages
from bot.errors import UserError


@dataclass(frozen=True, slots=True)
class Application:
    """A battle asking to start: who asks, where, and what the bot lacks there."""

    guild_id: int
    channel_id: int
    starter_id: int
    battle: Battle  # as it would start (a blind battle's sides already drawn)
    # The catalog's prices of the battle's models, by model id; a model left out has none.
    pricing: Mapping[str, Pricing] = field(default_factory=dict)
    # Permissions the battle needs in the channel that the bot lacks, by their names.
    missing_permissions: tuple[str, ...] = ()
    scheduled: bool = False  # started by a schedule: no starter's cooldown applies
    # A tournament's own match, started by the tournament as the one before it ends: the
    # starter's cooldown is for battles a member starts, not for the matches they asked for.
    tournament_match: bool = False
    # The voice or Stage channel the battle is performed in (None: text only), and the
    # permissions a performance needs there that the bot lacks, by their names.
    voice_channel_id: int | None = None
    missing_voice_permissions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class InPlay:
    """A battle this process runs, or one admitted and still starting, as admission counts it."""

    guild_id: int
    starter_id: int
    # The channel (or thread) it holds; None for one starting into a thread of its own.
    place_id: int | None
    started_at: float | None  # None while it is still starting
    bound_usd: float | None  # the most it can cost, held against its server's budget
    voice_channel_id: int | None = None  # where it is performed live, if it is


@dataclass(frozen=True, slots=True)
class OnStage:
    """A voice or Stage channel a battle is performed in."""

    guild_id: int
    channel_id: int


@dataclass(frozen=True, slots=True)
class Seating:
    """The judges' panel of a judged battle, as the arena could seat it: the judges who judge this
    battle and the catalog's prices of those it lists, or why no panel can sit."""

    judges: tuple[str, ...] = ()
    prices: Mapping[str, Pricing] = field(default_factory=dict)
    refusal: str | None = None


@dataclass(frozen=True, slots=True)
class Admitted:
    """The battle may start: what its title card shows of its cost, and what it holds (its place,
    its starter's turn and its cost bound) until it is running."""

    estimate: CostEstimate
    hold: InPlay


@dataclass(frozen=True, slots=True)
class Refused:
    """Why the battle may not start, as its starter is told."""

    message: str


def wants_judges(rules: ServerRules, asked: bool | None) -> bool:
    """Whether a battle is judged: as asked, else as the server's ``judges`` setting says."""
    return rules[JUDGES] if asked is None else asked


def admit(
    application: Application,
    rules: ServerRules,
    in_play: Sequence[InPlay],
    *,
    last_start: float | None,
    jury: Seating | None,
    spent_today: float,
    max_tokens: int,
    now: float,
    performing: Sequence[OnStage] = (),
    max_voice_battles: int = 0,
) -> Admitted | Refused:
    """Admits the battle or gives the one refusal, checking in the module's order.

    ``in_play``: every battle this process runs or is starting, on any server. ``last_start``:
    when the starter last started a battle on this server, as stored. ``jury``: the seated panel
    when the battle is judged, else None. ``spent_today``: the server's spend since midnight UTC
    (only read against a budget). ``max_tokens``: the longest verse. ``now``: Unix seconds.
    ``performing``: where this process performs battles now (a live battle holds its voice
    channel until its results, past its verses); ``max_voice_battles``: how many it may.
    """
    battle, channel_id = application.battle, application.channel_id
    # Battles still starting count as running: two starts at once cannot both take the last
    # place, the starter's one turn or the budget's last margin.
    here = [other for other in in_play if other.guild_id == application.guild_id]
    if application.missing_permissions:
        missing = ", ".join(application.missing_permissions)
        return Refused(f"I need these permissions in this channel: {missing}.")
    voice = application.voice_channel_id
    if voice is not None and application.missing_voice_permissions:
        missing = ", ".join(application.missing_voice_permissions)
        return Refused(f"I need these permissions in <#{voice}> to perform there: {missing}.")
    if (refusal := _not_allowed(rules, battle)) is not None:
        return Refused(refusal)
    # In threads, every battle has a place of its own; otherwise one battle per channel.
    if not rules[THREADS] and any(other.place_id == channel_id for other in in_play):
        return Refused("A battle is already running in this channel. Wait for it to end.")
    if len(here) >= rules[MAX_BATTLES]:
        return Refused(
            f"This server already has {len(here)} battles running, the most it allows. "
            "Try again when one ends."
        )
    if voice is not None:
        taken = [
            *performing,
            *(OnStage(p.guild_id, p.voice_channel_id) for p in in_play if p.voice_channel_id),
        ]
        if refusal := _no_stage(application.guild_id, voice, taken, max_voice_battles):
            return Refused(refusal)
    waiting = _cooldown(application.starter_id, rules, here, last_start, now)
    if waiting is not None and not (application.scheduled or application.tournament_match):
        return Refused(waiting)
    if jury is not None and jury.refusal is not None:
        return Refused(jury.refusal)
    estimate = cost_estimate(battle, application.pricing, max_tokens, jury)
    if (refusal := _over_budget(rules, estimate, spent_today + _held(here), now)) is not None:
        return Refused(refusal)
    place = None if rules[THREADS] else channel_id
    hold = InPlay(
        application.guild_id,
        application.starter_id,
        place,
        None,
        estimate.upper_bound_usd,
        voice_channel_id=voice,
    )
    return Admitted(estimate, hold)


def cost_estimate(
    battle: Battle, pricing: Mapping[str, Pricing], max_tokens: int, jury: Seating | None = None
) -> CostEstimate:
    """The most the battle's model calls can cost: its verses at ``pricing``, and each seated
    judge (reading its instructions and the whole transcript) at the panel's prices; unknown
    when a model or a judge has no price. Clean mode's line is counted whether or not it
    applies, so the bound holds either way."""
    judges = jury.judges if jury is not None else ()
    judge_prices = jury.prices if jury is not None else {}
    if any(battle.model(side) not in pricing for side in Side) or any(
        judge not in judge_prices for judge in judges
    ):
        return CostEstimate(None)
    instructions = len(judge_messages("", battle.topic)[0]["content"]) if judges else 0
    sizes = PromptSizes.for_battle(battle, clean=True, judge_prompt=instructions)
    bound = battle_cost_upper_bound(
        battle, sizes, max_tokens, pricing, [judge_prices[judge] for judge in judges]
    )
    return CostEstimate(bound)


def _not_allowed(rules: ServerRules, battle: Battle) -> str | None:
    """Why a model of the battle may not battle on this server, or None when both may."""
    for model in (battle.model_a, battle.model_b):
        try:
            rules.check_allowed(model)
        except UserError as refusal:
            return str(refusal)
    return None


def _no_stage(guild_id: int, voice: int, taken: Sequence[OnStage], most: int) -> str | None:
    """Why the battle cannot be performed in ``voice``: one live battle at a time per server (a
    bot is in one voice channel of a server at most, and two battles would talk over each
    other), and at most ``most`` live battles per process (each keeps a voice connection and an
    audio thread busy)."""
    if most <= 0:
        return "This bot performs no battles live. Start the battle without a stage."
    here = [seat.channel_id for seat in taken if seat.guild_id == guild_id]
    if here:
        return (
            f"A battle is already being performed in <#{here[0]}>, and I can be in one voice "
            "channel of a server at a time. Wait for it to end, or start this one without a stage."
        )
    if len(taken) >= most:
        return (
            f"I am already performing {len(taken)} battles live, the most I can. "
            "Try again when one ends, or start this one without a stage."
        )
    return None


def _cooldown(
    starter_id: int,
    rules: ServerRules,
    here: Sequence[InPlay],
    last_start: float | None,
    now: float,
) -> str | None:
    """A starter starts one battle at a time on a server, then waits out the cooldown since the
    last one started (stored, or running here and perhaps not yet seen in the store)."""
    cooldown = rules[COOLDOWN_SECONDS]
    mine = [other for other in here if other.starter_id == starter_id]
    if cooldown > 0 and any(other.started_at is None for other in mine):
        return "You are already starting a battle. Wait a moment."
    starts = [other.started_at for other in mine if other.started_at is not None]
    if last_start is not None:
        starts.append(last_start)
    if not starts:
        return None
    wait = max(starts) + cooldown - now
    if wait > 0:
        return f"You can start another battle <t:{int(now + wait) + 1}:R>."
    return None


def _held(here: Sequence[InPlay]) -> float:
    """What the server's running and starting battles may still cost: each one's whole bound."""
    return sum(other.bound_usd or 0.0 for other in here)


def _over_budget(
    rules: ServerRules, estimate: CostEstimate, committed: float, now: float
) -> str | None:
    """Refuses a battle that could take the server over its daily budget: ``committed`` (today's
    spend, UTC, and what running battles hold) plus this battle's bound."""
    budget = rules[DAILY_BUDGET_USD]
    if budget is None:
        return None
    if estimate.upper_bound_usd is None:
        return unknown_cost_refusal(budget)
    moment = datetime.datetime.fromtimestamp(now, datetime.UTC)
    decision = check_daily_budget(committed, estimate.upper_bound_usd, budget, moment)
    return None if decision.allowed else budget_refusal(decision)
