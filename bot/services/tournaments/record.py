"""A Discord tournament as the store keeps it, read as the engine's progression: the one way the
tournament session, the bracket and the web arena learn where a tournament stands."""

from __future__ import annotations

from bot.engine.progression import Progression
from bot.engine.tournament import Decision, RoundPlan
from bot.store.tournaments import StoredMatch, StoredTournament


def decision_of(match: StoredMatch) -> Decision:
    """A decided match as the engine's decision; the crowd's votes stand where a panel's would."""
    if match.winner is None:
        raise ValueError(f"Match {match.index} of round {match.round} is not decided yet.")
    return Decision(match.pairing, match.winner, match.votes_a or 0, match.votes_b or 0)


def progression_of(stored: StoredTournament) -> Progression:
    """Every stored round, with its contestants going into it, and every decided match."""
    progression = Progression.start(stored.tournament_format, stored.seeds)
    for played in stored.rounds:
        pairings = tuple(match.pairing for match in played.matches)
        progression = progression.planned(
            RoundPlan(progression.contestants_next(), played.bye, pairings)
        )
        for match in played.matches:
            if match.winner is not None:
                progression = progression.decided(played.number, decision_of(match))
    return progression
