"""The ``test``, ``lint`` and ``routing-check`` commands, as a user runs them."""

from __future__ import annotations

import json
import re
from pathlib import Path
from xml.etree import ElementTree

import pytest
import typer
from typer.testing import CliRunner

from pathweaver.testing import cli
from tests.testing.conftest import EXAMPLES

RESTAURANT = EXAMPLES / "restaurant-booking.yaml"
CASES = """\
schemaVersion: 1
agent: {agent}
cases:
  - name: books a table
    turns:
      - user: I want to book a table or make a reservation
        expect: {{node: ask_name}}
      - user: My name is Ann Lee, I have given my name
        expect: {{node: ask_party_size, variables: {{customer_name: Ann Lee}}}}
  - name: asks about parking
    turns:
      - user: Is there parking near the restaurant?
        expect: {{node: answer_question, replyContains: [parking]}}
suites:
  - {{name: smoke, cases: [books a table]}}
"""


@pytest.fixture
def app() -> typer.Typer:
    commands = typer.Typer()
    commands.command("test")(cli.tests_command)
    commands.command("lint")(cli.lint_command)
    commands.command("routing-check")(cli.routing_check_command)
    return commands


@pytest.fixture
def case_file(tmp_path: Path) -> Path:
    path = tmp_path / "restaurant-booking.tests.yaml"
    path.write_text(CASES.format(agent=RESTAURANT), encoding="utf-8")
    return path


def invoke(app: typer.Typer, *args: str | Path) -> object:
    return CliRunner().invoke(app, [str(arg) for arg in args], catch_exceptions=False)


def test_lint_the_examples_and_a_broken_file(app: typer.Typer, tmp_path: Path) -> None:
    clean = CliRunner().invoke(app, ["lint", str(RESTAURANT)])
    assert clean.exit_code == 0 and clean.stdout.endswith("restaurant-booking.yaml: no problems\n")
    broken = tmp_path / "broken.yaml"
    text = RESTAURANT.read_text(encoding="utf-8").replace(
        "Ask whether everything is correct.", "Ask whether everything is correct, {{customer_nmae}}."
    )
    broken.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(app, ["lint", str(broken)])
    assert result.exit_code == 1
    assert result.stdout.startswith(
        'error   undeclared_variable: the prompt of node "confirm" reads {{customer_nmae}}'
    )
    as_json = CliRunner().invoke(app, ["lint", str(broken), "--json"])
    report = json.loads(as_json.stdout)
    assert as_json.exit_code == 1 and report["errors"] == 1
    assert report["findings"][0]["nodeId"] == "confirm"


def test_lint_arguments(app: typer.Typer, tmp_path: Path) -> None:
    assert CliRunner().invoke(app, ["lint"]).exit_code == 2
    missing = CliRunner().invoke(app, ["lint", str(tmp_path / "nope.yaml")])
    assert missing.exit_code == 1 and "cannot read" in missing.output


