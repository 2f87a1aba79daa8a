"""Shared fixtures: the local model server and settings pointed at it."""

from collections.abc import Iterator

import pytest

from bot.settings import Settings
from tests.fakes.model_server import ModelServer

TEST_KEY = "test-key"


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
