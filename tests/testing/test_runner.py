"""The suite runner against the scripted model: verdicts, transcripts, the judge, reports."""

from __future__ import annotations

import json
from typing import Any
from xml.etree import ElementTree

from pathweaver.config import Settings
from pathweaver.errors import LLMError, ModelOutputError
from pathweaver.llm.scripted import Reply, ScriptedModel
from pathweaver.testing.cases import parse_case
from pathweaver.testing.report import json_report, junit_xml, text_report
from pathweaver.testing.runner import Progress, Runner
from tests.testing.conftest import by_purpose, conversations

BOOKING = parse_case(
    {
        "name": "books a table",
        "turns": [
            {"user": "I want to book a table", "expect": {"node": "ask_name", "replyContains": ["YOU SAID"]}},
            {
                "user": "My name is Ann Lee",
                "expect": {"node": "done", "variables": {"customer_name": "ann lee"}, "ended": True},
            },
        ],
    }
)


async def test_a_scripted_case_passes_with_a_transcript_and_its_trace(project: Any) -> None:
    store, project_id, _ = project
    model = ScriptedModel()
    seen: list[tuple[str, int]] = []

    async def progress(event: Progress) -> None:
        seen.append((event.stage, event.turn))

    run = await Runner(conversations(project, model), progress=progress).run(project_id, [BOOKING])
    (case,) = run.cases
    assert case.status == "passed" and run.exit_code == 0, case
    assert [check.name for check in case.checks] == [
        "turn 1: node",
        "turn 1: reply contains 'YOU SAID'",
        "turn 2: node",
        "turn 2: variable customer_name",
        "turn 2: ended",
    ]
    first, second = case.transcript
    assert (first.node_before, first.node_after, first.transitions) == (
        "greeting",
        "ask_name",
        [("greeting", "ask_name", "chosen")],
    )
    assert second.variables == {"customer_name": "Ann Lee"} and second.ended
    # The decision, the reply from ask_name, and the extraction of ask_name's key (one move away).
    assert [call["purpose"] for call in first.trace["modelCalls"]] == ["decide", "reply", "extract"]
    assert seen == [("started", 0), ("turn", 1), ("turn", 2), ("finished", 2)]
    session = await store.sessions.get(project_id, case.session_id)
    assert session is not None and session.provider == "test" and session.ended


async def test_failed_expectations_say_what_was_expected_and_what_happened(project: Any) -> None:
    _, project_id, _ = project
    case = parse_case(
        {
            "name": "wrong",
            "turns": [
                {
                    "user": "hello",
                    "expect": {
                        "node": "ask_name",
                        "variables": {"customer_name": "Ann"},
                        "replyNotContains": ["hello"],
                        "ended": True,
                    },
                },
                {"user": "I want to book a table"},
            ],
        }
    )
    run = await Runner(conversations(project, ScriptedModel())).run(project_id, [case])
    (result,) = run.cases
    assert result.status == "failed" and run.exit_code == 1
    assert [(check.name, check.reason) for check in result.failures] == [
        ("turn 1: node", 'expected the conversation at node "ask_name", it is at "greeting"'),
        ("turn 1: variable customer_name", "expected customer_name = 'Ann', got None"),
        ("turn 1: reply does not contain 'hello'", "the reply contains 'hello': 'You said: hello'"),
        ("turn 1: ended", "expected the session to have ended"),
    ]
    assert len(result.transcript) == 2  # a failed expectation does not stop the conversation


async def test_turns_after_the_session_ended_are_failures(project: Any) -> None:
    _, project_id, _ = project
    case = parse_case(
        {
            "name": "too long",
            "turns": [
                {"user": "I want to book a table"},
                {"user": "My name is Ann"},
                {"user": "still there?"},
            ],
        }
    )
    (result,) = (await Runner(conversations(project, ScriptedModel())).run(project_id, [case])).cases
    assert result.status == "failed"
    assert result.failures[0].name == "turn 3"
    assert result.failures[0].reason == "the session ended at turn 2, so this turn was not sent"


async def test_a_model_failure_is_an_error_and_the_next_case_still_runs(project: Any) -> None:
    _, project_id, _ = project
    model = ScriptedModel(replies=[Reply(error=LLMError("upstream is down"))])
    second = parse_case({"name": "second", "turns": [{"user": "hi", "expect": {"node": "greeting"}}]})
    run = await Runner(conversations(project, model)).run(project_id, [BOOKING, second])
    assert [case.status for case in run.cases] == ["error", "passed"]
    assert run.cases[0].error == "LLMError: upstream is down"
    assert run.status == "error" and run.exit_code == 1


