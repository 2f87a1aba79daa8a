"""Battle tracks from the command line, as subprocesses: `rapbattle track`, `rapbattle local
--audio` and `rapbattle tournament --audio`, against the local model server and the local speech
server (each voice a tone of its own), and once with the offline espeak-ng engine."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bot.audio.codec import read_audio_file
from bot.services.tracks.speech import SAMPLE_RATE
from tests.conftest import SPEECH_KEY
from tests.fakes.model_server import ModelServer, default_transcript
from tests.fakes.speech_server import SpeechServer

RAPBATTLE = str(Path(sys.executable).with_name("rapbattle"))
EXAMPLE = Path(__file__).resolve().parents[2] / "shared" / "examples"
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "tournament-style-transcript.md"
QWEN, LLAMA = "qwen/qwen-max", "meta-llama/llama-3-70b-instruct"


@pytest.fixture
def env(model_server: ModelServer, speech: SpeechServer) -> dict[str, str]:
    base = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("LLM_", "OPENROUTER", "BATTLE_", "TTS_", "BEAT", "JUDGE_"))
    }
    return base | {
        "LLM_BASE_URL": model_server.base_url,
        "LLM_API_KEY": "test-key",
        "TTS_BASE_URL": speech.base_url,
        "TTS_API_KEY": SPEECH_KEY,
    }


def rapbattle(*args: str, env: dict, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [RAPBATTLE, *args], env=env, cwd=cwd, capture_output=True, timeout=timeout
    )


def seconds(path: Path) -> float:
    return len(read_audio_file(path)) / SAMPLE_RATE


def test_a_track_from_a_saved_transcript(env, speech, tmp_path):
    out = tmp_path / "battle.ogg"
    done = rapbattle("track", str(FIXTURE), "--out", str(out), env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout == b""
    assert done.stderr.decode().startswith(f"Track: {out} (")
    # The host's title, then one request per verse (none over the endpoint's 4,096 characters).
    requests = speech.requests()
    titles = [r for r in requests if " versus " in r.input]
    assert len(titles) == 1  # the host's title (requests run concurrently: order is the mix's)
    assert all(len(r.input) <= 4096 for r in requests)
    spoken = sum(len(r.input) for r in requests) * speech.seconds_per_char
    assert seconds(out) > spoken  # every part, with gaps between them


@pytest.mark.parametrize("name", ["battle.wav", "battle.mp3"])
def test_the_format_follows_the_extension(env, tmp_path, name):
    out = tmp_path / name
    done = rapbattle("track", str(FIXTURE), "--out", str(out), "--no-beat", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr.decode()
    assert seconds(out) > 1


def test_a_file_that_is_not_a_transcript_is_a_usage_error(env, speech, tmp_path):
    notes = tmp_path / "notes.md"
    notes.write_text("Just some notes.\n")
    done = rapbattle("track", str(notes), "--out", str(tmp_path / "x.ogg"), env=env, cwd=tmp_path)
    assert done.returncode == 2
    assert "not a transcript in the tournament format" in done.stderr.decode()
    assert speech.requests() == [] and not (tmp_path / "x.ogg").exists()


def test_an_unknown_extension_is_refused_before_any_speech(env, speech, tmp_path):
    done = rapbattle(
        "track", str(FIXTURE), "--out", str(tmp_path / "x.flac"), env=env, cwd=tmp_path
    )
    assert done.returncode == 1
    assert ".wav, .ogg, .mp3" in done.stderr.decode()
    assert speech.requests() == [] and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("status", [401, 500])
def test_an_endpoint_that_fails_makes_no_track_and_names_itself(env, speech, tmp_path, status):
    speech.fail(status, times=20, retry_after=0.01)
    out = tmp_path / "battle.ogg"
    done = rapbattle("track", str(FIXTURE), "--out", str(out), env=env, cwd=tmp_path)
    assert done.returncode == 1
    error = done.stderr.decode()
    assert speech.base_url in error and f"({status})" in error
    assert list(tmp_path.iterdir()) == []  # nothing half-written


def test_local_audio_keeps_the_transcript_byte_for_byte(env, speech, tmp_path):
    battle = ["local", "qwen-max", "llama-3-70b", "--pace", "0", "--rounds", "2"]
    plain = rapbattle(*battle, env=env, cwd=tmp_path)
    track = tmp_path / "battle.ogg"
    with_audio = rapbattle(*battle, "--audio", str(track), env=env, cwd=tmp_path)
    assert plain.returncode == with_audio.returncode == 0, with_audio.stderr.decode()
    assert with_audio.stdout == plain.stdout == default_transcript(QWEN, LLAMA, 2).encode()
    assert seconds(track) > 1
    voices = [r.voice for r in speech.requests()]
    assert len(set(voices)) == 3  # the host and two MCs, each in a voice of its own


def test_local_audio_that_fails_exits_1_after_the_whole_transcript(env, speech, tmp_path):
    speech.fail(500, times=50, retry_after=0.01)
    out = tmp_path / "copy.md"
    battle = ["local", "qwen-max", "llama-3-70b", "--pace", "0", "--rounds", "1"]
    done = rapbattle(
        *battle, "--out", str(out), "--audio", str(tmp_path / "b.ogg"), env=env, cwd=tmp_path
    )
    assert done.returncode == 1
    assert done.stdout == default_transcript(QWEN, LLAMA, 1).encode()
    assert out.read_text() == default_transcript(QWEN, LLAMA, 1)
    assert "(500)" in done.stderr.decode() and not (tmp_path / "b.ogg").exists()


def test_a_tournament_album_in_play_order_and_resumed(env, model_server, speech, tmp_path):
    models = ["qwen/qwen-max", "meta-llama/llama-3-70b-instruct", "mistralai/mistral-large"]
    env = env | {"JUDGE_MODELS": "qwen-max"}
    command = ["tournament", *models, "--out", "out", "--rounds", "1", "--audio"]
    first = rapbattle(*command, env=env, cwd=tmp_path)
    assert first.returncode == 0, first.stderr.decode()
    out = tmp_path / "out"
    album = (out / "album.m3u8").read_text().splitlines()
    assert album[0] == "#EXTM3U"
    assert album[2::2] == ["round0/0.ogg", "round1/0.ogg"]  # the final, the champion's, last
    assert all(line.startswith("#EXTINF:") for line in album[1::2])
    first_track = (out / "round0/0.ogg").read_bytes()
    # Resumed: only the missing track is made, and the album is the same.
    (out / "round1/0.ogg").unlink()
    speech.reset()
    again = rapbattle(*command, env=env, cwd=tmp_path)
    assert again.returncode == 0, again.stderr.decode()
    assert (out / "round0/0.ogg").read_bytes() == first_track
    assert (out / "round1/0.ogg").is_file()
    assert (out / "album.m3u8").read_text().splitlines() == album
    titles = [r.input for r in speech.requests() if " versus " in r.input]
    assert len(titles) == 1  # one battle's track made again, not both


@pytest.mark.skipif(not EXAMPLE.is_dir(), reason="the shared example transcripts are not here")
def test_the_offline_engine_makes_a_track_whose_length_fits_its_words(env, tmp_path):
    example = sorted(EXAMPLE.glob("*.md"))[0]
    env = {key: value for key, value in env.items() if not key.startswith("TTS_")}
    out = tmp_path / "example.ogg"
    done = rapbattle("track", str(example), "--out", str(out), env=env, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    words = len(example.read_text().split())
    length = seconds(out)
    # espeak-ng raps at about 185 words a minute; with the title, gaps and pauses, between
    # 130 and 260 words a minute overall.
    assert words / 260 * 60 < length < words / 130 * 60
    # Heard, not silence (the decoder folds the two channels into one, so peaks add up).
    assert np.abs(read_audio_file(out)).max() > 0.1
