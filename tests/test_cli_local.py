"""End to end: `rapbattle local` as a subprocess against the local model server."""

import asyncio
import io
import os
import pty
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from rich.console import Console

from bot.engine.battle import FINAL_ROUND, Battle
from bot.engine.pacing import Pace
from bot.engine.transcript import parse, render
from bot.engine.verdicts import DEFAULT_PANEL, VerdictFile, verdict_response_format
from bot.llm import LLMClient
from bot.services.battles.referee import Outcome, Referee
from bot.stages.terminal import TerminalStage
from tests.fakes.model_server import (
    DEFAULT_MODELS,
    HttpError,
    ModelServer,
    Ruling,
    Verse,
    Wrapping,
    default_statement,
    default_transcript,
    default_verse,
)

RAPBATTLE = str(Path(sys.executable).with_name("rapbattle"))
QWEN, LLAMA = "qwen/qwen-max", "meta-llama/llama-3-70b-instruct"


@pytest.fixture
def env(model_server, tmp_path):
    base = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("LLM_", "OPENROUTER", "BATTLE_"))
    }
    return base | {"LLM_BASE_URL": model_server.base_url, "LLM_API_KEY": "test-key"}


def rapbattle(*args: str, env: dict, cwd: Path, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(
        [RAPBATTLE, "local", *args], env=env, cwd=cwd, capture_output=True, timeout=timeout
    )


def test_a_battle_piped_to_a_file_is_the_exact_transcript(model_server, env, tmp_path):
    out = tmp_path / "copy.md"
    done = rapbattle(
        "qwen-max",
        "llama-3-70b",
        "--pace",
        "0",
        "--topic",
        "cats vs dogs",
        "--out",
        str(out),
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr.decode()
    expected = default_transcript(QWEN, LLAMA, 3)
    assert done.stdout.decode("utf-8") == expected
    assert out.read_text(encoding="utf-8") == expected
    assert done.stderr == b""

    requests = model_server.chat_requests()
    assert [r.model for r in requests] == [QWEN, LLAMA] * 3
    for request in requests:
        assert '"cats vs dogs"' in request.messages[0]["content"]
    for number, request in enumerate(requests[1:], start=1):
        opponent = LLAMA if request.model == QWEN else QWEN
        opponent_verse = default_verse(opponent, (number + 1) // 2)
        assert {"role": "user", "content": opponent_verse} in request.messages
    for request in requests[4:]:
        assert {"role": "system", "content": FINAL_ROUND} in request.messages
    for request in requests[:4]:
        assert {"role": "system", "content": FINAL_ROUND} not in request.messages


def test_rounds_option_and_verbatim_verses(model_server, env, tmp_path):
    verse = "Line one,  \n\n  indented **bold** @everyone\nlast line"
    model_server.script(QWEN, Verse(f"<think>hmm</think>\n{verse}\n\n"))
    done = rapbattle(QWEN, "grok", "--rounds", "1", "--pace", "0", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    transcript = parse(done.stdout.decode())
    assert transcript.model_b == "x-ai/grok-2"
    assert [turn.text for turn in transcript.turns] == [verse, default_verse("x-ai/grok-2", 1)]


def test_unknown_model_is_one_clear_line_and_nothing_is_generated(model_server, env, tmp_path):
    done = rapbattle("qwen-maks", "llama-3-70b", env=env, cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.decode() == (
        "rapbattle: No model matches `qwen-maks`. Did you mean `qwen/qwen-max`?\n"
    )
    assert done.stdout == b""
    assert model_server.chat_requests() == []


def test_no_key_is_a_clear_error_before_any_request(model_server, env, tmp_path):
    del env["LLM_API_KEY"]
    done = rapbattle("qwen-max", "llama-3-70b", env=env, cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.decode() == (
        "rapbattle: No model API key: set LLM_API_KEY (or OPENROUTER_API_KEY).\n"
    )
    assert model_server.models_requests == 0 and model_server.chat_requests() == []


def test_bad_options_exit_with_usage(model_server, env, tmp_path):
    done = rapbattle("a", "b", "--rounds", "11", env=env, cwd=tmp_path)
    assert done.returncode == 2 and b"rounds must be between 1 and 10" in done.stderr
    for topic, message in (("x" * 201, b"keep it to 200"), ("two\nlines", b"one line")):
        done = rapbattle("qwen-max", "grok", "--topic", topic, env=env, cwd=tmp_path)
        assert done.returncode == 2, done.stderr
        assert done.stderr.startswith(b"usage: rapbattle local")
        assert b"error: argument --topic: " in done.stderr and message in done.stderr
    assert model_server.models_requests == 0 and model_server.chat_requests() == []


def test_an_unreachable_provider_is_one_line_naming_its_url(env, tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}/api/v1"
    env = env | {"LLM_BASE_URL": url}
    for models in (("qwen-max", "grok"), (QWEN, LLAMA)):  # with and without the model list
        done = rapbattle(*models, "--pace", "0", env=env, cwd=tmp_path)
        assert done.returncode == 1
        assert done.stderr.decode() == (
            f"rapbattle: Cannot reach the model provider at {url}. "
            "Check LLM_BASE_URL and your network.\n"
        )
        assert done.stdout == b""


def test_battle_pace_from_the_environment_is_the_default_and_pace_wins(model_server, env, tmp_path):
    started = time.monotonic()
    done = rapbattle(
        "qwen-max", "grok", "--rounds", "1", env=env | {"BATTLE_PACE": "1.5"}, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr.decode()
    assert time.monotonic() - started >= 1.5  # one pause, between the two verses
    started = time.monotonic()
    slow_env = env | {"BATTLE_PACE": "60"}
    done = rapbattle("qwen-max", "grok", "--rounds", "1", "--pace", "0", env=slow_env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    assert time.monotonic() - started < 30


def test_provider_failure_mid_battle_keeps_the_partial_transcript(model_server, env, tmp_path):
    model_server.script(LLAMA, Verse("first llama verse"), HttpError(402, "Insufficient credits"))
    done = rapbattle("qwen-max", "llama-3-70b", "--pace", "0", env=env, cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.decode() == (
        "rapbattle: No contest: meta-llama/llama-3-70b-instruct: "
        "the provider is out of credits (402)\n"
    )
    partial = parse(done.stdout.decode())
    assert [turn.text for turn in partial.turns] == [
        default_verse(QWEN, 1),
        "first llama verse",
        default_verse(QWEN, 2),
    ]


def test_provider_down_for_the_model_list_still_battles_known_ids(model_server, env, tmp_path):
    model_server.fail_models(HttpError(503))
    done = rapbattle("qwen-max", LLAMA, "--rounds", "1", "--pace", "0", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    assert parse(done.stdout.decode()).model_b == LLAMA


def test_each_turn_is_flushed_while_the_battle_runs_and_ctrl_c_keeps_it(
    model_server, env, tmp_path
):
    out = tmp_path / "live.md"
    process = subprocess.Popen(
        [RAPBATTLE, "local", "qwen-max", "llama-3-70b", "--pace", "30", "--out", str(out)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if out.exists() and out.read_text().count("\n> ") == 1:
                break
            time.sleep(0.05)
        assert process.poll() is None, "the battle should still be running"
        assert [t.text for t in parse(out.read_text()).turns] == [default_verse(QWEN, 1)]
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=10)
    finally:
        process.kill()
    assert process.returncode == 130
    assert stderr.decode() == "Stopped. The transcript so far is kept.\n"
    assert stdout.decode() == out.read_text() == render(QWEN, LLAMA, parse(out.read_text()).turns)


def run_on_a_pty(arguments: list[str], env: dict[str, str], cwd) -> tuple[int, str, bytes]:
    """``rapbattle`` with a pseudo-terminal as its standard output: the exit status, what the
    terminal showed, and standard error."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [RAPBATTLE, *arguments], env=env, cwd=cwd, stdout=follower, stderr=subprocess.PIPE
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    process.wait(timeout=20)
    os.close(leader)
    assert process.stderr is not None
    return process.returncode, b"".join(chunks).decode("utf-8", "replace"), process.stderr.read()


def test_on_a_terminal_speakers_are_coloured(model_server, env, tmp_path):
    env = env | {"TERM": "xterm-256color", "COLUMNS": "100"}
    env.pop("NO_COLOR", None)
    arguments = ["local", "qwen-max", "grok", "--rounds", "1", "--pace", "1"]
    returncode, screen, _ = run_on_a_pty(arguments, env, tmp_path)
    assert returncode == 0
    assert "\x1b[" in screen  # ANSI colour
    assert "qwen/qwen-max" in screen and "round 1" in screen
    assert "I'm x-ai/grok-2, verse 1" in screen
    assert not screen.startswith("# ")  # a person sees the show, not the raw transcript
    assert "next verse in 1 s" in screen
    assert "Battle over: completed with 2 verses." in screen


async def run_on_a_console(battle: Battle, llm: LLMClient, pace: Pace, stop_after: int = 0):
    """A battle on a terminal stage whose console is a forced terminal writing to a string."""
    screen, transcript_file = io.StringIO(), io.StringIO()
    console = Console(file=screen, force_terminal=True, width=200, color_system="truecolor")
    stage = TerminalStage(console, [transcript_file])
    stage.begin(battle)
    referee = Referee(battle, llm, stage, pace)
    running = asyncio.create_task(referee.run())
    if stop_after:
        while len(referee.posted) < stop_after:
            await asyncio.sleep(0.01)
        referee.stop("by Ctrl-C")
    result = await running
    stage.end(result)
    return result, screen.getvalue(), transcript_file.getvalue()


async def test_the_terminal_counts_down_the_reading_pause_and_says_how_it_ended(llm_settings):
    llm = LLMClient(llm_settings)
    try:
        battle = Battle(QWEN, LLAMA, rounds=1)
        result, screen, transcript = await run_on_a_console(battle, llm, Pace(1.2))
    finally:
        await llm.close()
    assert result.outcome is Outcome.COMPLETED
    assert "next verse in 2 s" in screen and "next verse in 1 s" in screen
    first, second = (default_verse(model, 1) for model in (QWEN, LLAMA))
    assert screen.index(first) < screen.index("next verse in") < screen.index(second)
    assert screen.rstrip().splitlines()[-1].count("Battle over: completed with 2 verses.") == 1
    # The transcript has none of it: it is exactly the battle.
    assert transcript == render(QWEN, LLAMA, result.turns)


async def test_the_closing_line_says_no_contest_or_stopped(model_server, llm_settings):
    llm = LLMClient(llm_settings)
    model_server.script(LLAMA, HttpError(402, "Insufficient credits"))
    try:
        result, screen, transcript = await run_on_a_console(Battle(QWEN, LLAMA, 1), llm, Pace(0))
        assert result.outcome is Outcome.NO_CONTEST
        assert (
            "Battle over after 1 verse: no contest: meta-llama/llama-3-70b-instruct: the "
            "provider is out of credits (402)" in screen
        )
        assert transcript == render(QWEN, LLAMA, result.turns)
        model_server.reset()
        result, screen, _ = await run_on_a_console(Battle(QWEN, LLAMA), llm, Pace(30), 1)
        assert result.outcome is Outcome.STOPPED
        assert "Battle over: stopped (by Ctrl-C) after 1 verse." in screen
    finally:
        await llm.close()


# -- judges ------------------------------------------------------------------------------------

FIVE_JUDGES = "gpt-4o,mistral-large,deepseek-r1,grok-2,claude-3.5-sonnet"
FIVE_JUDGE_IDS = (
    "openai/gpt-4o",
    "mistralai/mistral-large",
    "deepseek/deepseek-r1",
    "x-ai/grok-2",
    "anthropic/claude-3.5-sonnet",
)


@pytest.fixture(scope="module")
def panel_server():
    """A catalog that also holds the default panel's five judges."""
    with ModelServer((*DEFAULT_MODELS, *DEFAULT_PANEL), api_key="test-key") as server:
        yield server


def test_judges_write_the_verdict_file_and_leave_stdout_the_transcript(model_server, env, tmp_path):
    model_server.script_judge("x-ai/grok-2", Ruling(side=1, statement="Llama's rebuttals hit."))
    model_server.script_judge("deepseek/deepseek-r1", Ruling(wrapping=Wrapping.FENCED))
    verdicts = tmp_path / "verdicts" / "0.yml"
    verdicts.parent.mkdir()
    done = rapbattle(
        "qwen-max",
        "llama-3-70b",
        "--pace",
        "0",
        "--judges",
        FIVE_JUDGES,
        "--verdicts",
        str(verdicts),
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr.decode()
    transcript = default_transcript(QWEN, LLAMA, 3)
    assert done.stdout.decode("utf-8") == transcript
    assert done.stderr.decode() == f"Judges: {QWEN} wins 4-1\n"

    statements = {judge: default_statement(QWEN) for judge in FIVE_JUDGE_IDS}
    statements["x-ai/grok-2"] = "Llama's rebuttals hit."
    expected = {"closing_statements": statements, "score": {QWEN: 4, LLAMA: 1}}
    text = verdicts.read_text(encoding="utf-8")
    assert yaml.safe_load(text) == expected
    assert text == yaml.safe_dump(expected)
    assert VerdictFile.from_yaml(text) == VerdictFile(statements, {QWEN: 4, LLAMA: 1})
    assert os.listdir(verdicts.parent) == ["0.yml"]  # the temporary file was renamed

    requests = model_server.chat_requests()
    verses, judges = requests[:6], requests[6:]
    assert not any(r.is_judge for r in verses)
    assert sorted(r.model for r in judges) == sorted(FIVE_JUDGE_IDS)
    for request in judges:
        assert request.messages[1] == {"role": "user", "content": transcript}
        assert request.messages[0]["role"] == "system" and len(request.messages) == 2
        assert request.response_format == verdict_response_format(QWEN, LLAMA)
        # The judges start only once every verse is written.
        assert request.received_at >= verses[-1].received_at


def test_judges_with_no_ids_is_the_default_panel(panel_server, env, tmp_path):
    panel_server.reset()
    env = env | {"LLM_BASE_URL": panel_server.base_url}
    verdicts = tmp_path / "v.yml"
    done = rapbattle(
        QWEN,
        LLAMA,
        "--rounds",
        "1",
        "--pace",
        "0",
        "--verdicts",
        str(verdicts),
        "--judges",
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert done.stderr.decode() == f"Judges: {QWEN} wins 5-0\n"
    assert sorted(r.model for r in panel_server.chat_requests() if r.is_judge) == sorted(
        DEFAULT_PANEL
    )
    loaded = VerdictFile.from_yaml(verdicts.read_text())
    assert loaded.score == {QWEN: 5}
    assert sorted(loaded.closing_statements) == sorted(DEFAULT_PANEL)


def test_judge_models_setting_is_the_panel_for_bare_judges(model_server, env, tmp_path):
    env = env | {"JUDGE_MODELS": "gpt-4o, grok-2"}
    model_server.script_judge("openai/gpt-4o", Ruling(side=1))
    done = rapbattle(QWEN, LLAMA, "--rounds", "1", "--pace", "0", "--judges", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stderr.decode() == "Judges: split decision 1-1\n"
    judges = [r.model for r in model_server.chat_requests() if r.is_judge]
    assert sorted(judges) == ["openai/gpt-4o", "x-ai/grok-2"]


def test_abstaining_judges_and_no_verdict(model_server, env, tmp_path):
    for judge in ("openai/gpt-4o", "x-ai/grok-2"):
        model_server.script_judge(judge, Verse("no idea"), Ruling(winner="both of them"))
    verdicts = tmp_path / "v.yml"
    args = ("--rounds", "1", "--pace", "0", "--judges", "gpt-4o,grok-2")
    done = rapbattle(QWEN, LLAMA, *args, "--verdicts", str(verdicts), env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stderr.decode() == "Judges: no verdict: all 2 judges abstained\n"
    assert yaml.safe_load(verdicts.read_text()) == {"closing_statements": {}, "score": {}}


def test_an_unknown_judge_is_a_clear_error_before_the_battle(model_server, env, tmp_path):
    done = rapbattle(
        "qwen-max", "llama-3-70b", "--judges", "gpt-4o,gpt-9000", env=env, cwd=tmp_path
    )
    assert done.returncode == 1
    assert done.stderr.decode().startswith("rapbattle: judge: No model matches `gpt-9000`.")
    assert done.stdout == b""
    assert model_server.chat_requests() == []


def test_verdicts_without_judges_is_a_usage_error(env, tmp_path):
    done = rapbattle("qwen-max", "grok", "--verdicts", "v.yml", env=env, cwd=tmp_path)
    assert done.returncode == 2 and b"--verdicts needs --judges" in done.stderr
    assert not (tmp_path / "v.yml").exists()


def test_on_a_terminal_the_verdict_follows_the_battle(model_server, env, tmp_path):
    model_server.script_judge("openai/gpt-4o", Ruling(side=1, statement="Grok flipped every line."))
    judges = ("--judges", "gpt-4o,grok-2,mistral-large")
    env = env | {"TERM": "xterm-256color", "COLUMNS": "120"}
    arguments = ["local", "qwen-max", "grok", "--rounds", "1", "--pace", "0", *judges]
    returncode, shown, errors = run_on_a_pty(arguments, env, tmp_path)
    screen = re.sub(r"\x1b\[[0-9;]*m", "", shown)
    assert returncode == 0, errors
    assert errors == b""
    verdict = screen[screen.index("Judges' verdict") :]
    assert screen.index("I'm x-ai/grok-2, verse 1") < screen.index("Judges' verdict")
    assert "qwen/qwen-max 2 - 1 x-ai/grok-2" in verdict
    assert "qwen/qwen-max wins 2-1" in verdict
    assert "openai/gpt-4o: x-ai/grok-2" in verdict and "Grok flipped every line." in verdict
    assert "x-ai/grok-2: qwen/qwen-max (same vendor as a contestant)" in verdict
    assert "mistralai/mistral-large: qwen/qwen-max\r\n" in verdict
    assert verdict.count(default_statement(QWEN)) == 2
