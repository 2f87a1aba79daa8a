"""Settings come from the environment in one place, with clear errors."""

import pytest

from bot.engine.pacing import Pace
from bot.errors import ConfigError
from bot.settings import OPENROUTER_BASE_URL, Settings, load_settings


def test_defaults_point_at_openrouter_with_sane_limits():
    settings = Settings.from_env({})
    assert settings.llm_base_url == OPENROUTER_BASE_URL
    assert settings.llm_api_key is None
    assert settings.llm_max_tokens == 700
    assert settings.battle_rounds == 3
    assert settings.battle_pace == Pace(None)


def test_openrouter_key_is_accepted_and_llm_key_wins():
    assert Settings.from_env({"OPENROUTER_API_KEY": "or"}).llm_api_key == "or"
    assert (
        Settings.from_env({"OPENROUTER_API_KEY": "or", "LLM_API_KEY": "llm"}).llm_api_key == "llm"
    )


def test_values_are_parsed_and_frozen():
    settings = Settings.from_env(
        {
            "LLM_BASE_URL": "http://127.0.0.1:9/api/v1/",
            "LLM_MAX_TOKENS": "900",
            "LLM_TIMEOUT_SECONDS": "30",
            "BATTLE_ROUNDS": "5",
            "BATTLE_PACE": "2.5",
            "MODEL_ALIASES": "Qwen=qwen/qwen-max, grok = x-ai/grok-2",
        }
    )
    assert settings.llm_base_url == "http://127.0.0.1:9/api/v1"
    assert (settings.llm_max_tokens, settings.llm_timeout_seconds) == (900, 30.0)
    assert (settings.battle_rounds, settings.battle_pace) == (5, Pace(2.5))
    assert settings.model_aliases == {"qwen": "qwen/qwen-max", "grok": "x-ai/grok-2"}
    with pytest.raises(AttributeError):
        settings.battle_rounds = 2  # type: ignore[misc]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LLM_MAX_TOKENS": "lots"}, "LLM_MAX_TOKENS must be a number"),
        ({"BATTLE_ROUNDS": "11"}, "BATTLE_ROUNDS must be between 1 and 10"),
        ({"BATTLE_PACE": "slow"}, "BATTLE_PACE: Pace must be"),
        ({"MODEL_ALIASES": "qwen"}, "MODEL_ALIASES takes alias=model_id pairs"),
        (
            {"LOG_LEVEL": "verbose"},
            "LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, not 'verbose'",
        ),
    ],
)
def test_bad_values_name_the_setting(env, message):
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(env)


def test_log_level_takes_any_case():
    assert Settings.from_env({"LOG_LEVEL": "debug"}).log_level == "DEBUG"
    assert Settings.from_env({}).log_level == "INFO"


def test_dotenv_file_fills_gaps_but_never_overrides(tmp_path, monkeypatch):
    env_file = tmp_path / ".env"
    env_file.write_text("BATTLE_ROUNDS=4\nLLM_MAX_TOKENS=800\n")
    monkeypatch.setenv("LLM_MAX_TOKENS", "650")
    monkeypatch.delenv("BATTLE_ROUNDS", raising=False)
    settings = load_settings(env_file)
    monkeypatch.delenv("BATTLE_ROUNDS", raising=False)  # load_dotenv wrote it to os.environ
    assert (settings.battle_rounds, settings.llm_max_tokens) == (4, 650)


def test_battle_track_settings():
    settings = Settings.from_env({})
    assert settings.tts_base_url is None and settings.tts_model == "gpt-4o-mini-tts"
    assert settings.beat and settings.beat_bpm == 90 and settings.beat_file is None
    settings = Settings.from_env(
        {
            "TTS_BASE_URL": "http://127.0.0.1:9/v1/",
            "TTS_VOICES": "alloy, echo,,alloy",
            "TTS_HOST_VOICE": "onyx",
            "TTS_SPEED": "1.25",
            "BEAT": "OFF",
            "BEAT_BPM": "120",
            "BEAT_FILE": "loops/boom.ogg",
        }
    )
    assert settings.tts_base_url == "http://127.0.0.1:9/v1"
    assert settings.tts_voices == ("alloy", "echo") and settings.tts_host_voice == "onyx"
    assert settings.tts_speed == 1.25
    assert not settings.beat and settings.beat_bpm == 120
    assert str(settings.beat_file) == "loops/boom.ogg"
    for name, value in (("BEAT", "loud"), ("BEAT_BPM", "5"), ("BEAT_BPM", "fast")):
        with pytest.raises(ConfigError, match=name):
            Settings.from_env({name: value})
