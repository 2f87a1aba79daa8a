"""`rapbattle tournament` end to end: the real openai client against the local model server, the
real referee writing real transcripts, and a scripted judges' step in place of the panel."""

import asyncio
import io
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from rich.console import Console

from bot import cli
from bot.cli.tournament import (
    LiveProgress,
    PlainProgress,
    Tournament,
    TournamentOptions,
    read_roster,
)
from bot.engine.battle import Battle, Turn
from bot.engine.tournament import TournamentFormat
from bot.engine.transcript import parse
from bot.engine.verdicts import VerdictFile
from bot.errors import UserError
from bot.llm import LLMClient
from bot.services.tournaments.panel_player import Judgement, MatchRecord, RefereePlayer
from bot.settings import Settings
from tests.fakes.model_server import (
    HttpError,
    ModelServer,
    Verse,
    default_transcript,
    default_verse,
)

RAPBATTLE = str(Path(sys.executable).with_name("rapbattle"))
MODELS = [f"lab{i}/rapper-{i}" for i in range(11)]
JUDGES = ("judge-a/one", "judge-b/two", "judge-c/three", "judge-d/four", "judge-e/five")
TOKENS_PER_VERDICT = 100


@pytest.fixture(scope="module")
def server() -> Iterator[ModelServer]:
    with ModelServer(MODELS, api_key="test-key") as running:
        yield running


@pytest.fixture
def llm(server: ModelServer) -> Iterator[Settings]:
    """Settings for a fresh client in each run's own event loop."""
    server.reset()
    server.latency = 0.0
    yield Settings.from_env(
        {"LLM_BASE_URL": server.base_url, "LLM_API_KEY": "test-key", "LLM_TIMEOUT_SECONDS": "10"}
    )
    server.reset()


class ScriptedJudges:
    """Five judges for the stronger model; 3–2 if close, 5–0 if far apart; a 2–2 split (one
    judge abstaining) when the two are within one point."""

    def __init__(self, strength: dict[str, int]) -> None:
        self.strength = strength
        self.judged: list[tuple[str, str]] = []

    async def __call__(self, battle: Battle, turns: Sequence[Turn]) -> Judgement:
        assert sum(not turn.is_announcement for turn in turns) == battle.verse_count()
        self.judged.append((battle.model_a, battle.model_b))
        return Judgement(*self.score(battle.model_a, battle.model_b), TOKENS_PER_VERDICT)

    def score(self, a: str, b: str) -> tuple[dict[str, int], dict[str, str]]:
        difference = self.strength[a] - self.strength[b]
        stronger = a if difference > 0 else b
        weaker = b if stronger == a else a
        if abs(difference) <= 1:
            picks = [a, a, b, b, None]
        elif abs(difference) >= 4:
            picks = [stronger] * 5
        else:
            picks = [stronger, weaker, stronger, weaker, stronger]
        score: dict[str, int] = {}
        statements = {}
        for judge, pick in zip(JUDGES, picks, strict=True):
            if pick is not None:
                score[pick] = score.get(pick, 0) + 1
                statements[judge] = f"{pick} had the sharper rebuttals and the tighter flow."
        return score, statements


def strengths(models: Sequence[str]) -> dict[str, int]:
    # Not the seeding: upsets, close calls and ties all happen.
    return {model: (index * 7) % len(models) for index, model in enumerate(models)}


