"""Test cases and suites, as data, and as YAML files that live beside the agent file.

Two kinds of case (``kind``):

* ``simulated`` (pathors-api.md section 2.10): a model plays the user from a persona
  prompt (``systemPrompt``) for at most ``maxTurns`` turns; then each of the
  ``acceptanceCriteria`` is judged by a model, one verdict per criterion.
* ``scripted`` (Pathweaver's own): fixed user turns, each with expectations checked after
  the reply, no judge needed::

      turns:
        - user: I'd like to book a table
          expect:
            node: ask_name                 # the node the conversation is at after the reply
            variables: {party_size: 4}     # extracted values (null: not set)
            replyContains: [name]          # substrings of the reply, case-insensitive
            replyNotContains: [sorry]
            ended: false                   # whether the session has ended

A case without ``kind`` is ``scripted`` when it has ``turns``, else ``simulated`` (the
Pathors shape has no kind). Both may set ``variables``: the session variables the
conversation starts with.

A *case file* (``*.tests.yaml``, beside the agent file it tests)::

    schemaVersion: 1
    agent: restaurant-booking.yaml        # optional; relative to this file
    cases: [...]
    suites:                               # optional: named groups of this file's cases
      - {name: smoke, cases: [books a table]}

Reading a case file only ever builds plain data (a strict ``yaml.SafeLoader``: no
duplicate keys, no aliases); every problem is reported as ``file:line: field: what to fix``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from pydantic.alias_generators import to_camel

from pathweaver.errors import UserError

CASE_FILE_VERSION = 1
MAX_TURNS = 50
_FILE_KEYS = ("schemaVersion", "agent", "cases", "suites")


class _Wire(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_defaults=True)


class Expect(_Wire):
    """What must hold after one scripted turn; each field left out is not checked."""

    node: str | None = None
    variables: dict[str, Any] | None = None
    reply_contains: list[str] = Field(default_factory=list)
    reply_not_contains: list[str] = Field(default_factory=list)
    ended: bool | None = None


class ScriptedTurn(_Wire):
    user: str = Field(min_length=1, max_length=100_000)
    expect: Expect = Field(default_factory=Expect)


class ScriptedCase(_Wire):
    kind: Literal["scripted"] = "scripted"
    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    variables: dict[str, Any] = Field(default_factory=dict)
    turns: list[ScriptedTurn] = Field(min_length=1, max_length=MAX_TURNS)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, **super().to_json()}


class SimulatedCase(_Wire):
    kind: Literal["simulated"] = "simulated"
    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    variables: dict[str, Any] = Field(default_factory=dict)
    #: The simulated user's persona and goal.
    system_prompt: str = Field(min_length=1, max_length=20_000)
    max_turns: int = Field(default=10, ge=1, le=MAX_TURNS)
    acceptance_criteria: list[Annotated[str, Field(min_length=1, max_length=2_000)]] = Field(
        min_length=1, max_length=20
    )

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, **super().to_json()}


Case = Annotated[ScriptedCase | SimulatedCase, Field(discriminator="kind")]
_CASE: TypeAdapter[ScriptedCase | SimulatedCase] = TypeAdapter(Case)


class Suite(_Wire):
    name: str = Field(min_length=1, max_length=200)
    cases: list[str] = Field(min_length=1)


class CaseError(UserError):
    """A case (or case file) that cannot be read; ``details["errors"]`` lists each problem."""


def parse_case(raw: object, where: str = "") -> ScriptedCase | SimulatedCase:
    """A case from plain data (an API body, one item of a file); raises :class:`CaseError`.

    ``where`` prefixes the field paths in messages (``cases[2]``).
    """
    if not isinstance(raw, Mapping):
        raise _fail([{"message": f"{where or 'a test case'} must be a mapping", "field": where or None}])
    data = dict(raw)
    data.setdefault("kind", "scripted" if "turns" in data else "simulated")
    try:
        return _CASE.validate_python(data)
    except ValidationError as exc:
        raise _fail([_problem(error, where) for error in exc.errors()]) from None


def _problem(error: Any, where: str) -> dict[str, Any]:
    location = [part for part in error["loc"] if part not in ("scripted", "simulated")]
    path = _dotted([where, *location] if where else location)
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "is not a known field here; check its spelling"
    elif error["type"] == "missing":
        message = "is missing"
    return {"message": f"{path}: {message}" if path else message, "field": path or None}


def _dotted(location: Sequence[Any]) -> str:
    text = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in location if part != "")
    return text.lstrip(".")


def _fail(problems: list[dict[str, Any]]) -> CaseError:
    more = len(problems) - 1
    message = problems[0]["message"] + (f" (and {more} more)" if more > 0 else "")
    return CaseError(message, details={"errors": problems}, code="invalid_test_case")


# Case files -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseFile:
    path: Path
    #: The agent file the cases test (from ``agent:``, resolved against the case file), if named.
    agent: Path | None
    cases: tuple[ScriptedCase | SimulatedCase, ...]
    suites: tuple[Suite, ...]

    def suite(self, name: str) -> list[ScriptedCase | SimulatedCase]:
        """The cases of the suite called ``name``; :class:`CaseError` when there is none."""
        found = next((suite for suite in self.suites if suite.name == name), None)
        if found is None:
            names = ", ".join(suite.name for suite in self.suites) or "none"
            raise CaseError(f"{self.path}: no suite named {name!r} (suites: {names})")
        by_name = {case.name: case for case in self.cases}
        return [by_name[case] for case in found.cases]


def read_case_file(path: str | os.PathLike[str]) -> CaseFile:
    """Read and check a case file; every problem is one ``file:line: ...`` message."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise CaseError(f"cannot read {source}: {exc.strerror or exc}") from None
    return load_case_file(text, source)


