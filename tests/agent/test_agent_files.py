"""Agent files and pathway YAML: layout, exact round trips, and errors that name file and line."""

from __future__ import annotations

import json
import os
import random
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

from pathweaver.agent.config import AgentConfig
from pathweaver.agent.files import (
    dump_agent_file,
    dump_agent_json,
    dump_pathway_yaml,
    load_agent_file,
    load_pathway_yaml,
    read_agent_file,
    write_agent_file,
)
from pathweaver.agent.pathway import Pathway, default_pathway
from pathweaver.errors import PathwayError

# Everything a pathway JSON from the API may hold: extension fields at every level, ints and
# floats, unicode, multi-line prompts, strings that YAML would otherwise read as something else.
CRAFTED: dict[str, Any] = {
    "nodes": [
        {
            "id": "greeting",
            "type": "input",
            "position": {"x": 0, "y": 0},
            "data": {
                "type": "start",
                "title": "Begrüßung 👋",
                "prompt": "Greet the caller.\nAsk how you can help.\n\n  - keep it short\n",
                "tools": ["end_call"],
                "variableKeys": ["name"],
                "color": "#ffcc00",
                "meta": {
                    "owner": "anna",
                    "tags": ["a", "b"],
                    "weights": [1, 2.5, -0.0, 1e-07, 12345678901234567890],
                },
            },
            "width": 180,
            "selected": False,
        },
        {
            "id": "ask",
            "type": "prompt",
            "position": {"x": 120.5, "y": 240},
            "data": {
                "type": "prompt",
                "label": "Ask",
                "prompt": "Trailing spaces   \nand a tab\there\r\nand a carriage return",
                "isGlobalNode": False,
                "globalNodeReason": None,
                "knowledgeBaseId": "kb-1",
                "yes": "no",
                "on": "off",
                "when": "2026-03-07",
                "zero": "012",
                "float-ish": "1.0",
                "nullish": "null",
                "empty": "",
                "colon": "a: b",
                "hash": "# not a comment",
                "quote": 'it\'s "quoted"',
                "leading": " space",
                "unicode": "日本語 — ünïcödé",
                "very long line": "word " * 60,
            },
        },
        {
            "id": "loop",
            "type": "goto",
            "position": {"x": 1e21, "y": -3},
            "data": {"type": "goto", "title": "Loop", "referenceNodeId": None},
        },
        {"id": "bye", "data": {"type": "end", "title": "Bye", "prompt": "Say goodbye."}},
    ],
    "edges": [
        {"id": "e1", "source": "greeting", "target": "ask", "data": {"condition": "The user wants: help"}},
        {
            "id": "e2",
            "source": "ask",
            "target": "bye",
            "data": {"condition": "The user says\n“goodbye”", "priority": 2},
            "animated": True,
        },
    ],
    "version": "1.0",
    "updatedAt": "2026-03-07T00:00:00.000Z",
}


def exact(value: Any) -> str:
    """A rendering that differs when keys, their order, or int-vs-float differ."""
    return json.dumps(value, ensure_ascii=False)


def crafted() -> Pathway:
    pathway = Pathway.model_validate(CRAFTED)
    assert exact(pathway.to_json()) == exact(CRAFTED)
    return pathway


AGENT = AgentConfig(
    name="Bistro",
    status="published",
    language="fr",
    timezone=None,
    first_message="Bonjour ! Une table ?",
    global_prompt="Tu es l'assistant du bistro.\nSois bref.\n",
    variable_configs=[{"key": "name", "description": "Le nom"}, {"key": "party_size", "type": "number"}],
    prompt_modules=[],
    placeholder_messages={
        "messages": {"no": ["Ett øyeblikk"], "en": ["One moment"]},
        "defaultLanguage": "en",
    },
)


# Round trips ----------------------------------------------------------------------------


def test_pathway_yaml_round_trip_is_exact() -> None:
    pathway = crafted()
    assert exact(load_pathway_yaml(dump_pathway_yaml(pathway)).to_json()) == exact(CRAFTED)


def test_agent_file_round_trip_is_exact() -> None:
    agent, pathway = load_agent_file(dump_agent_file(AGENT, crafted()))
    assert exact(pathway.to_json()) == exact(CRAFTED)
    assert exact(agent.to_json()) == exact(AGENT.to_json())


