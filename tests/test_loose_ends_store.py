"""The store's two small parts for issue 18's loose ends, on every backend: each judge's answer
kept as it comes in (a restart during the vote asks only the judges who had not answered), and
public servers' names."""

from __future__ import annotations

from bot.engine.battle import Battle, Side
from bot.engine.verdicts import Ballot
from bot.store import NewBattle
from tests.test_store import open_backend, store  # noqa: F401 (fixtures)


async def test_each_judges_first_answer_is_kept_and_read_back(store):  # noqa: F811
    battle = await store.create_battle(NewBattle(1, 2, 3, Battle("m/a", "m/b")), now=10.0)
    assert await store.judge_answers(battle.id) == {}
    picked = Ballot("j/one", Side.B, "B's flow", same_vendor=True, prompt_tokens=90,
                    completion_tokens=12, cost_usd=0.0021)  # fmt: skip
    abstained = Ballot.abstention("j/two", "j/two: the model is down (502)", tokens=(5, 0))
    await store.keep_judge_answer(battle.id, picked)
    await store.keep_judge_answer(battle.id, abstained)
    # A second answer from the same judge (two processes judging at once) changes nothing.
    await store.keep_judge_answer(battle.id, Ballot("j/one", Side.A, "A after all"))
    assert await store.judge_answers(battle.id) == {"j/one": picked, "j/two": abstained}
    other = await store.create_battle(NewBattle(1, 2, 3, Battle("m/a", "m/b")), now=11.0)
    assert await store.judge_answers(other.id) == {}


async def test_a_server_name_is_kept_from_its_opt_in_and_renamed_only_then(store):  # noqa: F811
    assert await store.server_name(7) is None
    # A server that never opted in keeps no name, whatever its updates say.
    assert not await store.rename_server(7, "Secret Club", now=1.0)
    assert await store.server_name(7) is None
    await store.name_server(7, "Rap Club", now=2.0)
    assert await store.server_name(7) == "Rap Club"
    assert not await store.rename_server(7, "Rap Club", now=3.0)  # unchanged
    assert await store.rename_server(7, "Rhyme Club", now=4.0)
    assert await store.server_name(7) == "Rhyme Club"
    await store.name_server(7, "Verse Club", now=5.0)  # opting in again names it anew
    assert await store.server_name(7) == "Verse Club"
