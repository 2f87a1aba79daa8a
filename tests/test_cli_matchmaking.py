"""`rapbattle local` with models left out, as a subprocess against the local model server: the
models are matched on DATABASE_URL's history when it has one, else drawn at random."""

import asyncio
import itertools
import os

import pytest

from bot.engine.battle import Battle, Side
from bot.engine.transcript import parse
from bot.engine.votes import DEFAULT_EMOJI, Tally
from bot.store import NewBattle, open_store
from tests.fakes.model_server import DEFAULT_MODELS
from tests.test_cli_local import rapbattle

QWEN = "qwen/qwen-max"


@pytest.fixture
def env(model_server):
    base = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("LLM_", "OPENROUTER", "BATTLE_", "DATABASE_URL"))
    }
    return base | {"LLM_BASE_URL": model_server.base_url, "LLM_API_KEY": "test-key"}


def test_no_models_battle_two_of_the_served_models(model_server, env, tmp_path):
    env["DATABASE_URL"] = "sqlite:///data/history.db"  # relative to cwd: no such file
    done = rapbattle("--rounds", "1", "--pace", "0", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    transcript = parse(done.stdout.decode())
    assert transcript.model_a != transcript.model_b
    assert {transcript.model_a, transcript.model_b} <= set(DEFAULT_MODELS)
    assert done.stderr == b""
    assert not (tmp_path / "data").exists()  # no database is created to read a history from
    assert {r.model for r in model_server.chat_requests()} == {
        transcript.model_a,
        transcript.model_b,
    }


def test_one_model_gets_a_matched_opponent(model_server, env, tmp_path):
    env["DATABASE_URL"] = f"sqlite:///{tmp_path}/none.db"
    done = rapbattle("qwen-max", "--rounds", "1", "--pace", "0", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    transcript = parse(done.stdout.decode())
    assert transcript.model_a == QWEN
    assert transcript.model_b in DEFAULT_MODELS and transcript.model_b != QWEN


def test_with_a_history_the_model_it_has_never_rated_plays_first(model_server, env, tmp_path):
    url = f"sqlite:///{tmp_path}/history.db"
    *rated, newcomer = DEFAULT_MODELS
    asyncio.run(_history(url, rated))
    env["DATABASE_URL"] = url
    for _ in range(3):
        done = rapbattle("--rounds", "1", "--pace", "0", env=env, cwd=tmp_path)
        assert done.returncode == 0, done.stderr.decode()
        transcript = parse(done.stdout.decode())
        assert newcomer in (transcript.model_a, transcript.model_b)
        assert {transcript.model_a, transcript.model_b} <= set(DEFAULT_MODELS)


async def _history(url: str, models: list[str]) -> None:
    """Rated battles chaining ``models`` together on one server."""
    store = await open_store(url)
    try:
        for a, b in itertools.pairwise(models):
            made = await store.create_battle(NewBattle(1, 10, 100, Battle(a, b, 1)), now=1.0)
            await store.open_voting(made.id, made.id, 2.0, DEFAULT_EMOJI)
            await store.close_voting(made.id, Tally({1: Side.A, 2: Side.B, 3: Side.A}), 3.0)
    finally:
        await store.close()