def test_agent_json_round_trip_is_exact() -> None:
    agent, pathway = load_agent_file(dump_agent_json(AGENT, crafted()), source="agent.json")
    assert exact(pathway.to_json()) == exact(CRAFTED)
    assert exact(agent.to_json()) == exact(AGENT.to_json())


@pytest.mark.parametrize("name", ["agent.yaml", "agent.yml", "agent.json"])
def test_write_then_read(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    write_agent_file(path, AGENT, crafted())
    agent, pathway = read_agent_file(path)
    assert exact(pathway.to_json()) == exact(CRAFTED)
    assert agent == AGENT
    assert [p.name for p in tmp_path.iterdir()] == [name]  # no temporary file left behind
    if name.endswith(".json"):
        assert json.loads(path.read_text(encoding="utf-8"))["schemaVersion"] == 1


def test_random_strings_survive_the_round_trip() -> None:
    rng = random.Random(20260307)
    alphabet = "ab \n\n\n\t:#-'\"{}[]|>&*!%@`,?\\é日😀\r\u2028\u2029\x85\x00\x1b\ufeff\U0001f600"
    for _ in range(500):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 24)))
        position = {"x": rng.uniform(-1e6, 1e6), "y": rng.randint(-(10**6), 10**6)}
        data = {"type": "prompt", "title": text, "prompt": text, "tools": [text, "a"], text: text}
        node = {"id": f"n{text}", "position": position, "data": data}
        pathway = Pathway.model_validate({"nodes": [node], "edges": []})
        back = load_pathway_yaml(dump_pathway_yaml(pathway)).to_json()
        assert exact(back) == exact(pathway.to_json()), repr(text)


def test_a_pathway_with_nothing_in_it() -> None:
    empty = Pathway.model_validate({"nodes": [], "edges": []})
    assert dump_pathway_yaml(empty) == "nodes: []\n\nedges: []\n"
    assert load_pathway_yaml(dump_pathway_yaml(empty)).to_json() == {"nodes": [], "edges": []}


def test_default_values_are_left_out_but_come_back() -> None:
    text = dump_agent_file(AgentConfig(), default_pathway())
    agent_section = text.split("pathway:")[0]
    assert agent_section == (
        "schemaVersion: 1\n\nagent:\n  name: Agent\n  type: monolithic\n  status: draft\n  timezone: UTC\n\n"
    )
    agent, _ = load_agent_file(text)
    assert agent == AgentConfig()


# Layout -----------------------------------------------------------------------------------


def test_the_layout_reads_well() -> None:
    text = dump_agent_file(AGENT, crafted())
    assert text.startswith("schemaVersion: 1\n\nagent:\n  name: Bistro\n")
    assert "  globalPrompt: |\n    Tu es l'assistant du bistro.\n    Sois bref.\n" in text
    assert (
        "    - id: greeting\n"
        "      type: input\n"
        "      position: {x: 0, y: 0}\n"
        "      data:\n"
        "        type: start\n"
        "        title: Begrüßung 👋\n"
        "        prompt: |\n"
        "          Greet the caller.\n"
        "          Ask how you can help.\n"
        "\n"
        "            - keep it short\n"
        "        tools: [end_call]\n"
        "        variableKeys: [name]\n"
    ) in text
    assert "\n\n    - id: ask\n" in text  # a blank line between nodes
    assert (
        "      data:\n        type: prompt\n        label: Ask\n" in text
    )  # type, title/label, prompt first
    assert "    - id: e1\n      source: greeting\n      target: ask\n      data:\n" in text
    assert "日本語 — ünïcödé" in text
    assert "\\u" not in text and "\\U" not in text
    assert "&" not in text and "*" not in text.replace("**", "")  # no anchors or aliases


def test_the_layout_is_plain_yaml_any_tool_reads() -> None:
    document = yaml.safe_load(dump_agent_file(AGENT, crafted()))
    assert exact(document["pathway"]) == exact(CRAFTED)


# Reading what people write ----------------------------------------------------------------

MINIMAL = """\
schemaVersion: 1
agent:
  name: Demo
pathway:
  nodes:
    - id: start
      data:
        type: start
        title: Start
        prompt: Hi
  edges: []
"""


def load_error(text: str, source: str = "agent.yaml") -> PathwayError:
    with pytest.raises(PathwayError) as caught:
        load_agent_file(text, source)
    return caught.value


def test_a_hand_written_file_loads() -> None:
    agent, pathway = load_agent_file(MINIMAL)
    assert agent.name == "Demo"
    assert pathway.to_json() == {
        "nodes": [{"id": "start", "data": {"type": "start", "title": "Start", "prompt": "Hi"}}],
        "edges": [],
    }


