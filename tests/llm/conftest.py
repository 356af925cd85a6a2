"""Fixtures for the model tests: a real mock upstream on 127.0.0.1, and clients for it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from pathweaver.llm.openai_compat import OpenAICompatModel
from tests.support.mock_llm import MockLLM

API_KEY = "sk-test-key"


@pytest.fixture
def mock_llm() -> Iterator[MockLLM]:
    """A fresh OpenAI-compatible mock server for one test (key ``sk-test-key``)."""
    with MockLLM(api_key=API_KEY) as server:
        yield server


@pytest.fixture
async def http_model(mock_llm: MockLLM) -> AsyncIterator[OpenAICompatModel]:
    """An OpenAI-compatible model on the mock, with short timeouts and fast retries."""
    client = OpenAICompatModel(
        mock_llm.base_url,
        API_KEY,
        "mock-model",
        connect_timeout=2,
        first_byte_timeout=1,
        total_timeout=10,
        max_retries=2,
        backoff=0.01,
    )
    yield client
    await client.aclose()