async def test_a_simulated_case_is_judged_per_criterion(project: Any) -> None:
    _, project_id, _ = project
    model = by_purpose(
        ["I want to book a table", "My name is Ann Lee [DONE]"],
        [
            {"passed": True, "reason": "It asked for the name."},
            {"passed": False, "reason": "No date was asked."},
        ],
    )
    case = parse_case(
        {
            "name": "simulated booking",
            "systemPrompt": "You want a table for two. Your name is Ann Lee.",
            "maxTurns": 5,
            "acceptanceCriteria": ["The agent asks for the name", "The agent asks for the date"],
        }
    )
    (result,) = (await Runner(conversations(project, model)).run(project_id, [case])).cases
    assert [turn.user for turn in result.transcript] == ["I want to book a table", "My name is Ann Lee"]
    assert [(check.name, check.passed, check.reason) for check in result.checks] == [
        ("criterion 1", True, "It asked for the name."),
        ("criterion 2", False, "No date was asked."),
    ]
    assert result.status == "failed"
    simulator = [call for call in model.calls if call.purpose == "simulate-user"]
    assert len(simulator) == 2
    persona = simulator[1].messages[0].content or ""
    assert persona.endswith("You want a table for two. Your name is Ann Lee.")
    # The model plays the user: the agent's replies come to it as user messages.
    assert [m.role for m in simulator[1].messages[1:]] == ["user", "assistant", "user"]
    judge = next(call for call in model.calls if call.purpose == "judge")
    body = judge.messages[1].content or ""
    assert "User: I want to book a table" in body and body.endswith("Criterion: The agent asks for the name")


async def test_a_judge_out_of_format_fails_the_criterion_with_the_reason(project: Any) -> None:
    _, project_id, _ = project
    model = by_purpose(
        ["hello"],
        [
            {"passed": "yes", "reason": "looks fine"},
            ModelOutputError("the answer is not valid JSON for the schema"),
            {"verdict": "pass"},
        ],
    )
    case = parse_case(
        {"name": "judged", "systemPrompt": "Say hello.", "maxTurns": 1, "acceptanceCriteria": ["a", "b", "c"]}
    )
    (result,) = (await Runner(conversations(project, model)).run(project_id, [case])).cases
    assert result.status == "failed"
    assert [check.passed for check in result.checks] == [False, False, False]
    first, second, third = (check.reason for check in result.checks)
    assert first.startswith("the judge answered out of format ({'passed': 'yes', 'reason': 'looks fine'})")
    assert first.endswith("counted as a failure")
    assert second == (
        "the judge gave no verdict (the answer is not valid JSON for the schema); counted as a failure"
    )
    assert third.startswith("the judge answered out of format ({'verdict': 'pass'})")


async def test_the_simulated_user_is_stopped_by_max_turns(project: Any) -> None:
    _, project_id, _ = project
    model = by_purpose(["hi", "hi again", "and again"], [{"passed": True, "reason": "ok"}])
    case = parse_case({"name": "short", "systemPrompt": "Chat.", "maxTurns": 2, "acceptanceCriteria": ["x"]})
    (result,) = (await Runner(conversations(project, model)).run(project_id, [case])).cases
    assert [turn.user for turn in result.transcript] == ["hi", "hi again"]
    assert result.status == "passed"


async def test_reports(project: Any, settings: Settings) -> None:
    _, project_id, _ = project
    failing = parse_case({"name": "fails", "turns": [{"user": "hello", "expect": {"node": "done"}}]})
    broken = parse_case({"name": "breaks", "turns": [{"user": "hello"}]})
    model = ScriptedModel(replies=[Reply(text="hi"), Reply(error=LLMError("boom"))])
    run = await Runner(conversations(project, model)).run(
        project_id, [failing, broken, BOOKING], ["a.yaml"] * 3
    )
    text = text_report(run)
    assert "PASS  books a table (scripted, 2 turns" in text
    assert "FAIL  fails (scripted, 1 turn" in text
    assert '      turn 1: node: expected the conversation at node "done", it is at "greeting"' in text
    assert "ERROR breaks (scripted, 0 turns" in text and "      LLMError: boom" in text
    assert text.endswith("3 cases: 1 passed, 1 failed, 1 error\n")

    root = ElementTree.fromstring(junit_xml(run))
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("3", "1", "1")
    cases = suite.findall("testcase")
    assert [case.get("name") for case in cases] == ["fails", "breaks", "books a table"]
    assert cases[2].get("classname") == "a.yaml" and cases[2].find("failure") is None
    failure = cases[0].find("failure")
    assert failure is not None and failure.get("message", "").startswith("turn 1: node: expected")
    error = cases[1].find("error")
    assert error is not None and error.get("message") == "LLMError: boom"

    data = json.loads(json_report(run))
    assert data["status"] == "error"
    assert data["summary"] == {"total": 3, "passed": 1, "failed": 1, "errors": 1}
    first = data["cases"][2]
    assert first["checks"][0] == {
        "name": "turn 1: node",
        "passed": True,
        "reason": "",
        "expected": "ask_name",
        "actual": "ask_name",
    }
    assert first["transcript"][0]["trace"]["nodeAfter"] == "ask_name"