def test_yaml_one_one_surprises_are_avoided() -> None:
    text = MINIMAL.replace(
        "prompt: Hi", "prompt: Hi\n        date: 2026-03-07\n        answer: no\n        ok: true"
    )
    _, pathway = load_agent_file(text)
    extra = pathway.nodes[0].data.model_extra
    assert extra == {"date": "2026-03-07", "answer": "no", "ok": True}


def test_malformed_yaml_names_the_file_and_line() -> None:
    error = load_error("schemaVersion: 1\nagent:\n  name: Demo\n   oops: [\n", "bistro.yaml")
    assert error.message == "bistro.yaml:4: not valid YAML: mapping values are not allowed here"


def test_tabs_get_a_hint() -> None:
    error = load_error("schemaVersion: 1\nagent:\n\tname: Demo\n")
    assert error.message.startswith("agent.yaml:3: not valid YAML: found character '\\t'")
    assert error.message.endswith("(indent with spaces, not tabs)")


def test_malformed_json_names_the_file_and_line() -> None:
    error = load_error('{\n  "schemaVersion": 1,\n  "agent": {,}\n}\n', "bistro.json")
    assert error.message == "bistro.json:3: not valid JSON: Expecting property name enclosed in double quotes"


def test_a_duplicate_key_is_refused() -> None:
    error = load_error(MINIMAL.replace("  name: Demo\n", "  name: Demo\n  name: Other\n"))
    assert (
        error.message
        == 'agent.yaml:4: the key "name" appears twice in one mapping (first on line 3); keep one'
    )
    error = load_error('{"schemaVersion": 1, "schemaVersion": 1}', "a.json")
    assert error.message == 'a.json: the key "schemaVersion" appears twice in one object; keep one'


def test_an_alias_is_refused() -> None:
    text = MINIMAL.replace("agent:\n  name: Demo", "agent: &agent\n  name: Demo\nextra: *agent")
    assert load_error(text).message == (
        "agent.yaml:4: the alias *agent is not allowed in agent files; write the value out"
    )


def test_a_key_that_is_not_a_string_is_refused() -> None:
    error = load_error(MINIMAL.replace("  name: Demo", "  name: Demo\n  1: one"))
    assert error.message == "agent.yaml:4: the key 1 is not a string; put it in quotes"


def test_values_json_cannot_hold_are_refused() -> None:
    error = load_error(MINIMAL.replace("  edges: []", "  edges: []\n  x: .inf\n  y: !!binary aGk="))
    assert error.message == (
        "agent.yaml:12: pathway.x: inf is not a number JSON can hold; write a finite number (and 1 more)"
    )
    assert error.details["errors"][1]["line"] == 13


def test_a_shape_error_in_the_pathway_names_file_line_and_field() -> None:
    error = load_error(MINIMAL.replace("        type: start", "        type: [start]"))
    assert error.message == (
        'agent.yaml:8: nodes[0] (id "start"): data.type must be one of start, prompt, end, goto; got a list'
    )
    assert error.details == {
        "source": "agent.yaml",
        "errors": [
            {
                "code": "wrong_type",
                "message": error.message,
                "nodeId": "start",
                "field": "pathway.nodes[0].data.type",
                "line": 8,
            }
        ],
    }


def test_a_missing_field_points_at_its_parent() -> None:
    error = load_error(MINIMAL.replace("    - id: start\n", "    - title: oops\n"))
    assert error.message == "agent.yaml:6: nodes[0]: id is missing; give every node a unique id"


def test_a_json_file_gets_line_numbers_too() -> None:
    document = json.loads(dump_agent_json(AgentConfig(), default_pathway()))
    document["pathway"]["edges"][0]["target"] = 5
    error = load_error(json.dumps(document, indent=2), "agent.json")
    assert error.message.startswith('agent.json:42: edges[0] (id "edge-start-end"): target must be a string')


def test_unknown_agent_settings_are_named_with_a_suggestion() -> None:
    text = MINIMAL.replace(
        "  name: Demo\n",
        "  name: Demo\n  globalPromt: Hi\n  executionMode: fast\n  variableConfigs:\n    - key: city\n      typ: string\n",
    )
    error = load_error(text)
    assert [item["message"] for item in error.details["errors"]] == [
        'agent.yaml:4: agent.globalPromt is not a known setting (did you mean "globalPrompt"?); rename or remove it',
        'agent.yaml:8: agent.variableConfigs[0].typ is not a known setting (did you mean "type"?); rename or remove it',
        "agent.yaml:5: agent.executionMode: Input should be 'smart', 'balance' or 'turbo'",
    ]
    assert error.message == error.details["errors"][0]["message"] + " (and 2 more)"


