"""Record a run against a real (mock) OpenAI-compatible server, replay it with zero calls."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from pathweaver.config import Settings
from pathweaver.errors import LLMError, ModelOutputError, UserError
from pathweaver.llm.base import ChatRequest, Message, StructuredRequest, collect
from pathweaver.llm.cassette import Cassette, CassetteMismatch, RecordingModel, ReplayModel, scope
from pathweaver.llm.openai_compat import OpenAICompatModel
from pathweaver.llm.scripted import Reply, ScriptedModel, best_option, default_structured
from pathweaver.testing.cases import parse_case
from pathweaver.testing.results import RunResult, TurnLog
from pathweaver.testing.runner import Runner, temporary_project
from tests.support.mock_llm import MockLLM, MockReply, MockToolCall, RecordedRequest
from tests.testing.conftest import AGENT, PATHWAY, conversations

API_KEY = "sk-cassette-test"
USER_LINES = ["I want to book a table", "My name is Ann Lee", "[DONE]"]
CASES = [
    parse_case(
        {
            "name": "books a table",
            "turns": [
                {"user": "I want to book a table", "expect": {"node": "ask_name"}},
                {"user": "My name is Ann Lee", "expect": {"node": "done", "ended": True}},
            ],
        }
    ),
    parse_case(
        {
            "name": "simulated",
            "systemPrompt": "You want a table. Your name is Ann Lee.",
            "maxTurns": 4,
            "acceptanceCriteria": ["The agent asks for the name", "The agent thanks the user"],
        }
    ),
]


def upstream(request: RecordedRequest) -> MockReply:
    """A deterministic upstream: routes by word overlap, extracts, plays the user, judges."""
    body = request.json()
    messages = body["messages"]
    said = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
    response_format = body.get("response_format") or {}
    if response_format.get("type") == "json_schema":
        schema = response_format["json_schema"]["schema"]
        if "passed" in schema["properties"]:
            return MockReply(text=json.dumps({"passed": True, "reason": "The transcript shows it."}))
        wire = [Message(role=m["role"], content=m["content"]) for m in messages]
        # A routing decision: the numbered statements of its question are the options.
        options = tuple(text for _, text in re.findall(r"^(\d+)\. (.+)$", said, re.MULTILINE))
        answer = default_structured(StructuredRequest(tuple(wire), schema, options=options))
        return MockReply(text=json.dumps(answer))
    if messages[0]["content"].startswith("You are role-playing a user"):
        return MockReply(text=USER_LINES[sum(1 for m in messages if m["role"] == "assistant")])
    for tool in body.get("tools", []):
        function = tool["function"]
        options = function["parameters"]["properties"]["next"].get("oneOf") or []
        picked = best_option(said, [(o["const"], o["description"]) for o in options])
        if picked is not None:
            return MockReply(tool_calls=[MockToolCall(function["name"], json.dumps({"next": picked}))])
    return MockReply(text=f"Of course. ({said})")


@pytest.fixture
def server() -> Iterator[MockLLM]:
    with MockLLM(api_key=API_KEY) as mock:
        mock.push(*[upstream] * 200)
        yield mock


@pytest.fixture
async def http_model(server: MockLLM) -> AsyncIterator[OpenAICompatModel]:
    model = OpenAICompatModel(server.base_url, API_KEY, "mock-model", first_byte_timeout=5, total_timeout=20)
    yield model
    await model.aclose()


def stable(run: RunResult) -> list[Any]:
    """The transcripts and verdicts, without timings (which differ between runs)."""

    def turn(log: TurnLog) -> dict[str, Any]:
        trace = {
            **log.trace,
            "modelCalls": [
                {k: v for k, v in call.items() if not k.endswith("Ms")} for call in log.trace["modelCalls"]
            ],
            "decisions": [
                {k: v for k, v in made.items() if not k.endswith("Ms")} for made in log.trace["decisions"]
            ],
        }
        return {**log.to_json(), "trace": trace}

    return [
        (
            case.name,
            case.status,
            case.error,
            [c.to_json() for c in case.checks],
            [turn(t) for t in case.transcript],
        )
        for case in run.cases
    ]


async def record(project: Any, http_model: OpenAICompatModel, path: Path) -> RunResult:
    cassette = Cassette()
    recording = RecordingModel(http_model, cassette)
    run = await Runner(conversations(project, recording), model=recording).run(project[1], CASES)
    cassette.save(path)
    return run


async def test_a_recorded_run_replays_with_zero_calls_and_identical_transcripts(
    project: Any, http_model: OpenAICompatModel, server: MockLLM, settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "cassette.json"
    recorded = await record(project, http_model, path)
    assert [case.status for case in recorded.cases] == ["passed", "passed"], recorded.cases
    simulated = recorded.cases[1]
    assert [t.user for t in simulated.transcript] == ["I want to book a table", "My name is Ann Lee"]
    assert simulated.transcript[-1].variables == {"customer_name": "Ann Lee"}
    upstream_calls = server.calls
    assert upstream_calls > 10

    cassette = Cassette.load(path)
    assert cassette.model == "mock-model"
    purposes = {entry.purpose for entry in cassette.entries}
    assert purposes == {"decide", "reply", "extract", "simulate-user", "judge"}
    replay = ReplayModel(cassette)
    async with temporary_project(
        AGENT, PATHWAY, settings.model_copy(update={"data_dir": tmp_path / "b"})
    ) as fresh:
        replayed = await Runner(conversations(fresh, replay), model=replay, replay=replay).run(
            fresh[1], CASES
        )
    assert server.calls == upstream_calls  # not one call upstream
    assert replay.calls == len(cassette.entries)
    assert stable(replayed) == stable(recorded)
    assert replayed.cases[0].transcript[0].trace["modelCalls"][0]["model"] == "mock-model"


async def test_a_changed_prompt_is_a_mismatch_that_names_the_call_the_turn_and_the_difference(
    project: Any, http_model: OpenAICompatModel, server: MockLLM, settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "cassette.json"
    await record(project, http_model, path)
    upstream_calls = server.calls
    document = PATHWAY.to_json()
    document["nodes"][1]["data"]["prompt"] = "Ask for the full name, first and last."
    changed = PATHWAY.model_validate(document)
    replay = ReplayModel(Cassette.load(path))
    async with temporary_project(
        AGENT, changed, settings.model_copy(update={"data_dir": tmp_path / "b"})
    ) as fresh:
        run = await Runner(conversations(fresh, replay), model=replay, replay=replay).run(fresh[1], CASES[:1])
    assert server.calls == upstream_calls
    (case,) = run.cases
    assert case.status == "error" and case.error is not None
    first_line, *diff = case.error.splitlines()
    assert first_line == (
        "CassetteMismatch: cassette mismatch: model call 1 for 'reply' at 'books a table/turn 1' "
        "differs from the recorded request:"
    )
    assert diff[:2] == ["--- recorded", "+++ this run"]
    assert "-  Ask for the name." in diff and "+  Ask for the full name, first and last." in diff
    assert replay.mismatch is not None and replay.mismatch.scope == "books a table/turn 1"
    assert replay.mismatch.purpose == "reply" and replay.mismatch.number == 1
    assert case.transcript == ()  # the turn that did not match is not half committed


async def test_fewer_calls_than_recorded_is_a_mismatch_too(
    project: Any, http_model: OpenAICompatModel, settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "cassette.json"
    await record(project, http_model, path)
    shorter = parse_case({"name": "books a table", "turns": [{"user": "I want to book a table"}]})
    replay = ReplayModel(Cassette.load(path))
    async with temporary_project(
        AGENT, PATHWAY, settings.model_copy(update={"data_dir": tmp_path / "b"})
    ) as fresh:
        (case,) = (
            await Runner(conversations(fresh, replay), model=replay, replay=replay).run(fresh[1], [shorter])
        ).cases
    assert case.status == "error"
    assert case.error is not None and case.error.startswith(
        "CassetteMismatch: the run made fewer model calls than the cassette recorded: 3 recorded call(s) "
        "were not made, the first 'decide' at 'books a table/turn 2'"
    )


async def test_a_call_the_cassette_does_not_have() -> None:
    replay = ReplayModel(Cassette(model="m"))
    request = ChatRequest((Message(role="user", content="hello"),), purpose="reply")
    with scope("case/turn 1"), pytest.raises(CassetteMismatch) as caught:
        await collect(replay.stream(request))
    assert caught.value.message.startswith(
        "cassette mismatch: model call 1 for 'reply' at 'case/turn 1' is not in the cassette "
        "(it recorded 0 such calls there)"
    )
    assert "+message 1 (user):" in caught.value.diff and "+  hello" in caught.value.diff


async def test_calls_are_matched_in_order_per_scope_and_purpose_whatever_the_interleaving() -> None:
    cassette = Cassette()
    inner = ScriptedModel(replies=[Reply(text="one"), Reply(text="two")], structured_answers=[{"x": 1}])
    recording = RecordingModel(inner, cassette)
    reply = ChatRequest((Message(role="user", content="hi"),), purpose="reply")
    extract = StructuredRequest((Message(role="user", content="hi"),), {"type": "object"}, purpose="extract")
    with scope("t"):
        assert (await collect(recording.stream(reply))).text == "one"
        assert (await recording.structured(extract)).value == {"x": 1}
        assert (await collect(recording.stream(reply))).text == "two"
    replay = ReplayModel(cassette)
    with scope("t"):  # the extraction first this time, as a concurrent task may be
        assert (await replay.structured(extract)).value == {"x": 1}
        assert (await collect(replay.stream(reply))).text == "one"
        assert (await collect(replay.stream(reply))).text == "two"
    assert replay.player.left_over() == []


def names_in(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


async def test_errors_are_recorded_and_replayed_as_the_same_error(tmp_path: Path) -> None:
    cassette = Cassette()
    inner = ScriptedModel(
        replies=[Reply(error=LLMError("upstream down"))],
        structured_answers=[ModelOutputError("not JSON", code="invalid_model_output")],
    )
    recording = RecordingModel(inner, cassette)
    reply = ChatRequest((Message(role="user", content="hi"),))
    extract = StructuredRequest((Message(role="user", content="hi"),), {"type": "object"}, purpose="extract")
    with pytest.raises(LLMError):
        await collect(recording.stream(reply))
    with pytest.raises(ModelOutputError):
        await recording.structured(extract)
    cassette.save(tmp_path / "c.json")
    assert names_in(tmp_path) == ["c.json"]  # no temporary file left behind
    replay = ReplayModel(Cassette.load(tmp_path / "c.json"))
    with pytest.raises(LLMError, match="upstream down"):
        await collect(replay.stream(reply))
    with pytest.raises(ModelOutputError, match="not JSON"):
        await replay.structured(extract)


def test_the_clock_in_the_system_prompt_does_not_break_a_match() -> None:
    from pathweaver.llm.cassette import fingerprint, request_json

    def at(time: str) -> ChatRequest:
        return ChatRequest((Message(role="system", content=f"Be nice.\nCurrent time: {time}\nBye."),))

    assert fingerprint(request_json(at("Monday 09:00 (UTC)"))) == fingerprint(
        request_json(at("Friday 17:12 (UTC)"))
    )
    other = ChatRequest((Message(role="system", content="Be rude.\nCurrent time: Monday 09:00 (UTC)\nBye."),))
    assert fingerprint(request_json(other)) != fingerprint(request_json(at("Monday 09:00 (UTC)")))


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{", "the cassette is not valid JSON"),
        ('{"version": 9}', "is not a version 1 cassette (version: 9); record it again"),
        ('{"version": 1, "entries": [{"kind": "model"}]}', "a cassette entry is malformed"),
    ],
)
def test_a_file_that_is_not_a_cassette(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "c.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(UserError) as caught:
        Cassette.load(path)
    assert expected in str(caught.value) and str(path) in str(caught.value)


async def test_a_call_abandoned_while_recording_replays_as_a_failure() -> None:
    cassette = Cassette()
    recording = RecordingModel(ScriptedModel(replies=[Reply(text="one two three")]), cassette)
    request = ChatRequest((Message(role="user", content="hi"),))
    with scope("t"):
        stream = recording.stream(request)
        async for _ in stream:
            break
        await stream.aclose()  # type: ignore[attr-defined]
    assert cassette.entries[0].response == {"events": [{"text": "one "}], "incomplete": True}
    replay = ReplayModel(cassette)
    with scope("t"), pytest.raises(LLMError, match="did not finish while it was recorded"):
        await collect(replay.stream(request))
