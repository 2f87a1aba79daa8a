"""Issue 18's loose ends that need no Discord: a tournament's own matches skip the cooldown, and
the rating fit runs on one BLAS thread."""

from __future__ import annotations

from dataclasses import replace

from threadpoolctl import threadpool_info

import bot.services.battles.standings as standings_module
from bot.engine.admission import Admitted, Application, Refused, admit
from bot.engine.battle import Battle, Side
from bot.engine.server_settings import COOLDOWN_SECONDS, ServerRules, ServerSettings
from bot.engine.votes import DEFAULT_EMOJI, Tally
from bot.services.battles.standings import StandingsService
from bot.store import NewBattle
from bot.store.tournaments import TournamentState
from tests.fakes.memory_store import MemoryStore
from tests.unit.test_tournaments_discord import (  # noqa: F401 (worlds: a fixture)
    CHANNEL,
    FOUR,
    GUILD,
    World,
    make_world,
    worlds,
)

NOW = 1_800_000_000.0
RULES = ServerRules.defaults({COOLDOWN_SECONDS: 600.0})


def decide(application: Application, last_start: float | None) -> Admitted | Refused:
    return admit(
        application, RULES, (), last_start=last_start, jury=None, spent_today=0.0,
        max_tokens=700, now=NOW,
    )  # fmt: skip


def test_the_cooldown_applies_to_a_member_not_to_a_tournaments_own_matches():
    plain = Application(1, 10, 100, Battle("m/a", "m/b"))
    refused = decide(plain, last_start=NOW - 60)
    assert isinstance(refused, Refused) and "You can start another battle" in refused.message
    assert isinstance(decide(replace(plain, tournament_match=True), NOW - 60), Admitted)
    assert isinstance(decide(replace(plain, scheduled=True), NOW - 60), Admitted)


async def test_a_tournament_plays_on_under_a_cooldown(worlds: list[World]):  # noqa: F811
    world = make_world()
    worlds.append(world)
    await world.store.save_server_settings(GUILD, ServerSettings(cooldown_seconds=600.0))
    tournament_id = await world.start(FOUR[:3])
    stored = await world.finished(tournament_id)  # each match right after the one before
    assert stored.state is TournamentState.FINISHED
    thread = world.stages.stage_for(stored.thread_id or CHANNEL)
    assert not [n for n in thread.notices if "cannot start yet" in n]


async def test_the_rating_fit_runs_on_one_blas_thread(monkeypatch):
    """BLAS threads contending with the event loop (and with each other on a small machine) made
    the first fit slow: the fit runs with one (benchmarks/fit_threads.py measures it)."""
    seen: list[int] = []
    real_fit = standings_module.fit_pairs

    def spying_fit(pairs):
        seen.append(max(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"))
        return real_fit(pairs)

    monkeypatch.setattr(standings_module, "fit_pairs", spying_fit)
    store = MemoryStore()
    for number in range(3):
        stored = await store.create_battle(NewBattle(1, 2, 3, Battle("m/a", "m/b")), now=number)
        await store.open_voting(stored.id, 100 + number, number + 1.0, DEFAULT_EMOJI)
        await store.close_voting(stored.id, Tally({7: Side.A, 8: Side.B, 9: Side.A}), number + 2.0)
    rows = await StandingsService(store).standings(1)
    assert [row.model for row in rows] == ["m/a", "m/b"]
    assert seen == [1]
    # Outside the fit, BLAS keeps the threads it had.
    assert max(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas") > 1
