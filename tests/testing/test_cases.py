"""Test cases and case files: the two kinds, and errors that name the file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from pathweaver.testing.cases import (
    CaseError,
    ScriptedCase,
    SimulatedCase,
    load_case_file,
    parse_case,
    read_case_file,
)

GOOD = """\
schemaVersion: 1
agent: restaurant-booking.yaml
cases:
  - name: books a table
    variables: {tier: gold}
    turns:
      - user: I'd like to book a table
        expect:
          node: ask_name
          replyContains: [name]
      - user: Ann
        expect: {variables: {customer_name: Ann}, ended: false}
  - name: asks for a human
    systemPrompt: You are in a hurry and want to speak to the manager.
    maxTurns: 4
    acceptanceCriteria:
      - The agent offers a call back from the manager
suites:
  - name: smoke
    cases: [books a table]
"""


def errors_of(text: str, name: str = "cases.tests.yaml") -> list[dict[str, object]]:
    with pytest.raises(CaseError) as caught:
        load_case_file(text, Path(name))
    return list(caught.value.details["errors"])


def test_a_case_file_with_both_kinds_and_a_suite(tmp_path: Path) -> None:
    path = tmp_path / "restaurant-booking.tests.yaml"
    path.write_text(GOOD, encoding="utf-8")
    loaded = read_case_file(path)
    assert loaded.agent == tmp_path / "restaurant-booking.yaml"
    scripted, simulated = loaded.cases
    assert isinstance(scripted, ScriptedCase) and isinstance(simulated, SimulatedCase)
    assert scripted.turns[0].expect.reply_contains == ["name"]
    assert scripted.variables == {"tier": "gold"}
    assert simulated.max_turns == 4
    assert [case.name for case in loaded.suite("smoke")] == ["books a table"]
    with pytest.raises(CaseError, match="no suite named 'nightly' \\(suites: smoke\\)"):
        loaded.suite("nightly")


def test_the_pathors_shape_is_a_simulated_case() -> None:
    case = parse_case({"name": "n", "systemPrompt": "p", "maxTurns": 3, "acceptanceCriteria": ["c"]})
    assert isinstance(case, SimulatedCase)
    assert case.to_json() == {
        "kind": "simulated",
        "name": "n",
        "systemPrompt": "p",
        "maxTurns": 3,
        "acceptanceCriteria": ["c"],
    }
    assert parse_case(case.to_json()) == case


def test_a_misspelt_field_names_file_line_and_field() -> None:
    text = GOOD.replace("          node: ask_name", "          nod: ask_name")
    (error,) = errors_of(text)
    assert error["message"] == (
        "cases.tests.yaml:9: cases[0].turns[0].expect.nod: is not a known field here; check its spelling"
    )
    assert (error["line"], error["field"], error["file"]) == (
        9,
        "cases[0].turns[0].expect.nod",
        "cases.tests.yaml",
    )


def test_every_problem_is_listed_with_its_line() -> None:
    text = """\
schemaVersion: 1
cases:
  - name: a
    turns:
      - user: 5
  - name: b
    systemPrompt: you
    maxTurns: 0
    acceptanceCriteria: []
  - name: a
    turns: [{user: hi}]
suites:
  - name: s
    cases: [a, zz]
"""
    messages = [error["message"] for error in errors_of(text)]
    assert messages == [
        "cases.tests.yaml:5: cases[0].turns[0].user: Input should be a valid string",
        "cases.tests.yaml:8: cases[1].maxTurns: Input should be greater than or equal to 1",
        "cases.tests.yaml:9: cases[1].acceptanceCriteria: List should have at least 1 item after validation, not 0",
        'cases.tests.yaml:10: cases[2].name: "a" is already the name of cases[0]; give each case its own name',
        "cases.tests.yaml:14: suites[0].cases[1]: no case is named 'zz'",
    ]


def test_broken_yaml_and_refused_yaml_name_the_line() -> None:
    with pytest.raises(
        CaseError, match=r"^x.yaml:3: not a valid case file: .*mapping values are not allowed"
    ):
        load_case_file("schemaVersion: 1\ncases:\n  - name: a: b\n", Path("x.yaml"))
    with pytest.raises(CaseError, match=r'^x.yaml:3: not a valid case file: the key "cases" appears twice'):
        load_case_file("schemaVersion: 1\ncases: []\ncases: []\n", Path("x.yaml"))
    with pytest.raises(CaseError, match=r"^x.yaml:4: not a valid case file: aliases are not allowed"):
        load_case_file("schemaVersion: 1\nbase: &b {user: hi}\ncases:\n  - *b\n", Path("x.yaml"))


def test_file_level_problems() -> None:
    messages = [e["message"] for e in errors_of("schemaVersion: 2\ntests: []\n")]
    assert messages == [
        "cases.tests.yaml:2: tests is not a section of a case file; the sections are schemaVersion, agent, cases, suites",
        "cases.tests.yaml:1: schemaVersion must be 1; got 2",
        "cases.tests.yaml:1: cases must be a list of at least one test case",
    ]
    assert [e["message"] for e in errors_of("- a\n")] == [
        "cases.tests.yaml:1: a case file must be a mapping with schemaVersion and cases"
    ]


def test_an_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(CaseError, match=r"cannot read .*missing.yaml"):
        read_case_file(tmp_path / "missing.yaml")


def test_a_case_body_error_from_the_api_names_the_field() -> None:
    with pytest.raises(CaseError) as caught:
        parse_case({"name": "x", "kind": "scripted", "turns": [{"user": "hi", "expect": {"ended": "maybe"}}]})
    assert (
        caught.value.message
        == "turns[0].expect.ended: Input should be a valid boolean, unable to interpret input"
    )
    assert caught.value.status == 400
