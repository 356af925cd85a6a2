"""Agents and pathways as files that live in git and read well in a pull request.

An *agent file* is YAML (or JSON) holding the agent config and its pathway::

    schemaVersion: 1
    agent: {...}          # the agent config's wire fields (pathors-api.md section 2.6)
    pathway:
      nodes: [...]        # the stored pathway shape (section 3.1)
      edges: [...]

Files are written for people: keys in a fixed, human order (``id``, ``type``, ``position``,
``data`` on a node; ``type``, ``title``, ``prompt`` first in its data; ``id``, ``source``,
``target``, ``data`` on an edge), multi-line prompts as ``|`` blocks, positions and short
lists on one line, a blank line between nodes. Agent settings left at their default are
left out. Reading gives back exactly what was written: for a pathway ``p``,
``load_pathway_yaml(dump_pathway_yaml(p)).to_json() == p.to_json()``, same keys, values and
order, ints kept apart from floats, unknown extension fields kept; the agent config likewise.
Whatever the pathway holds besides nodes and edges (``version``, ``updatedAt``) is written
too; a caller who wants a file free of them leaves them out of the ``Pathway``.

Reading only ever builds plain data (a ``yaml.SafeLoader`` subclass, made stricter: no
aliases, no duplicate or non-string keys, no dates; ``yes``/``no`` stay strings), then
checks the shape with ``parse_pathway`` and the agent config's own model. Errors name the
file, the line and the field. Whether the pathway makes sense is ``validate_pathway``'s
job; loading does not run it.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
import secrets
import textwrap
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from pathweaver.agent.config import AgentConfig, unknown_fields
from pathweaver.agent.pathway import Pathway
from pathweaver.agent.validation import parse_pathway
from pathweaver.errors import PathwayError

#: The version of the agent file's layout; a file of a newer version is refused.
AGENT_FILE_VERSION = 1

_NODE_ORDER = ("id", "type", "position", "data")
_NODE_DATA_ORDER = ("type", "title", "label", "prompt")
_EDGE_ORDER = ("id", "source", "target", "data")
_EDGE_DATA_ORDER = ("condition", "expression")
_AGENT_ORDER = (
    "name",
    "type",
    "status",
    "language",
    "timezone",
    "executionMode",
    "firstMessage",
    "memoryEnabled",
    "searchKnowledgeBaseEnabled",
    "variableConfigs",
    "globalPrompt",
    "promptModules",
)
#: Agent settings written even at their default value, so a reader sees them. (An unset
#: ``executionMode`` is left out: it means "the server's choice for its model".)
_AGENT_ALWAYS = frozenset({"name", "type", "status", "timezone"})
_FILE_KEYS = ("schemaVersion", "agent", "pathway")


# Writing --------------------------------------------------------------------------------


def dump_agent_file(agent: AgentConfig, pathway: Pathway) -> str:
    """The agent file (YAML) for an agent config and its pathway."""
    return (
        f"schemaVersion: {AGENT_FILE_VERSION}\n\n"
        + _yaml({"agent": _agent_document(agent)})
        + "\npathway:\n"
        + textwrap.indent(_pathway_yaml(_pathway_document(pathway)), "  ")
    )


def dump_agent_json(agent: AgentConfig, pathway: Pathway) -> str:
    """The agent file as JSON (same content and key order as the YAML one)."""
    document = {
        "schemaVersion": AGENT_FILE_VERSION,
        "agent": _agent_document(agent),
        "pathway": _pathway_document(pathway),
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def dump_pathway_yaml(pathway: Pathway) -> str:
    """The pathway alone (its stored JSON shape) as YAML, laid out like an agent file's."""
    return _pathway_yaml(_pathway_document(pathway))


def write_agent_file(path: str | os.PathLike[str], agent: AgentConfig, pathway: Pathway) -> None:
    """Write an agent file: JSON when the name ends in ``.json``, else YAML.

    The file is replaced in one step (written beside it, then renamed), so a reader never
    sees half of it.
    """
    target = Path(path)
    as_json = target.suffix.lower() == ".json"
    text = dump_agent_json(agent, pathway) if as_json else dump_agent_file(agent, pathway)
    # Created like any new file (mode from the umask), unlike tempfile's private 0600 files.
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    try:
        with temporary.open("x", encoding="utf-8", newline="\n") as out:
            out.write(text)
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _agent_document(agent: AgentConfig) -> dict[str, Any]:
    wire, defaults = agent.to_json(), AgentConfig().to_json()
    kept = {key: value for key, value in wire.items() if key in _AGENT_ALWAYS or value != defaults.get(key)}
    return _ordered(kept, _AGENT_ORDER)


