"""Per-agent and per-node model choice, against real mock upstreams on 127.0.0.1.

The server has a default upstream (``PATHWEAVER_LLM_BASE_URL``) and a named target
(``PATHWEAVER_LLM_TARGETS``); agents and nodes choose with ``model: {target, name}``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from pathweaver.agent.config import AgentConfig, ModelChoice
from pathweaver.agent.pathway import Pathway, default_pathway
from pathweaver.api.app import create_app
from pathweaver.config import LLMTarget, Settings, export_to_environment
from pathweaver.errors import LLMConfigError
from pathweaver.llm.registry import Models
from pathweaver.llm.scripted import ScriptedModel
from pathweaver.store.store import Store
from tests.conftest import make_project
from tests.support.mock_llm import MockLLM

MAIN_KEY, FAST_KEY = "sk-main", "sk-fast"


@pytest.fixture
def main_llm() -> Iterator[MockLLM]:
    with MockLLM(api_key=MAIN_KEY, models=["main-model", "big-model"]) as server:
        yield server


@pytest.fixture
def fast_llm() -> Iterator[MockLLM]:
    with MockLLM(api_key=FAST_KEY, models=["fast-model", "tiny-model"]) as server:
        yield server


def upstream_settings(settings: Settings, main: MockLLM, fast: MockLLM, fast_key: str = FAST_KEY) -> Settings:
    return settings.model_copy(
        update={
            "fake_model": False,
            "llm_base_url": main.base_url,
            "llm_api_key": SecretStr(MAIN_KEY),
            "llm_model": "main-model",
            "llm_max_retries": 0,
            "llm_targets": {"fast": LLMTarget(base_url=fast.base_url, model="fast-model", api_key=fast_key)},
        }
    )


@pytest.fixture
async def http(settings: Settings, store: Store, main_llm: MockLLM, fast_llm: MockLLM) -> AsyncIterator[Any]:
    app = create_app(upstream_settings(settings, main_llm, fast_llm), store=store)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://pathweaver.test"
        ) as client,
    ):
        yield client


def pathway(start_model: dict[str, str] | None = None) -> Pathway:
    document = default_pathway().to_json()
    if start_model is not None:
        document["nodes"][0]["data"]["model"] = start_model
    return Pathway.model_validate(document)


async def turn(http: Any, project: Any, text: str = "Hello") -> httpx.Response:
    return await http.post(
        f"/v1/projects/{project.id}/chat/completions",
        json={"messages": [{"role": "user", "content": text}]},
        headers={**project.auth, "X-Session-ID": "s1"},
    )


def models_asked(server: MockLLM) -> list[str]:
    """The model names an upstream was asked for (a turn asks its decision and its reply)."""
    return sorted({request.json()["model"] for request in server.chat_requests})


async def test_no_choice_uses_the_default_upstream(http, store, main_llm, fast_llm) -> None:
    project = await make_project(store)
    response = await turn(http, project)
    assert response.status_code == 200, response.text
    assert models_asked(main_llm) == ["main-model"]
    assert fast_llm.calls == 0


async def test_a_node_choosing_a_target_is_served_by_that_upstream(http, store, main_llm, fast_llm) -> None:
    project = await make_project(store, pathway=pathway({"target": "fast"}))
    response = await turn(http, project)
    assert response.status_code == 200, response.text
    assert models_asked(fast_llm) == ["fast-model"]
    assert fast_llm.chat_requests[0].headers.get("authorization") == f"Bearer {FAST_KEY}"
    assert main_llm.calls == 0
    trace = (await http.get(f"/v1/projects/{project.id}/sessions/s1", headers=project.auth)).json()
    assert "fast-model" in str(trace)


async def test_an_agent_choice_applies_and_a_node_choice_wins(http, store, main_llm, fast_llm) -> None:
    agent = AgentConfig(model=ModelChoice(name="big-model"))
    project = await make_project(store, agent=agent)
    assert (await turn(http, project)).status_code == 200
    assert models_asked(main_llm) == ["big-model"]

    other = await make_project(
        store, "other", agent=agent, pathway=pathway({"target": "fast", "name": "tiny-model"})
    )
    assert (await turn(http, other)).status_code == 200
    assert models_asked(fast_llm) == ["tiny-model"]
    assert models_asked(main_llm) == ["big-model"]


async def test_an_unknown_target_is_a_warning_on_save_and_the_default_serves_with_a_notice(
    http, store, main_llm, fast_llm
) -> None:
    project = await make_project(store)
    saved = await http.patch(
        f"/v1/projects/{project.id}/agent", json={"model": {"target": "nope"}}, headers=project.auth
    )
    assert saved.status_code == 200, saved.text
    assert saved.json()["warnings"][0]["code"] == "unknown_model"
    assert "PATHWEAVER_LLM_TARGETS" in saved.json()["warnings"][0]["message"]

    document = pathway({"target": "missing"}).to_json()
    put = await http.put(f"/v1/projects/{project.id}/pathway", json=document, headers=project.auth)
    assert put.status_code == 200, put.text
    warning = next(w for w in put.json()["data"]["warnings"] if w["code"] == "unknown_model")
    assert warning["nodeId"] == "start" and "'missing'" in warning["message"]

    # Stored configuration this server cannot serve never breaks the project (issue 20, 14):
    # the turn is served by the default model and the trace says why.
    response = await turn(http, project)
    assert response.status_code == 200, response.text
    assert main_llm.calls >= 1 and fast_llm.calls == 0
    session = await http.get(f"/v1/projects/{project.id}/sessions/s1", headers=project.auth)
    (notice,) = session.json()["turns"][0]["trace"]["notices"]
    assert notice["kind"] == "model_unavailable" and notice["nodeId"] == "start"
    assert "'missing'" in notice["message"] and "PATHWEAVER_LLM_TARGETS" in notice["message"]


async def test_a_target_with_a_wrong_key_fails_at_start_up_naming_the_target(
    settings, store, main_llm, fast_llm
) -> None:
    app = create_app(upstream_settings(settings, main_llm, fast_llm, fast_key="sk-wrong"), store=store)
    with pytest.raises(LLMConfigError, match=r"PATHWEAVER_LLM_TARGETS\.fast\.api_key"):
        async with app.router.lifespan_context(app):
            pass


def test_a_fake_server_serves_every_choice_with_the_scripted_model(tmp_path) -> None:
    scripted = ScriptedModel()
    models = Models.from_settings(Settings(data_dir=tmp_path, fake_model=True), scripted)
    assert models.pick(ModelChoice(target="anything"), ModelChoice(name="x")) is scripted
    assert models.problem(ModelChoice(target="anything")) is None


def test_a_name_without_an_upstream_is_a_problem_on_the_embedded_model(tmp_path) -> None:
    models = Models.from_settings(Settings(data_dir=tmp_path), ScriptedModel())
    problem = models.problem(ModelChoice(name="gpt-4o"))
    assert problem is not None and "PATHWEAVER_LLM_BASE_URL" in problem
    with pytest.raises(LLMConfigError, match="embedded model"):
        models.pick(ModelChoice(name="gpt-4o"))
    assert models.pick(None, ModelChoice()) is models.default


def test_targets_survive_the_trip_to_worker_processes(tmp_path, monkeypatch) -> None:
    for name in list(os.environ):
        if name.startswith("PATHWEAVER_"):
            monkeypatch.delenv(name)
    target = LLMTarget(base_url="http://127.0.0.1:9/v1", model="m", api_key="sk-secret")
    settings = Settings(data_dir=tmp_path, llm_targets={"fast": target})
    with monkeypatch.context() as patch:
        patch.setattr(os, "environ", dict(os.environ))
        export_to_environment(settings)
        again = Settings()
    assert again.llm_targets["fast"].api_key is not None
    assert again.llm_targets["fast"].api_key.get_secret_value() == "sk-secret"
    assert again.llm_targets["fast"].base_url == target.base_url