def reference_bracket(models: Sequence[str], judges: ScriptedJudges):
    """The issue's rule written out independently: [(contestants, [(a, b, winner)])], champion."""
    rounds, contestants = [], list(models)
    while len(contestants) > 1:
        n = len(contestants)
        battles = []
        for k in range(n // 2):
            a, b = contestants[n % 2 + k], contestants[n - n // 2 + k]
            score, _ = judges.score(a, b)
            winner = b if score.get(b, 0) > score.get(a, 0) else a
            battles.append((a, b, winner))
        rounds.append((contestants, battles))
        contestants = contestants[: n % 2] + [winner for _, _, winner in battles]
    return rounds, contestants[0]


def tree(folder: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def run(
    models: Sequence[str],
    out: Path,
    settings: Settings,
    judges: ScriptedJudges,
    *,
    concurrency: int = 4,
    wrap=lambda player: player,
    tournament_format: TournamentFormat = TournamentFormat.SINGLE,
    swiss_rounds: int | None = None,
    progress=None,
):
    async def main():
        llm = LLMClient(settings)
        try:
            options = TournamentOptions(
                out,
                concurrency=concurrency,
                tournament_format=tournament_format,
                swiss_rounds=swiss_rounds,
            )
            player = wrap(RefereePlayer(llm, judges))
            result = await Tournament(models, player, options, progress).run()
            return result.progression.played_rounds
        finally:
            await llm.close()

    return asyncio.run(main())


def test_five_models_files_pairings_promotions_champion_and_tiers(llm, server, tmp_path):
    models = MODELS[:5]
    m0, m1, m2, m3, m4 = models
    judges = ScriptedJudges({m0: 5, m1: 1, m2: 4, m3: 3, m4: 0})
    run(models, tmp_path, llm, judges)

    assert sorted(tree(tmp_path)) == [
        "results.md",
        "round0/0.txt",
        "round0/0.yml",
        "round0/1.txt",
        "round0/1.yml",
        "round0/contestants.txt",
        "round1/0.txt",
        "round1/0.yml",
        "round1/contestants.txt",
        "round2/0.txt",
        "round2/0.yml",
        "round2/contestants.txt",
        "round3/contestants.txt",
    ]
    read = lambda name: (tmp_path / name).read_text(encoding="utf-8")  # noqa: E731
    assert read("round0/contestants.txt") == "".join(f"{m}\n" for m in models)
    # Round 0: m0 sits out; m1 v m3 (3–2 to m3), m2 v m4 (5–0 to m2).
    assert read("round0/0.txt") == default_transcript(m1, m3)
    assert read("round0/1.txt") == default_transcript(m2, m4)
    assert VerdictFile.from_yaml(read("round0/0.yml")).score == {m3: 3, m1: 2}
    assert VerdictFile.from_yaml(read("round0/1.yml")).score == {m2: 5}
    assert len(VerdictFile.from_yaml(read("round0/1.yml")).closing_statements) == 5
    # Round 1: the bye, then the winners in battle order; m3 v m2 is a 2–2 split to side A.
    assert read("round1/contestants.txt") == f"{m0}\n{m3}\n{m2}\n"
    assert read("round1/0.txt") == default_transcript(m3, m2)
    assert VerdictFile.from_yaml(read("round1/0.yml")).score == {m3: 2, m2: 2}
    assert read("round2/contestants.txt") == f"{m0}\n{m3}\n"
    assert read("round2/0.txt") == default_transcript(m0, m3)
    assert read("round3/contestants.txt") == f"{m0}\n"

    results = read("results.md")
    assert f"champion `{m0}`" in results
    assert "[transcript](round1/0.txt) · [verdict](round1/0.yml)" in results
    assert f"- Battle 0: Tie 2–2: `{m3}`, side A and the higher seed, advances." in results
    assert results.endswith(
        f"| SSS | `{m0}` |\n| SS | `{m3}` |\n| S | `{m2}` |\n| A | `{m1}`, `{m4}` |\n"
    )
    assert sorted(judges.judged) == sorted([(m1, m3), (m2, m4), (m3, m2), (m0, m3)])
    # Every verse went over HTTP, six per battle.
    assert len(server.chat_requests()) == 4 * 6


def test_eleven_models_every_pairing_promotion_and_tier(llm, server, tmp_path):
    judges = ScriptedJudges(strengths(MODELS))
    run(MODELS, tmp_path, llm, judges)
    rounds, champion = reference_bracket(MODELS, judges)
    assert [len(contestants) for contestants, _ in rounds] == [11, 6, 3, 2]
    last_round = {}
    for number, (contestants, battles) in enumerate(rounds):
        folder = tmp_path / f"round{number}"
        assert (folder / "contestants.txt").read_text() == "".join(f"{m}\n" for m in contestants)
        assert len(list(folder.glob("*.txt"))) == len(battles) + 1
        for k, (a, b, winner) in enumerate(battles):
            assert (folder / f"{k}.txt").read_text() == default_transcript(a, b)
            score = VerdictFile.from_yaml((folder / f"{k}.yml").read_text()).score
            assert score == {m: c for m, c in judges.score(a, b)[0].items()}
            assert f"| {k} | `{a}` | `{b}` |" in (tmp_path / "results.md").read_text()
            assert f"| `{winner}` |" in (tmp_path / "results.md").read_text()
        for model in contestants:
            last_round[model] = number
    assert (tmp_path / "round4/contestants.txt").read_text() == f"{champion}\n"
    results = (tmp_path / "results.md").read_text()
    tiers = ["SSS", "SS", "S", "A", "B"]
    for model in MODELS:
        tier = "SSS" if model == champion else tiers[4 - last_round[model]]
        row = next(line for line in results.splitlines() if line.startswith(f"| {tier} |"))
        assert f"`{model}`" in row
    assert sum(line.startswith("- Battle") for line in results.splitlines()) == sum(
        1
        for _, battles in rounds
        for a, b, _ in battles
        if judges.score(a, b)[0].get(a, 0) == judges.score(a, b)[0].get(b, 0)
    )


def test_concurrency_does_not_change_the_files(llm, server, tmp_path):
    judges = ScriptedJudges(strengths(MODELS))
    server.latency = 0.005
    run(MODELS, tmp_path / "one", llm, judges, concurrency=1)
    run(MODELS, tmp_path / "four", llm, judges, concurrency=4)
    assert tree(tmp_path / "one") == tree(tmp_path / "four")


class InterruptingPlayer:
    """Records the battles asked for, and presses Ctrl-C (SIGINT) when asked for ``stop_at``."""

    def __init__(self, stop_at: int = -1) -> None:
        self.stop_at = stop_at
        self.played: list[tuple[str, str]] = []
        self.inner = None

    def around(self, inner: RefereePlayer) -> "InterruptingPlayer":
        self.inner = inner
        return self

    async def play(self, battle: Battle) -> MatchRecord:
        if len(self.played) == self.stop_at:
            # As a real Ctrl-C: asyncio.run cancels the run, then raises KeyboardInterrupt.
            signal.raise_signal(signal.SIGINT)
            await asyncio.sleep(60)
        self.played.append((battle.model_a, battle.model_b))
        return await self.inner.play(battle)


def test_a_run_stopped_mid_round_resumes_without_replaying_finished_battles(llm, server, tmp_path):
    judges = ScriptedJudges(strengths(MODELS))
    run(MODELS, tmp_path / "whole", llm, judges)

    out = tmp_path / "stopped"
    first = InterruptingPlayer(stop_at=3)
    with pytest.raises(KeyboardInterrupt):
        run(MODELS, out, llm, judges, concurrency=1, wrap=first.around)
    assert sorted(p.name for p in (out / "round0").iterdir()) == [
        "0.txt", "0.yml", "1.txt", "1.yml", "2.txt", "2.yml", "contestants.txt",
    ]  # fmt: skip
    # A battle cut off after its transcript but before its verdict is played again, and so is
    # one whose transcript went missing (its stale verdict is not trusted).
    (out / "round0" / "3.txt").write_text("# half a battle\n")
    (out / "round0" / "4.yml").write_text("closing_statements: {}\nscore: {}\n")

    second = InterruptingPlayer()
    run(MODELS, out, llm, judges, wrap=second.around)
    finished_first = set(first.played)
    assert not finished_first & set(second.played)
    assert len(first.played) + len(second.played) == len(MODELS) - 1
    assert tree(out) == tree(tmp_path / "whole")


def test_a_cancelled_concurrent_run_resumes_to_the_same_files(llm, server, tmp_path):
    judges = ScriptedJudges(strengths(MODELS))
    server.latency = 0.01
    run(MODELS, tmp_path / "whole", llm, judges)
    out = tmp_path / "cancelled"

    class StopAfter(PlainProgress):
        finished_battles = 0

        def battle_finished(self, pairing, record):
            StopAfter.finished_battles += 1

    async def cancelled_run():
        client = LLMClient(llm)
        try:
            options = TournamentOptions(out, concurrency=4)
            player = InterruptingPlayer().around(RefereePlayer(client, judges))
            task = asyncio.create_task(
                Tournament(MODELS, player, options, StopAfter(io.StringIO())).run()
            )
            while StopAfter.finished_battles < 2:
                await asyncio.sleep(0.001)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            return player.played
        finally:
            await client.close()

    started = asyncio.run(cancelled_run())
    files = tree(out)
    finished = {name.split(".")[0] for name in files if name.endswith(".yml")}
    assert 2 <= len(finished) < len(started)  # some battles were cut off mid-verse
    assert not [name for name in files if ".tmp" in name]
    second = InterruptingPlayer()
    run(MODELS, out, llm, judges, wrap=second.around)
    replayed = {(a, b) for a, b in second.played}
    contestants = MODELS
    n = len(contestants)
    for k in map(int, (name.removeprefix("round0/") for name in finished)):
        assert (contestants[n % 2 + k], contestants[n - n // 2 + k]) not in replayed
    assert len(second.played) == len(MODELS) - 1 - len(finished)
    assert tree(out) == tree(tmp_path / "whole")


def test_a_model_without_a_verse_forfeits_and_its_transcript_so_far_is_kept(llm, server, tmp_path):
    models = MODELS[:5]
    m0, m1, m2, m3, m4 = models
    judges = ScriptedJudges({m0: 5, m1: 1, m2: 4, m3: 3, m4: 0})
    # m3, side B of round 0's battle 0, writes one verse, then its provider no longer knows it.
    server.script(m3, Verse(default_verse(m3, 1)), HttpError(404))
    run(models, tmp_path, llm, judges)
    transcript = parse((tmp_path / "round0/0.txt").read_text())
    assert [turn.speaker for turn in transcript.turns] == [m1, m3, m1]
    assert (tmp_path / "round0/0.yml").read_text() == (
        f"closing_statements: {{}}\nforfeit: {m3}\nscore: {{}}\n"
    )
    assert (tmp_path / "round1/contestants.txt").read_text() == f"{m0}\n{m1}\n{m2}\n"
    results = (tmp_path / "results.md").read_text()
    assert f"| 0 | `{m1}` | `{m3}` | forfeit | `{m1}` |" in results
    assert f"- Battle 0: `{m3}` forfeits: it delivered no verse after the retries." in results
    assert (m1, m3) not in judges.judged


def test_a_rejected_key_stops_the_run_instead_of_forfeiting_every_battle(llm, server, tmp_path):
    models = MODELS[:5]
    judges = ScriptedJudges({m: i for i, m in enumerate(models)})
    server.script(models[3], HttpError(401))
    with pytest.raises(UserError, match="API key was rejected"):
        run(models, tmp_path, llm, judges, concurrency=1)
    assert sorted(tree(tmp_path)) == ["round0/contestants.txt"]
    second = InterruptingPlayer()
    run(models, tmp_path, llm, judges, wrap=second.around)
    assert len(second.played) == 4
    assert "forfeit" not in (tmp_path / "results.md").read_text()


def test_an_unreachable_provider_stops_the_run(tmp_path):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = Settings.from_env(
        {
            "LLM_BASE_URL": f"http://127.0.0.1:{port}/api/v1",
            "LLM_API_KEY": "test-key",
            "LLM_MAX_ATTEMPTS": "1",
        }
    )
    judges = ScriptedJudges(strengths(MODELS))
    with pytest.raises(UserError, match=r"Stopped: .*reach the provider"):
        run(MODELS[:4], tmp_path, settings, judges)
    assert sorted(tree(tmp_path)) == ["round0/contestants.txt"]


def test_a_different_roster_in_the_same_folder_is_refused(llm, server, tmp_path):
    judges = ScriptedJudges(strengths(MODELS))
    run(MODELS[:3], tmp_path, llm, judges)
    before = tree(tmp_path)
    with pytest.raises(UserError, match="different roster"):
        run([MODELS[1], MODELS[0], MODELS[2]], tmp_path, llm, judges)
    assert tree(tmp_path) == before


def test_the_command_refuses_another_roster_before_any_battle(server, tmp_path):
    out = tmp_path / "out"
    (out / "round0").mkdir(parents=True)
    (out / "round0" / "contestants.txt").write_text(f"{MODELS[0]}\n{MODELS[1]}\n")
    roster = tmp_path / "roster.txt"
    roster.write_text(f"\n{MODELS[1]}\n\nrapper-0\n\n")
    assert read_roster(roster) == [MODELS[1], "rapper-0"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLM_", "OPENROUTER"))}
    env |= {"LLM_BASE_URL": server.base_url, "LLM_API_KEY": "test-key"}
    server.reset()
    done = subprocess.run(
        [RAPBATTLE, "tournament", "--roster", str(roster), "--out", str(out)],
        env=env,
        capture_output=True,
        timeout=30,
    )
    assert done.returncode == 1
    assert b"holds a tournament of a different roster" in done.stderr
    assert done.stderr.count(b"\n") == 1
    assert server.chat_requests() == []
    both = subprocess.run(
        [RAPBATTLE, "tournament", "a", "--roster", str(roster), "--out", str(out)],
        env=env,
        capture_output=True,
        timeout=30,
    )
    assert both.returncode == 2 and b"not both" in both.stderr


def test_swiss_rounds_pair_equal_scores_without_rematches_and_end_in_a_table(llm, server, tmp_path):
    judges = ScriptedJudges(strengths(MODELS))
    rounds = run(
        MODELS, tmp_path, llm, judges, tournament_format=TournamentFormat.SWISS, swiss_rounds=3
    )
    assert len(rounds) == 3
    pairs = [frozenset((d.pairing.side_a, d.pairing.side_b)) for r in rounds for d in r.decisions]
    assert len(pairs) == len(set(pairs)) == 3 * 5
    assert len({r.plan.bye for r in rounds}) == 3
    for number, played in enumerate(rounds):
        folder = tmp_path / f"round{number}"
        assert (folder / "contestants.txt").read_text() == "".join(
            f"{m}\n" for m in played.plan.contestants
        )
        for decision in played.decisions:
            pairing = decision.pairing
            transcript = (folder / f"{pairing.index}.txt").read_text()
            assert transcript == default_transcript(pairing.side_a, pairing.side_b)
    results = (tmp_path / "results.md").read_text()
    assert "## Table" in results and "95% interval" in results
    table = [line for line in results.splitlines() if line.startswith("| ") and " to " in line]
    assert len(table) == len(MODELS)
    # Going on with the same folder plays nothing again.
    again = InterruptingPlayer()
    before = tree(tmp_path)
    run(
        MODELS,
        tmp_path,
        llm,
        judges,
        wrap=again.around,
        tournament_format=TournamentFormat.SWISS,
        swiss_rounds=3,
    )
    assert again.played == [] and tree(tmp_path) == before


def test_progress_on_a_terminal_and_piped(llm, server, tmp_path):
    judges = ScriptedJudges(strengths(MODELS))
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=100, color_system=None)
    with LiveProgress(console) as progress:
        run(MODELS, tmp_path / "live", llm, judges, progress=progress)
    shown = screen.getvalue()
    assert "Round 3 (4 of 4)" in shown and "battles 1/1" in shown
    assert f"{10 * TOKENS_PER_VERDICT:,} tokens" in shown
    assert "Champion: " in shown
    lines = io.StringIO()
    run(MODELS, tmp_path / "piped", llm, judges, progress=PlainProgress(lines))
    assert lines.getvalue().splitlines() == [
        "round 0: 5 battles",
        "round 1: 3 battles",
        "round 2: 1 battle",
        "round 3: 1 battle",
        f"Champion: {reference_bracket(MODELS, judges)[1]}; results in "
        f"{tmp_path / 'piped' / 'results.md'}",
    ]


def test_the_command_runs_a_roster_file_with_named_judges(server, monkeypatch, tmp_path, capsys):
    """`rapbattle tournament` in-process, with the scripted judges in place of the panel."""
    server.reset()
    for key in [k for k in os.environ if k.startswith(("LLM_", "OPENROUTER", "BATTLE_"))]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("LLM_BASE_URL", server.base_url)
    monkeypatch.setenv("LLM_API_KEY", "test-key")
    monkeypatch.chdir(tmp_path)
    # The default panel by aliases: each is resolved through the catalog, as --judges are.
    monkeypatch.setenv("JUDGE_MODELS", "rapper-7, lab6/rapper-6")
    judges = ScriptedJudges(strengths(MODELS[:5]))
    panels = []

    def scripted_panel(panel):
        panels.append(panel.judges)
        return judges

    monkeypatch.setattr("bot.cli.tournament.panel_judge", scripted_panel)
    roster = tmp_path / "roster.txt"
    roster.write_text("".join(f"rapper-{i}\n\n" for i in range(5)))
    out = tmp_path / "out"
    arguments = ["tournament", "--roster", str(roster), "--out", str(out), "--rounds", "1"]
    assert cli.main([*arguments, "--judges", "rapper-9,lab8"]) == 0
    assert panels == [(MODELS[9], MODELS[8])]
    assert (out / "round0/contestants.txt").read_text() == "".join(f"{m}\n" for m in MODELS[:5])
    assert (out / "round0/0.txt").read_text() == default_transcript(MODELS[1], MODELS[3], 1)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines()[0] == "round 0: 2 battles"
    assert captured.err.splitlines()[-1].startswith("Champion: ")
    assert len(captured.err.splitlines()) == 4
    # Again: nothing is played, and without --judges the default panel is asked for.
    server.reset()
    assert cli.main(arguments) == 0
    assert panels[-1] == (MODELS[7], MODELS[6]) and server.chat_requests() == []


def test_ctrl_c_in_the_command_exits_130_and_keeps_finished_battles(
    server, monkeypatch, tmp_path, capsys
):
    server.reset()
    monkeypatch.setenv("LLM_BASE_URL", server.base_url)
    monkeypatch.setenv("LLM_API_KEY", "test-key")
    monkeypatch.setenv("JUDGE_MODELS", "rapper-10")
    monkeypatch.chdir(tmp_path)
    judges = ScriptedJudges(strengths(MODELS))

    async def judge_then_ctrl_c(battle, turns):
        if judges.judged:
            signal.raise_signal(signal.SIGINT)
            await asyncio.sleep(60)
        return await judges(battle, turns)

    monkeypatch.setattr("bot.cli.tournament.panel_judge", lambda panel: judge_then_ctrl_c)
    out = tmp_path / "out"
    arguments = ["tournament", *MODELS[:4], "--out", str(out), "--concurrency", "1"]
    assert cli.main(arguments) == 130
    assert "Stopped. Finished battles are kept" in capsys.readouterr().err
    assert sorted(tree(out)) == ["round0/0.txt", "round0/0.yml", "round0/contestants.txt"]


def test_judge_aliases_in_judge_models_are_resolved_before_a_tournament(
    server, monkeypatch, tmp_path, capsys
):
    """Regression: the terminal's tournament gave JUDGE_MODELS to the panel as typed, so an
    alias reached the provider as a model id, every judge abstained, and side A won by seed."""
    server.reset()
    for key in [k for k in os.environ if k.startswith(("LLM_", "OPENROUTER", "BATTLE_"))]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("LLM_BASE_URL", server.base_url)
    monkeypatch.setenv("LLM_API_KEY", "test-key")
    monkeypatch.setenv("JUDGE_MODELS", "rapper-9,RAPPER-8")  # short names, as people type them
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    arguments = ["tournament", *MODELS[:2], "--out", str(out), "--rounds", "1"]
    assert cli.main(arguments) == 0
    judged = [r.body["model"] for r in server.chat_requests() if r.is_judge]
    assert sorted(judged) == [MODELS[8], MODELS[9]]
    verdict = VerdictFile.from_yaml((out / "round0/0.yml").read_text())
    assert set(verdict.closing_statements) == {MODELS[8], MODELS[9]}
    assert sum(verdict.score.values()) == 2  # both judges voted; none abstained


def test_an_unknown_judge_is_refused_before_any_battle(server, monkeypatch, tmp_path, capsys):
    server.reset()
    monkeypatch.setenv("LLM_BASE_URL", server.base_url)
    monkeypatch.setenv("LLM_API_KEY", "test-key")
    monkeypatch.setenv("JUDGE_MODELS", "no-such-judge")
    monkeypatch.chdir(tmp_path)
    arguments = ["tournament", *MODELS[:3], "--out", str(tmp_path / "out")]
    assert cli.main(arguments) == 1
    assert "The judges' panel (JUDGE_MODELS) is unusable" in capsys.readouterr().err
    assert server.chat_requests() == []