def _pathway_document(pathway: Pathway) -> dict[str, Any]:
    document = pathway.to_json()
    nodes = [_node_document(node) for node in document.get("nodes", [])]
    edges = [_ordered(edge, _EDGE_ORDER, data=_EDGE_DATA_ORDER) for edge in document.get("edges", [])]
    rest = {key: value for key, value in document.items() if key not in ("nodes", "edges")}
    return {"nodes": nodes, "edges": edges, **rest}


def _node_document(node: dict[str, Any]) -> dict[str, Any]:
    ordered = _ordered(node, _NODE_ORDER, data=_NODE_DATA_ORDER)
    position = ordered.get("position")
    if isinstance(position, dict) and all(_is_scalar(value) for value in position.values()):
        ordered["position"] = _Flow(position)
    return ordered


def _ordered(item: dict[str, Any], first: Sequence[str], data: Sequence[str] = ()) -> dict[str, Any]:
    """``item`` with the keys in ``first`` leading (in that order), the rest as they were."""
    out = {key: item[key] for key in first if key in item}
    out.update(item)
    if data and isinstance(out.get("data"), dict):
        out["data"] = _ordered(out["data"], data)
    return out


def _pathway_yaml(document: dict[str, Any]) -> str:
    """Nodes, then edges, a blank line between items, then anything else (version ...)."""
    sections = []
    for key in ("nodes", "edges"):
        items = document[key]
        if items:
            sections.append(f"{key}:\n" + "\n".join(textwrap.indent(_yaml([item]), "  ") for item in items))
        else:
            sections.append(_yaml({key: items}))
    rest = {key: value for key, value in document.items() if key not in ("nodes", "edges")}
    if rest:
        sections.append(_yaml(rest))
    return "\n".join(sections)


class _Flow(dict[str, Any]):
    """A mapping written on one line: ``{x: 0, y: 200}``."""


def _is_scalar(value: object) -> bool:
    return (
        value is None
        or isinstance(value, bool | int | float)
        or (isinstance(value, str) and "\n" not in value)
    )


