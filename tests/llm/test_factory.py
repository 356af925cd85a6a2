"""build_model: which model the settings select."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from pathweaver.config import Settings
from pathweaver.errors import LLMConfigError
from pathweaver.llm.factory import build_model
from pathweaver.llm.local import LocalModel
from pathweaver.llm.openai_compat import OpenAICompatModel
from pathweaver.llm.scripted import ScriptedModel


async def test_fake_wins(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, fake_model=True, llm_base_url="http://127.0.0.1:9/v1")
    assert isinstance(build_model(settings), ScriptedModel)


async def test_an_upstream_url_selects_the_http_model(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        llm_base_url="http://127.0.0.1:9/v1",
        llm_model="m",
        llm_api_key="k",
        llm_max_retries=0,
    )
    model = build_model(settings)
    try:
        assert isinstance(model, OpenAICompatModel)
        assert (model.name, model.base_url, model.max_retries) == ("m", "http://127.0.0.1:9/v1", 0)
        assert not model.always_stream  # "auto": the upstream streams when the client does
    finally:
        await model.aclose()


async def test_upstream_streaming_always_reaches_the_http_model(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        llm_base_url="http://127.0.0.1:9/v1",
        llm_model="m",
        llm_upstream_streaming="always",
    )
    model = build_model(settings)
    try:
        assert isinstance(model, OpenAICompatModel) and model.always_stream
    finally:
        await model.aclose()


def test_an_upstream_url_needs_a_model_name(tmp_path: Path) -> None:
    with pytest.raises(LLMConfigError, match="PATHWEAVER_LLM_MODEL"):
        build_model(Settings(data_dir=tmp_path, llm_base_url="http://127.0.0.1:9/v1"))


async def test_otherwise_the_embedded_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gguf = tmp_path / "tiny.gguf"
    gguf.write_bytes(b"GGUF")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: object())

    model = build_model(Settings(data_dir=tmp_path, local_model=str(gguf), local_model_queue=3))

    assert isinstance(model, LocalModel)
    assert (model.name, model.queue_limit) == ("tiny", 3)
    await model.aclose()


def test_without_llama_cpp_the_message_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)

    with pytest.raises(LLMConfigError, match=r"'local' extra.*PATHWEAVER_LLM_BASE_URL"):
        build_model(Settings(data_dir=tmp_path))
