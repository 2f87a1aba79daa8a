"""One progression for every front end: the terminal's match player (a battle through the referee,
then a panel; files in a folder) and Discord's (a battle in the real arena over the in-memory
store, decided by the crowd) play the same roster with the same decided results, and the runner
gives both the same rounds, promotions and champion; and the progression's own rules."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from bot.engine.battle import Battle, Turn
from bot.engine.pacing import Pace
from bot.engine.progression import (
    DISCORD_ROSTER,
    Finished,
    Match,
    PlanRound,
    PlayMatches,
    Progression,
    check_roster,
)
from bot.engine.tournament import (
    Decision,
    Pairing,
    PlayedRound,
    RoundPlan,
    TournamentFormat,
    decide,
)
from bot.errors import UserError
from bot.services.tournaments.folder import FolderTournament
from bot.services.tournaments.panel_player import Judgement, RefereePlayer
from bot.services.tournaments.record import progression_of
from bot.services.tournaments.runner import TournamentRunner
from tests.unit.test_arena_policy import Verses
from tests.unit.test_tournaments_discord import crowd_for, make_world

SEVEN = tuple(f"lab{i}/mc-{i}" for i in range(7))
# Not the seeding, so that upsets happen: the crowd and the panel both pick the stronger model.
STRENGTH = {model: (index * 5) % len(SEVEN) for index, model in enumerate(SEVEN)}


class StrongerWins:
    """The panel's step: three judges for the stronger model, two for the other."""

    async def __call__(self, battle: Battle, turns: Sequence[Turn]) -> Judgement:
        a, b = battle.model_a, battle.model_b
        stronger, weaker = (a, b) if STRENGTH[a] > STRENGTH[b] else (b, a)
        return Judgement({stronger: 3, weaker: 2}, {"j/one": f"{stronger} had it."})


def shape(rounds: Sequence[PlayedRound]) -> list[tuple]:
    """What a bracket decides: each round's contestants, bye, pairings and winners."""
    return [
        (
            played.plan.contestants,
            played.plan.bye,
            [(d.pairing, d.winner) for d in played.decisions],
        )
        for played in rounds
    ]


async def in_the_terminal(
    models: Sequence[str], tournament_format: TournamentFormat, out: Path
) -> tuple[list[tuple], str]:
    battles = RefereePlayer(Verses(), StrongerWins(), Pace(0))
    folder = FolderTournament(out, battles, battle_rounds=1)
    runner = TournamentRunner(
        Progression.start(tournament_format, models), folder, folder, concurrency=3
    )
    result = await runner.run()
    return shape(result.progression.played_rounds), result.finished.champion


async def in_discord(
    models: Sequence[str], tournament_format: TournamentFormat
) -> tuple[list[tuple], str]:
    world = make_world()
    try:
        world.stages.crowd = crowd_for(STRENGTH)
        tournament_id = await world.start(models, tournament_format=tournament_format)
        stored = await world.finished(tournament_id)
    finally:
        await world.shutdown()
    assert stored.champion is not None
    return shape(progression_of(stored).played_rounds), stored.champion


@pytest.mark.parametrize(
    ("models", "tournament_format", "rounds"),
    [
        (SEVEN, TournamentFormat.SINGLE, 3),
        (SEVEN[:6], TournamentFormat.SINGLE, 3),
        (SEVEN, TournamentFormat.SWISS, 3),
        (SEVEN[:6], TournamentFormat.SWISS, 3),
    ],
)
async def test_the_terminal_and_discord_play_the_same_tournament(
    models, tournament_format, rounds, tmp_path
):
    terminal, terminal_champion = await in_the_terminal(models, tournament_format, tmp_path)
    discord, discord_champion = await in_discord(models, tournament_format)
    assert len(terminal) == rounds
    assert terminal == discord
    assert terminal_champion == discord_champion
    if tournament_format is TournamentFormat.SINGLE:
        assert terminal_champion == max(models, key=STRENGTH.__getitem__)


# -- the progression's rules ---------------------------------------------------------------------


def test_single_elimination_plans_plays_and_crowns():
    progression = Progression.start(TournamentFormat.SINGLE, ["a", "b", "c"])
    assert progression.total_rounds == 2
    step = progression.next_step()
    assert step == PlanRound(0, RoundPlan(("a", "b", "c"), "a", (Pairing(0, "b", "c"),)))
    progression = progression.planned(step.plan)
    assert progression.next_step() == PlayMatches(0, (Match(0, Pairing(0, "b", "c")),))
    progression = progression.decided(0, decide(Pairing(0, "b", "c"), {"c": 3}))
    step = progression.next_step()
    assert step == PlanRound(1, RoundPlan(("a", "c"), None, (Pairing(0, "a", "c"),)))
    progression = progression.planned(step.plan).decided(
        1, Decision(Pairing(0, "a", "c"), "c", 1, 4)
    )
    assert progression.next_step() == Finished("c")
    assert [len(played.decisions) for played in progression.played_rounds] == [1, 1]


def test_a_round_is_planned_only_after_the_last_is_decided():
    progression = Progression.start(TournamentFormat.SINGLE, ["a", "b", "c", "d"])
    step = progression.next_step()
    assert isinstance(step, PlanRound)
    progression = progression.planned(step.plan)
    with pytest.raises(ValueError):
        progression.planned(step.plan)
    with pytest.raises(ValueError):
        progression.decided(0, decide(Pairing(0, "a", "d"), {"a": 1}))  # not a pairing of it


def test_a_swiss_round_that_cannot_be_paired_ends_the_tournament_with_the_table_top():
    """Six models whose first three rounds played every pair across two triangles: the pairs left
    are the triangles' own, and a triangle cannot be paired. Both front ends end here alike."""
    a, b, c, d, e, f = models = ("a", "b", "c", "d", "e", "f")
    progression = Progression.start(TournamentFormat.SWISS, models, swiss_rounds=5)
    rounds = [((a, d), (b, e), (c, f)), ((a, e), (b, f), (c, d)), ((a, f), (b, d), (c, e))]
    for number, pairs in enumerate(rounds):
        pairings = tuple(Pairing(k, x, y) for k, (x, y) in enumerate(pairs))
        progression = progression.planned(RoundPlan(progression.contestants_next(), None, pairings))
        for pairing in pairings:
            progression = progression.decided(number, decide(pairing, {pairing.side_a: 1}))
    step = progression.next_step()
    assert isinstance(step, Finished)
    assert step.champion == "a"  # a, b and c won every battle; a is the first seed
    assert step.note is not None and "after 3 of 5 rounds" in step.note


def test_a_swiss_tournament_ends_after_its_rounds_with_the_table_top():
    progression = Progression.start(TournamentFormat.SWISS, ["a", "b", "c", "d"])
    assert progression.total_rounds == 2
    while not isinstance(step := progression.next_step(), Finished):
        if isinstance(step, PlanRound):
            progression = progression.planned(step.plan)
        else:
            for match in step.matches:
                winner = min(match.pairing.side_a, match.pairing.side_b)
                progression = progression.decided(match.round, decide(match.pairing, {winner: 1}))
    assert step == Finished("a")
    assert len(progression.rounds) == 2


def test_one_roster_rule_with_the_sizes_of_each_front_end():
    check_roster(["a", "b"])  # the terminal, as the original tournament, takes two
    with pytest.raises(UserError, match="at least 2 models"):
        check_roster(["a"])
    with pytest.raises(UserError, match="3 to 32 models"):
        check_roster(["a", "b"], DISCORD_ROSTER)
    with pytest.raises(UserError, match="`a` is listed twice"):
        check_roster(["a", "b", "a"])
