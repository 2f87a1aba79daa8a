"""The content filter in the terminal: `rapbattle local` and `rapbattle tournament` screen every
verse (``--content-filter``, standard by default), and a withheld verse never reaches the screen
or the transcript: its one line does, and the battle ends there."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot import cli
from bot.engine.transcript import parse
from tests.fakes.filtered_words import a_listed_slur
from tests.fakes.model_server import ModelServer, Verse, default_verse
from tests.fakes.moderation_server import ModerationServer
from tests.test_tournament import MODELS, ScriptedJudges, strengths

RAPBATTLE = str(Path(sys.executable).with_name("rapbattle"))
QWEN, LLAMA = "qwen/qwen-max", "meta-llama/llama-3-70b-instruct"
KEY = "moderation-key"
HATE = "a verse of hate only the endpoint sees"


@pytest.fixture
def env(model_server: ModelServer) -> dict[str, str]:
    base = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("LLM_", "OPENROUTER", "BATTLE_", "MODERATION_"))
    }
    return base | {"LLM_BASE_URL": model_server.base_url, "LLM_API_KEY": "test-key"}


@pytest.fixture
def moderation() -> Iterator[ModerationServer]:
    with ModerationServer(api_key=KEY) as server:
        server.flag(HATE, "hate")
        yield server


def local(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [RAPBATTLE, "local", QWEN, LLAMA, "--pace", "0", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        timeout=30,
    )


def test_local_withholds_a_slur_and_ends_the_battle_at_its_line(model_server, env, tmp_path):
    slur = a_listed_slur()
    model_server.script(LLAMA, Verse("first llama verse"), Verse(f"you {slur}, that's all"))
    done = local("--out", str(tmp_path / "copy.md"), env=env, cwd=tmp_path)
    line = f"{LLAMA}'s verse was withheld by the content filter (slur)."
    assert done.returncode == 1
    assert done.stderr.decode() == f"rapbattle: No contest: {line.removesuffix('.')}\n"
    transcript = done.stdout.decode()
    assert slur not in transcript and "that's all" not in transcript
    turns = parse(transcript).turns
    texts = [turn.text for turn in turns]
    assert texts == [default_verse(QWEN, 1), "first llama verse", default_verse(QWEN, 2), line]
    assert turns[-1].side is None  # the host's line, as the transcript format keeps it
    assert (tmp_path / "copy.md").read_text(encoding="utf-8") == transcript
    assert len(model_server.chat_requests()) == 4  # nothing asked past it


def test_local_keeps_profanity_by_default_masks_it_when_strict_and_off_shows_all(
    model_server, env, tmp_path
):
    verse = "Fuck your rhymes, this shit is weak"
    model_server.script(QWEN, Verse(verse))
    done = local("--rounds", "1", env=env, cwd=tmp_path)
    assert done.returncode == 0 and parse(done.stdout.decode()).turns[0].text == verse

    model_server.script(QWEN, Verse(verse))
    done = local("--rounds", "1", "--content-filter", "strict", env=env, cwd=tmp_path)
    assert done.returncode == 0
    assert parse(done.stdout.decode()).turns[0].text == "•••• your rhymes, this •••• is weak"

    slur = a_listed_slur()
    model_server.script(QWEN, Verse(f"as written: {slur}"))
    done = local("--rounds", "1", "--content-filter", "off", env=env, cwd=tmp_path)
    assert done.returncode == 0
    assert parse(done.stdout.decode()).turns[0].text == f"as written: {slur}"


def test_local_refuses_an_unknown_level(env, tmp_path):
    done = local("--content-filter", "lenient", env=env, cwd=tmp_path)
    assert done.returncode == 2
    assert "'lenient' is not one of standard, strict, off" in done.stderr.decode()


def test_local_asks_the_endpoint_and_falls_back_when_it_is_down(
    model_server, env, moderation, tmp_path
):
    env = env | {"MODERATION_BASE_URL": moderation.base_url, "MODERATION_API_KEY": KEY}
    model_server.script(QWEN, Verse(f"{HATE}, bar for bar"))
    done = local("--rounds", "1", env=env, cwd=tmp_path)
    assert done.returncode == 1
    line = f"{QWEN}'s verse was withheld by the content filter (hate)."
    assert [turn.text for turn in parse(done.stdout.decode()).turns] == [line]
    assert moderation.requests() == [f"{HATE}, bar for bar"]

    moderation.down = True
    model_server.script(QWEN, Verse(f"{HATE}, bar for bar"))
    done = local("--rounds", "1", env=env, cwd=tmp_path)
    assert done.returncode == 0  # an outage never stops a battle
    transcript = parse(done.stdout.decode())
    assert transcript.turns[0].text == f"{HATE}, bar for bar"
    outages = [line for line in done.stderr.decode().splitlines() if "decided" in line]
    assert len(outages) == 2  # one log line a verse
    assert outages[0].endswith(
        f"Moderation endpoint {moderation.base_url}: answered 500; "
        "the offline word list decided this verse alone"
    )


def test_a_tournament_battle_with_a_withheld_verse_is_forfeited_by_its_mc(
    monkeypatch, tmp_path, capsys
):
    """`rapbattle tournament` in-process, with scripted judges in place of the panel."""
    slur = a_listed_slur()
    with ModelServer(MODELS, api_key="test-key") as server:
        for key in [k for k in os.environ if k.startswith(("LLM_", "BATTLE_", "MODERATION_"))]:
            monkeypatch.delenv(key)
        monkeypatch.setenv("LLM_BASE_URL", server.base_url)
        monkeypatch.setenv("LLM_API_KEY", "test-key")
        monkeypatch.chdir(tmp_path)
        judges = ScriptedJudges(strengths(MODELS[:3]))
        monkeypatch.setattr("bot.cli.tournament.panel_judge", lambda panel: judges)
        m0, m1, m2 = MODELS[:3]
        # Round 0 is m1 v m2; m2 answers m1's verse with a slur.
        server.script(m2, Verse(f"{slur} on the mic"))
        out = tmp_path / "out"
        arguments = ["tournament", m0, m1, m2, "--out", str(out), "--rounds", "1"]
        assert cli.main([*arguments, "--judges", "lab9/rapper-9"]) == 0

    transcript = (out / "round0/0.txt").read_text(encoding="utf-8")
    assert slur not in transcript
    turns = parse(transcript).turns
    assert turns[-1].text == f"{m2}'s verse was withheld by the content filter (slur)."
    assert (
        out / "round0/0.yml"
    ).read_text() == f"closing_statements: {{}}\nforfeit: {m2}\nscore: {{}}\nwithheld: slur\n"
    results = (out / "results.md").read_text(encoding="utf-8")
    assert f"`{m2}` forfeits: its verse was withheld by the content filter (slur)." in results
    assert (out / "round1/contestants.txt").read_text() == f"{m0}\n{m1}\n"
    assert (m1, m2) not in judges.judged
    assert capsys.readouterr().err.splitlines()[-1].startswith("Champion: ")
