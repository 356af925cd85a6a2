"""The routing benchmark keeps working: its labels are sound and its smoke run reports.

Nothing here reads an accuracy: the scripted model routes by word overlap, so its figures
only show that the plumbing works (bench/routing/README.md).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from bench.routing.dataset import PARTS, Conversation, PathwaySet, label_problems, load, next_nodes
from bench.routing.scoring import same_value

from pathweaver.testing.cases import ScriptedCase, parse_case

ROOT = Path(__file__).resolve().parents[2]
FIGURES = {
    "nodeAccuracy",
    "shouldMove",
    "shouldStay",
    "conversationsFullyCorrect",
    "extractionPrecision",
    "extractionRecall",
    "modelCallsPerTurn",
    "promptTokensPerTurn",
    "completionTokensPerTurn",
    "secondsPerTurn",
}


def test_every_label_names_a_node_of_its_pathway_and_a_move_the_engine_can_make() -> None:
    sets = load(PARTS)
    assert label_problems(sets) == []
    names = {item.name for item in sets}
    assert len(names) >= 8
    assert sum(item.turns for item in sets) >= 130
    heldout = {c.pathway for item in sets for c in item.conversations if c.part == "heldout"}
    tuning = {c.pathway for item in sets for c in item.conversations if c.part == "tuning"}
    assert {"pizza-order", "vet-clinic"} <= heldout - tuning  # held out whole
    assert all(len(c.case.turns) >= 3 for item in sets for c in item.conversations)


def test_the_label_check_catches_a_typo_and_an_impossible_jump() -> None:
    restaurant = next(item for item in load(("tuning",)) if item.name == "restaurant-booking")
    case = parse_case(
        {
            "name": "bad labels",
            "turns": [
                {"user": "a table please", "expect": {"node": "ask_nmae"}},
                {"user": "Sam", "expect": {"node": "confirm", "variables": {"nmae": "Sam"}}},
                {"user": "yes", "expect": {"node": "booked"}},
                {"user": "bye", "expect": {"node": "farewell"}},
            ],
        }
    )
    assert isinstance(case, ScriptedCase)
    source = restaurant.conversations[0].source
    conversation = Conversation(restaurant.name, "tuning", case, source)
    broken = PathwaySet(
        restaurant.name, restaurant.agent_file, restaurant.agent, restaurant.pathway, (conversation,)
    )
    problems = "\n".join(label_problems([broken]))
    assert "no node 'ask_nmae'" in problems
    assert "variable 'nmae' is not declared" in problems
    assert "comes after the end node 'booked'" in problems
    assert "talk_to_human" in next_nodes(restaurant.pathway, "ask_date")  # a global, from anywhere
    # A global node leaves only by its own edges.
    assert next_nodes(restaurant.pathway, "talk_to_human") == {
        "talk_to_human",
        "callback_arranged",
        "ask_name",
    }


@pytest.mark.parametrize(
    ("expected", "actual", "same"),
    [
        (4, 4.0, True),
        (4, "4", True),
        (8000, 800, False),
        ("Friday 7:30pm", "friday at 7:30 PM", True),
        ("saturday 8", "Saturday around 8pm", True),
        ("Sarah Jenkins", "Sarah", True),
        ("07700 900461", "07700900461", True),
        ("four people", "4 people", True),
        ("Riverside", "Oakfield", False),
        (None, None, True),
        (None, "x", False),
        ("x", None, False),
    ],
)
def test_values_are_compared_loosely_for_text_and_exactly_for_numbers(
    expected: object, actual: object, same: bool
) -> None:
    assert same_value(expected, actual) is same


def test_the_fake_smoke_run_reports_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "routing.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.routing",
            "--fake",
            "--smoke",
            "--mode",
            "smart,turbo",
            "--json",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    assert done.stdout.startswith("Routing benchmark: part tuning (smoke suites)")
    report = json.loads(out.read_text())
    dataset = report["dataset"]
    assert dataset["smoke"] is True and dataset["parts"] == ["tuning"]
    assert 0 < dataset["turns"] <= 20
    assert [(run["model"], run["mode"]) for run in report["runs"]] == [("fake", "smart"), ("fake", "turbo")]
    for run in report["runs"]:
        assert set(run["summary"]) >= FIGURES
        assert run["errors"] == []
        assert set(run["byPathway"]) == set(dataset["pathways"])
        for pathway in run["byPathway"].values():
            assert (
                sum(sum(row.values()) for row in pathway["confusion"].values())
                == pathway["nodeAccuracy"]["total"]
            )
        turns = [turn for conversation in run["conversations"] for turn in conversation["turns"]]
        assert len(turns) == dataset["turns"] == run["summary"]["nodeAccuracy"]["total"]
        sent = [turn for turn in turns if turn["usage"] is not None]
        assert sent and all(turn["usage"]["calls"] >= 1 and turn["seconds"] >= 0 for turn in sent)
