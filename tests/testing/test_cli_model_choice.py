"""``pathweaver test`` calls the model each node chose, as the server does, and a cassette
recorded that way replays with no model call at all."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from pathweaver.testing import cli
from tests.support.mock_llm import MockLLM

AGENT = """\
schemaVersion: 1
agent:
  name: Chooser
pathway:
  nodes:
    - id: start
      data:
        type: start
        title: Start
        prompt: Answer briefly.
        model: {target: fast}
    - id: end
      data: {type: end, title: End, prompt: Say goodbye.}
  edges:
    - id: e1
      source: start
      target: end
      data: {condition: The user wants to leave}
"""
CASES = """\
schemaVersion: 1
agent: agent.yaml
cases:
  - name: answered by the node's model
    turns:
      - user: What are your hours?
        expect: {node: start, replyContains: ["You said: What are your hours?"]}
"""


@pytest.fixture
def upstreams(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[MockLLM, MockLLM]]:
    with MockLLM(api_key="sk-main") as main, MockLLM(api_key="sk-fast", models=["fast-model"]) as fast:
        monkeypatch.setenv("PATHWEAVER_LLM_BASE_URL", main.base_url)
        monkeypatch.setenv("PATHWEAVER_LLM_API_KEY", "sk-main")
        monkeypatch.setenv("PATHWEAVER_LLM_MODEL", "mock-model")
        targets = {"fast": {"base_url": fast.base_url, "model": "fast-model", "api_key": "sk-fast"}}
        monkeypatch.setenv("PATHWEAVER_LLM_TARGETS", json.dumps(targets))
        monkeypatch.delenv("PATHWEAVER_FAKE_MODEL", raising=False)
        yield main, fast


@pytest.fixture
def app() -> typer.Typer:
    commands = typer.Typer()
    commands.command("test")(cli.tests_command)
    commands.command("other")(cli.lint_command)  # two commands: typer keeps "test" as a name
    return commands


def test_a_live_run_calls_the_node_s_model_and_its_cassette_replays(
    tmp_path: Path, upstreams: tuple[MockLLM, MockLLM], app: typer.Typer, monkeypatch: pytest.MonkeyPatch
) -> None:
    main, fast = upstreams
    (tmp_path / "agent.yaml").write_text(AGENT)
    (tmp_path / "cases.yaml").write_text(CASES)
    monkeypatch.setenv("PATHWEAVER_DATA_DIR", str(tmp_path / "data"))
    cassette = tmp_path / "cassette.json"
    live = CliRunner().invoke(app, ["test", str(tmp_path / "cases.yaml"), "--record", str(cassette)])
    assert live.exit_code == 0, live.output
    # The node's model serves its decision and its reply; the main upstream nothing.
    assert [r.json()["model"] for r in fast.chat_requests] == ["fast-model", "fast-model"]
    assert main.chat_requests == []
    fast_calls = fast.calls
    replayed = CliRunner().invoke(app, ["test", str(tmp_path / "cases.yaml"), "--replay", str(cassette)])
    assert replayed.exit_code == 0, replayed.output
    assert fast.calls == fast_calls and main.chat_requests == []