class _Dumper(yaml.SafeDumper):
    """YAML 1.1 as PyYAML writes it (so any YAML tool reads it), with human layout."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)  # indent list items under their key

    def ignore_aliases(self, data: Any) -> bool:
        return True  # never write anchors: every value is written out where it is


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    """Multi-line text as a ``|`` block, except where PyYAML cannot write one faithfully.

    Those are: text holding NEL (written raw, read back as "\n"), and text ending in two
    line breaks (a ``|+`` block, which swallows the blank line that follows it in a file
    put together from parts, as ours is). They are written double-quoted, with escapes.
    """
    breaks = "\n\x85\u2028\u2029"
    keeps_breaks = value[-1:] != "" and value[-1] in breaks and (len(value) == 1 or value[-2] in breaks)
    if "\x85" in value or keeps_breaks:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"')
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


def _represent_list(dumper: yaml.SafeDumper, value: list[Any]) -> yaml.Node:
    short = (
        value and all(_is_scalar(item) for item in value) and len(json.dumps(value, ensure_ascii=False)) <= 72
    )
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=bool(short))


_Dumper.add_representer(str, _represent_str)
_Dumper.add_representer(list, _represent_list)
_Dumper.add_representer(
    _Flow, lambda dumper, value: dumper.represent_mapping("tag:yaml.org,2002:map", value, True)
)


def _yaml(value: object) -> str:
    return yaml.dump(value, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1 << 16)


# Reading --------------------------------------------------------------------------------


def read_agent_file(path: str | os.PathLike[str]) -> tuple[AgentConfig, Pathway]:
    """Read an agent file (YAML, or JSON when it ends in ``.json``); see ``load_agent_file``."""
    return load_agent_file(_read_text(path), source=str(path))


def load_agent_file(text: str, source: str = "<string>") -> tuple[AgentConfig, Pathway]:
    """Parse an agent file. ``source`` names it in errors (and ``.json`` selects JSON).

    Raises ``PathwayError`` listing every problem found, each as ``file:line: message``;
    ``details`` holds ``{"source", "errors": [{"message", "line"?, "field"?, ...}]}``.
    """
    document, locate = _parse(text, source)
    problems: list[dict[str, Any]] = []
    if not isinstance(document, Mapping):
        raise _located(
            source, [{"message": f"an agent file must be a mapping of {', '.join(_FILE_KEYS)}"}], locate
        )
    for key in document:
        if key not in _FILE_KEYS:
            hint = (
                "; this looks like a pathway alone: put it under pathway:"
                if key in ("nodes", "edges")
                else ""
            )
            message = f"{key} is not a section of an agent file{_did_you_mean(key, _FILE_KEYS)}{hint}"
            problems.append({"message": f"{message}; the sections are {', '.join(_FILE_KEYS)}", "field": key})
    version = document.get("schemaVersion")
    if version is None:
        problems.append(
            {"message": f"schemaVersion is missing; add schemaVersion: {AGENT_FILE_VERSION} at the top"}
        )
    elif isinstance(version, bool) or not isinstance(version, int) or version < 1:
        problems.append(
            {
                "message": f"schemaVersion must be {AGENT_FILE_VERSION}; got {version!r}",
                "field": "schemaVersion",
            }
        )
    elif version > AGENT_FILE_VERSION:
        message = (
            f"schemaVersion {version} is newer than this Pathweaver reads ({AGENT_FILE_VERSION}); upgrade it"
        )
        problems.append({"message": message, "field": "schemaVersion"})
    agent: AgentConfig | None = None
    if "agent" not in document:
        problems.append({"message": "the agent section is missing; add agent: with at least a name"})
    else:
        agent, agent_problems = _load_agent(document["agent"])
        problems.extend(agent_problems)
    pathway: Pathway | None = None
    if "pathway" not in document:
        problems.append({"message": "the pathway section is missing; add pathway: with nodes and edges"})
    else:
        try:
            pathway = parse_pathway(document["pathway"])
        except PathwayError as exc:
            problems.extend(_under("pathway", item) for item in exc.details["errors"])
    if problems or agent is None or pathway is None:
        raise _located(source, problems, locate)
    return agent, pathway


def load_pathway_yaml(text: str, source: str = "<string>") -> Pathway:
    """Parse a pathway written by ``dump_pathway_yaml`` (or its JSON); errors as in ``load_agent_file``."""
    document, locate = _parse(text, source)
    try:
        return parse_pathway(document)
    except PathwayError as exc:
        raise _located(source, list(exc.details["errors"]), locate) from None


def _load_agent(raw: object) -> tuple[AgentConfig | None, list[dict[str, Any]]]:
    if not isinstance(raw, Mapping):
        return None, [
            {
                "message": "agent must be a mapping of agent settings (name, globalPrompt, ...)",
                "field": "agent",
            }
        ]
    problems = [
        {
            "message": f"agent.{path} is not a known setting{hint}; rename or remove it",
            "field": f"agent.{path}",
        }
        for path, hint in unknown_fields(AgentConfig, raw)
    ]
    try:
        agent = AgentConfig.model_validate(raw)
    except ValidationError as exc:
        for error in exc.errors():
            path = _dotted(("agent", *error["loc"]))
            problems.append({"message": f"{path}: {error['msg']}", "field": path})
        return None, problems
    return agent, problems


# Parsing text into plain data, remembering where each value was --------------------------


class _Locator:
    """Finds the line of a field (``pathway.nodes[3].data.type``) in the parsed text."""

    def __init__(self, root: yaml.Node | None) -> None:
        self.root = root

    def line(self, field: str | None) -> int | None:
        node = self.root
        if node is None:
            return None
        line = node.start_mark.line + 1
        for step in _steps(field or ""):
            if isinstance(node, yaml.MappingNode) and isinstance(step, str):
                match = next(
                    ((k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == step),
                    None,
                )
                if match is None:
                    return line
                line, node = match[0].start_mark.line + 1, match[1]
            elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value):
                node = node.value[step]
                line = node.start_mark.line + 1
            else:
                return line
        return line


def _steps(field: str) -> list[str | int]:
    return [int(index) if index else key for key, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", field)]


def _parse(text: str, source: str) -> tuple[object, _Locator]:
    """Plain data from JSON (a ``.json`` source, or text that parses as JSON) or YAML."""
    if source.lower().endswith(".json") or text.lstrip().startswith("{"):
        try:
            document = json.loads(text, object_pairs_hook=_json_object)
        except json.JSONDecodeError as exc:
            if not source.lower().endswith(".json"):
                return _parse_yaml(text, source)  # a YAML flow mapping, say
            raise PathwayError(
                f"{source}:{exc.lineno}: not valid JSON: {exc.msg}", code="invalid_pathway"
            ) from None
        except ValueError as exc:  # a duplicate key
            raise PathwayError(f"{source}: {exc}", code="invalid_pathway") from None
        try:  # JSON is YAML; the YAML parser only lends its line numbers here
            return document, _Locator(_compose(text))
        except yaml.YAMLError:
            return document, _Locator(None)
    return _parse_yaml(text, source)


def _parse_yaml(text: str, source: str) -> tuple[object, _Locator]:
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        document = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = "; ".join(part for part in (exc.problem, exc.context) if part)
        prefix = "" if isinstance(exc, _Refused) else "not valid YAML: "
        if "'\\t'" in problem:
            problem += " (indent with spaces, not tabs)"
        raise PathwayError(f"{where}: {prefix}{problem}", code="invalid_pathway") from None
    except yaml.YAMLError as exc:
        raise PathwayError(f"{source}: not valid YAML: {exc}", code="invalid_pathway") from None
    finally:
        loader.dispose()
    problems = [{"message": message, "field": path} for path, message in _not_json(document)]
    if problems:
        raise _located(source, problems, _Locator(root))
    return document, _Locator(root)


def _compose(text: str) -> yaml.Node | None:
    loader = _Loader(text)
    try:
        return loader.get_single_node()
    finally:
        loader.dispose()


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f'the key "{key}" appears twice in one object; keep one')
        out[key] = value
    return out


def _not_json(value: object, path: str = "") -> Iterator[tuple[str, str]]:
    """Values YAML can hold but JSON cannot (``!!binary``, ``.inf``, sets ...)."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _not_json(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _not_json(item, f"{path}[{index}]")
    elif isinstance(value, float) and not math.isfinite(value):
        yield path, f"{path}: {value} is not a number JSON can hold; write a finite number"
    elif value is not None and not isinstance(value, str | int | float | bool):
        kind = type(value).__name__
        yield path, f"{path}: a value of type {kind} cannot be held in JSON; write a string or a number"