def test_run_case_files_with_reports(app: typer.Typer, case_file: Path, tmp_path: Path) -> None:
    junit, data = tmp_path / "junit.xml", tmp_path / "results.json"
    result = CliRunner().invoke(
        app,
        [
            "test",
            str(case_file),
            "--fake",
            "--junit",
            str(junit),
            "--json",
            str(data),
            "--data-dir",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "PASS  books a table (scripted, 2 turns" in result.stdout
    assert result.stdout.endswith("2 cases: 2 passed, 0 failed, 0 errors\n")
    suite = ElementTree.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("tests") == "2" and suite.get("failures") == "0"
    assert json.loads(data.read_text(encoding="utf-8"))["summary"]["passed"] == 2
    smoke = CliRunner().invoke(
        app, ["test", str(case_file), "--fake", "--suite", "smoke", "--data-dir", str(tmp_path)]
    )
    assert smoke.stdout.endswith("1 case: 1 passed, 0 failed, 0 errors\n")


def test_a_failing_case_exits_1(app: typer.Typer, case_file: Path, tmp_path: Path) -> None:
    case_file.write_text(
        case_file.read_text(encoding="utf-8").replace("node: ask_name", "node: booked"), encoding="utf-8"
    )
    result = CliRunner().invoke(app, ["test", str(case_file), "--fake", "--data-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert 'turn 1: node: expected the conversation at node "booked", it is at "ask_name"' in result.stdout


def test_the_case_file_beside_the_agent_file_is_found(
    app: typer.Typer, case_file: Path, tmp_path: Path
) -> None:
    agent = tmp_path / "restaurant-booking.yaml"
    agent.write_text(RESTAURANT.read_text(encoding="utf-8"), encoding="utf-8")
    result = CliRunner().invoke(app, ["test", "--agent", str(agent), "--fake", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output


def test_a_malformed_case_file_names_file_line_and_field(
    app: typer.Typer, case_file: Path, tmp_path: Path
) -> None:
    case_file.write_text(
        case_file.read_text(encoding="utf-8").replace("replyContains", "replyContain"), encoding="utf-8"
    )
    result = CliRunner().invoke(app, ["test", str(case_file), "--fake", "--data-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert (
        f"error: {case_file}:13: cases[1].turns[0].expect.replyContain: is not a known field here"
        in result.output
    )


def test_record_then_replay_then_a_changed_agent(app: typer.Typer, case_file: Path, tmp_path: Path) -> None:
    cassette = tmp_path / "cassette.json"
    recorded = CliRunner().invoke(
        app, ["test", str(case_file), "--fake", "--record", str(cassette), "--data-dir", str(tmp_path)]
    )
    assert recorded.exit_code == 0, recorded.output
    replayed = CliRunner().invoke(
        app, ["test", str(case_file), "--replay", str(cassette), "--data-dir", str(tmp_path)]
    )
    assert replayed.exit_code == 0, replayed.output
    strip = [line.split(" (scripted")[0] for line in recorded.stdout.splitlines()]
    assert [line.split(" (scripted")[0] for line in replayed.stdout.splitlines()] == strip

    changed = tmp_path / "changed.yaml"
    changed.write_text(
        RESTAURANT.read_text(encoding="utf-8").replace(
            "condition: The user wants to book a table or make a reservation",
            "condition: The user asks for booking",
        ),
        encoding="utf-8",
    )
    mismatch = CliRunner().invoke(
        app,
        [
            "test",
            str(case_file),
            "--agent",
            str(changed),
            "--replay",
            str(cassette),
            "--data-dir",
            str(tmp_path),
        ],
    )
    assert mismatch.exit_code == 1
    assert (
        "CassetteMismatch: cassette mismatch: model call 1 for 'decide' at 'books a table/turn 1' differs "
        "from the recorded request:" in mismatch.stdout
    )
    old = r"^\s+-\s+1\. The user wants to book a table or make a reservation$"
    new = r"^\s+\+\s+1\. The user asks for booking$"
    assert re.search(old, mismatch.stdout, re.MULTILINE) and re.search(new, mismatch.stdout, re.MULTILINE)

    routing = CliRunner().invoke(
        app,
        [
            "test",
            "--agent",
            str(changed),
            "--replay-user-turns",
            str(cassette),
            "--fake",
            "--data-dir",
            str(tmp_path),
        ],
    )
    assert routing.exit_code == 1
    assert routing.stdout.startswith(
        "CHANGED books a table, turn 1 ('I want to book a table or make a reservation'): "
        "was greeting -> ask_name, at ask_name; now stayed at greeting, at greeting"
    )


def test_test_arguments_that_do_not_fit(app: typer.Typer, case_file: Path, tmp_path: Path) -> None:
    assert CliRunner().invoke(app, ["test"]).exit_code == 2
    both = CliRunner().invoke(app, ["test", str(case_file), "--record", "a.json", "--replay", "b.json"])
    assert both.exit_code == 2 and "do not go together" in both.output
    assert CliRunner().invoke(app, ["test", "--project", "p", "--agent", "a.yaml"]).exit_code == 2


def test_routing_check_with_the_fake_model(app: typer.Typer, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "routing-check",
            "--agent",
            str(RESTAURANT),
            "--node",
            "greeting",
            "--fake",
            "--data-dir",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    # The fake model cannot write paraphrases (its structured answers are null): said per option.
    assert "no paraphrases: the model's positives are not a list of messages" in result.stdout
    as_json = CliRunner().invoke(
        app,
        [
            "routing-check",
            "--agent",
            str(RESTAURANT),
            "--node",
            "greeting",
            "--fake",
            "--json",
            "--data-dir",
            str(tmp_path),
        ],
    )
    assert json.loads(as_json.stdout)["nodeId"] == "greeting"
    unknown = CliRunner().invoke(
        app, ["routing-check", "--agent", str(RESTAURANT), "--node", "nope", "--fake"]
    )
    assert unknown.exit_code == 1 and 'no node "nope"' in unknown.output


async def stored_project(tmp_path: Path) -> str:
    from pathweaver.agent.files import read_agent_file
    from pathweaver.config import Settings
    from pathweaver.store.store import Store
    from pathweaver.store.testing import TestingStore

    store = await Store.open(Settings(data_dir=tmp_path))
    try:
        agent, pathway = read_agent_file(RESTAURANT)
        project = await store.projects.create_project("restaurant", agent, pathway)
        case = {
            "kind": "scripted",
            "name": "books",
            "turns": [{"user": "I want to book a table", "expect": {"node": "ask_name"}}],
        }
        stored = await TestingStore(store.engine).create_case(project.id, "books", "scripted", case)
        await TestingStore(store.engine).create_suite(project.id, "smoke", [stored.id])
        return project.id
    finally:
        await store.close()


def test_a_project_and_its_stored_cases(app: typer.Typer, tmp_path: Path) -> None:
    import asyncio

    project = asyncio.run(stored_project(tmp_path))
    result = CliRunner().invoke(app, ["test", "--project", project, "--fake", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("PASS  books (scripted, 1 turn")
    lint = CliRunner().invoke(app, ["lint", "--project", project, "--data-dir", str(tmp_path)])
    assert lint.exit_code == 0 and lint.stdout == f"project {project}: no problems\n"
    missing = CliRunner().invoke(
        app, ["test", "--project", "proj_nope", "--fake", "--data-dir", str(tmp_path)]
    )
    assert missing.exit_code == 1 and "no project 'proj_nope'" in missing.output
