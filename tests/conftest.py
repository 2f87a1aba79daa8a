"""Shared fixtures: the local model and speech servers, and settings pointed at them."""

from collections.abc import Iterator

import pytest

from bot.settings import Settings
from tests.fakes.model_server import ModelServer
from tests.fakes.speech_server import SpeechServer

TEST_KEY = "test-key"
SPEECH_KEY = "speech-key"


@pytest.fixture(scope="session")
def model_server_session() -> Iterator[ModelServer]:
    with ModelServer(api_key=TEST_KEY) as server:
        yield server


@pytest.fixture
def model_server(model_server_session: ModelServer) -> Iterator[ModelServer]:
    model_server_session.reset()
    model_server_session.latency = 0.0
    yield model_server_session
    model_server_session.reset()


@pytest.fixture(scope="session")
def speech_server_session() -> Iterator[SpeechServer]:
    # Short tones (2 ms a character): a track's parts stay tellable apart and quick to make.
    with SpeechServer(api_key=SPEECH_KEY, seconds_per_char=0.002) as server:
        yield server


@pytest.fixture
def speech(speech_server_session: SpeechServer) -> Iterator[SpeechServer]:
    """The speech server, with no requests or faults left from another test."""
    speech_server_session.reset()
    yield speech_server_session
    speech_server_session.reset()


@pytest.fixture
def llm_settings(model_server: ModelServer) -> Settings:
    return Settings.from_env(
        {
            "LLM_BASE_URL": model_server.base_url,
            "LLM_API_KEY": TEST_KEY,
            "LLM_STALL_SECONDS": "0.5",
            "LLM_TIMEOUT_SECONDS": "5",
        }
    )