def test_snake_case_agent_settings_are_accepted() -> None:
    agent, _ = load_agent_file(MINIMAL.replace("  name: Demo\n", "  name: Demo\n  global_prompt: Be kind.\n"))
    assert agent.global_prompt == "Be kind."


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- 1\n", "agent.yaml:1: an agent file must be a mapping of schemaVersion, agent, pathway"),
        ("", "agent.yaml: an agent file must be a mapping of schemaVersion, agent, pathway"),
        (
            MINIMAL.replace("schemaVersion: 1\n", ""),
            "agent.yaml:1: schemaVersion is missing; add schemaVersion: 1",
        ),
        (
            MINIMAL.replace("schemaVersion: 1", "schemaVersion: '1'"),
            "agent.yaml:1: schemaVersion must be 1; got '1'",
        ),
        (
            MINIMAL.replace("schemaVersion: 1", "schemaVersion: 2"),
            "agent.yaml:1: schemaVersion 2 is newer than",
        ),
        (MINIMAL.split("pathway:")[0], "agent.yaml:1: the pathway section is missing"),
        (MINIMAL.replace("agent:\n  name: Demo\n", ""), "agent.yaml:1: the agent section is missing"),
        (MINIMAL.replace("agent:\n  name: Demo", "agent: Demo"), "agent.yaml:2: agent must be a mapping of"),
        (
            MINIMAL + "agnet: {}\n",
            'agent.yaml:12: agnet is not a section of an agent file (did you mean "agent"?)',
        ),
        (
            "schemaVersion: 1\nagent: {}\nnodes: []\nedges: []\n",
            "agent.yaml:3: nodes is not a section of an agent file",
        ),
    ],
)
def test_the_file_structure_is_checked(text: str, expected: str) -> None:
    assert load_error(text).message.startswith(expected)


def test_reading_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PathwayError, match=r"^cannot read .*nowhere\.yaml: No such file or directory$"):
        read_agent_file(tmp_path / "nowhere.yaml")


def test_reading_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: café".encode("latin-1"))
    with pytest.raises(PathwayError, match=r"latin1\.yaml: not UTF-8 text"):
        read_agent_file(path)


def test_load_pathway_yaml_names_the_source_and_line() -> None:
    with pytest.raises(PathwayError) as caught:
        load_pathway_yaml("nodes:\n  - id: a\n    data: {type: 3}\n", source="flow.yaml")
    assert caught.value.message == (
        'flow.yaml:3: nodes[0] (id "a"): data.type must be one of start, prompt, end, goto; got the number 3'
    )


@pytest.mark.parametrize(
    "prompt", ["Two breaks\n\n", "\n", "NEL\x85inside\nand a break", "LS\u2028PS\u2029\n"]
)
def test_text_a_block_cannot_hold_faithfully_is_quoted(prompt: str) -> None:
    first = {"id": "a", "data": {"type": "start", "title": "A", "prompt": prompt}}
    second = {"id": "b", "data": {"type": "end", "title": "B", "prompt": prompt}}
    pathway = Pathway.model_validate({"nodes": [first, second], "edges": []})
    text = dump_pathway_yaml(pathway)
    assert "..." not in text
    assert exact(load_pathway_yaml(text).to_json()) == exact(pathway.to_json())


def test_a_written_file_gets_ordinary_permissions(tmp_path: Path) -> None:
    path = tmp_path / "agent.yaml"
    old_umask = os.umask(0o022)
    try:
        write_agent_file(path, AGENT, crafted())
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # as any new file, not tempfile's private 0600


def test_a_json_file_with_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "agent.json"
    path.write_text(dump_agent_json(AGENT, crafted()), encoding="utf-8-sig")
    agent, _ = read_agent_file(path)
    assert agent == AGENT


def test_a_yaml_file_written_as_one_flow_mapping() -> None:
    agent, pathway = load_agent_file(
        "{schemaVersion: 1, agent: {name: Flow}, pathway: {nodes: []}}", "flow.yaml"
    )
    assert (agent.name, pathway.nodes) == ("Flow", [])