def load_case_file(text: str, source: Path) -> CaseFile:
    document, root = _parse(text, str(source))
    problems: list[dict[str, Any]] = []
    if not isinstance(document, Mapping):
        problems.append({"message": "a case file must be a mapping with schemaVersion and cases"})
        raise _located(str(source), problems, root)
    for key in document:
        if key not in _FILE_KEYS:
            message = f"{key} is not a section of a case file; the sections are {', '.join(_FILE_KEYS)}"
            problems.append({"message": message, "field": key})
    version = document.get("schemaVersion")
    if version != CASE_FILE_VERSION:
        problems.append(
            {
                "message": f"schemaVersion must be {CASE_FILE_VERSION}; got {version!r}",
                "field": "schemaVersion" if "schemaVersion" in document else None,
            }
        )
    agent = document.get("agent")
    if agent is not None and not isinstance(agent, str):
        problems.append({"message": "agent must be the path of an agent file", "field": "agent"})
    cases: list[ScriptedCase | SimulatedCase] = []
    raw_cases = document.get("cases")
    if not isinstance(raw_cases, list) or not raw_cases:
        problems.append({"message": "cases must be a list of at least one test case", "field": "cases"})
    else:
        seen: dict[object, int] = {}
        for index, raw in enumerate(raw_cases):
            name = raw.get("name") if isinstance(raw, Mapping) else None
            if isinstance(name, str) and name in seen:
                field = f"cases[{index}].name"
                message = f'{field}: "{name}" is already the name of cases[{seen[name]}]; give each case its own name'
                problems.append({"message": message, "field": field})
            seen.setdefault(name, index)
            try:
                cases.append(parse_case(raw, f"cases[{index}]"))
            except CaseError as exc:
                problems.extend(exc.details["errors"])
    suites: list[Suite] = []
    raw_suites = document.get("suites", [])
    if not isinstance(raw_suites, list):
        problems.append({"message": "suites must be a list of {name, cases}", "field": "suites"})
        raw_suites = []
    names = {raw.get("name") for raw in raw_cases or () if isinstance(raw, Mapping)}
    for index, raw in enumerate(raw_suites):
        try:
            suite = Suite.model_validate(raw)
        except ValidationError as exc:
            problems.extend(_problem(error, f"suites[{index}]") for error in exc.errors())
            continue
        for position, name in enumerate(suite.cases):
            if name not in names:
                field = f"suites[{index}].cases[{position}]"
                problems.append({"message": f"{field}: no case is named {name!r}", "field": field})
        suites.append(suite)
    if problems:
        raise _located(str(source), problems, root)
    return CaseFile(
        path=source,
        agent=(source.parent / agent) if isinstance(agent, str) else None,
        cases=tuple(cases),
        suites=tuple(suites),
    )


class _Loader(yaml.SafeLoader):
    """A SafeLoader that refuses aliases and duplicate keys (both hide mistakes)."""

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise yaml.MarkedYAMLError(
                None, None, "aliases are not allowed; write the value out", event.start_mark
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[object] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                problem = f'the key "{key}" appears twice in one mapping; keep one'
                raise yaml.MarkedYAMLError(None, None, problem, key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _parse(text: str, source: str) -> tuple[object, yaml.Node | None]:
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        return (loader.construct_document(root) if root is not None else None), root
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = "; ".join(part for part in (exc.context, exc.problem) if part)
        raise CaseError(f"{where}: not a valid case file: {problem}", code="invalid_test_case") from None
    except yaml.YAMLError as exc:
        raise CaseError(f"{source}: not valid YAML: {exc}", code="invalid_test_case") from None
    finally:
        loader.dispose()


def _line(root: yaml.Node | None, field: str | None) -> int | None:
    """The line of ``field`` (``cases[2].turns[0].user``), or of its nearest parent found."""
    node = root
    if node is None:
        return None
    line = node.start_mark.line + 1
    for key, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", field or ""):
        if isinstance(node, yaml.MappingNode) and key:
            match = next((pair for pair in node.value if pair[0].value == key), None)
            if match is None:
                return line
            line, node = match[0].start_mark.line + 1, match[1]
        elif isinstance(node, yaml.SequenceNode) and index and int(index) < len(node.value):
            node = node.value[int(index)]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def _located(source: str, problems: list[dict[str, Any]], root: yaml.Node | None) -> CaseError:
    errors = []
    for problem in problems:
        line = _line(root, problem.get("field"))
        where = f"{source}:{line}" if line is not None else source
        errors.append({**problem, "message": f"{where}: {problem['message']}", "line": line, "file": source})
    more = len(errors) - 1
    message = errors[0]["message"] + (f" (and {more} more)" if more > 0 else "")
    return CaseError(message, details={"source": source, "errors": errors}, code="invalid_test_case")