_BOOL = "tag:yaml.org,2002:bool"


def _json_resolvers() -> dict[Any, list[tuple[str, re.Pattern[str]]]]:
    """SafeLoader's implicit types, less dates and the yes/no/on/off booleans."""
    resolvers: dict[Any, list[tuple[str, re.Pattern[str]]]] = {}
    for first, entries in yaml.SafeLoader.yaml_implicit_resolvers.items():
        kept = [
            (tag, pattern) for tag, pattern in entries if tag not in (_BOOL, "tag:yaml.org,2002:timestamp")
        ]
        if kept:
            resolvers[first] = kept
    for first in "tTfF":
        resolvers.setdefault(first, []).append((_BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")))
    return resolvers


class _Refused(yaml.MarkedYAMLError):
    """Valid YAML that an agent file does not accept (an alias, a duplicate key ...)."""


class _Loader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that builds only what JSON can hold, and refuses what hides mistakes.

    Refused: aliases (``*name``: a reviewer would have to chase them, and they can blow up
    in size), duplicate keys (the second silently wins otherwise: a merge accident), and
    keys that are not strings. Dates stay strings, and only ``true``/``false`` are booleans.
    """

    yaml_implicit_resolvers = _json_resolvers()

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            problem = f"the alias *{event.anchor} is not allowed in agent files; write the value out"
            raise _Refused(None, None, problem, event.start_mark)
        return super().compose_node(parent, index)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[object, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                raise _Refused(
                    None, None, f"the key {key!r} is not a string; put it in quotes", key_node.start_mark
                )
            if key in seen:
                problem = (
                    f'the key "{key}" appears twice in one mapping (first on line {seen[key]}); keep one'
                )
                raise _Refused(None, None, problem, key_node.start_mark)
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def _read_text(path: str | os.PathLike[str]) -> str:
    try:
        return Path(path).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PathwayError(
            f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})", code="invalid_pathway"
        ) from None
    except OSError as exc:
        raise PathwayError(f"cannot read {path}: {exc.strerror or exc}", code="invalid_pathway") from None


def _located(source: str, problems: list[dict[str, Any]], locate: _Locator) -> PathwayError:
    """One error for every problem, each message prefixed with ``file:line``."""
    errors = []
    for problem in problems:
        line = locate.line(problem.get("field"))
        where = f"{source}:{line}" if line is not None else source
        errors.append(
            {**problem, "message": f"{where}: {problem['message']}", **({"line": line} if line else {})}
        )
    more = len(errors) - 1
    message = errors[0]["message"] + (f" (and {more} more)" if more > 0 else "")
    return PathwayError(message, details={"source": source, "errors": errors}, code="invalid_pathway")


def _under(section: str, item: Mapping[str, Any]) -> dict[str, Any]:
    field = item.get("field")
    return {**item, "field": f"{section}.{field}" if field else section}


def _dotted(location: Sequence[str | int]) -> str:
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in location).lstrip(".")


def _did_you_mean(value: str, candidates: Sequence[str]) -> str:
    close = difflib.get_close_matches(value, list(candidates), n=1, cutoff=0.7)
    return f' (did you mean "{close[0]}"?)' if close else ""
