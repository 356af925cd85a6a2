"""The ``pathweaver test``, ``pathweaver lint`` and ``pathweaver routing-check`` commands.

Plain functions with typer annotations; ``pathweaver.cli`` mounts them. Exit codes: 0 when
everything passed (or the lint found no error), 1 on a failure or a problem found, 2 on
arguments that do not fit together.

Server-side tools (the restful and MCP tools on a project's nodes, and the built-ins) run in
``pathweaver test`` as in the server: through a :class:`~pathweaver.tools.runner.ToolRunner`
on an :class:`~pathweaver.tools.outbound.OutboundClient` under the settings' outbound policy
(``PATHWEAVER_OUTBOUND_*``). ``--record FILE`` writes one cassette holding both the model
calls and the tool calls (``kind: "tool"`` entries, ``tools/recorded.py``); ``--replay
FILE`` answers both from it, so a replayed run makes no model call and no tool request, and
a tool request that no longer matches the recording fails its case like a model mismatch
(the call, the case and turn, the diff). ``--replay-user-turns`` is a live run: its tools
run for real. An agent file holds no tool configs, so with ``--agent`` only built-ins run;
a project's stored tools run with ``--project``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.progress import Progress as Bar

from pathweaver.agent.config import AgentConfig
from pathweaver.agent.lint import findings_json, lint_pathway
from pathweaver.agent.pathway import Pathway
from pathweaver.config import Settings, load_settings
from pathweaver.conversations import Conversations
from pathweaver.errors import PathweaverError, UserError
from pathweaver.llm.base import Model
from pathweaver.llm.cassette import Cassette, RecordingModel, ReplayModel
from pathweaver.llm.registry import Models
from pathweaver.store.store import Store
from pathweaver.testing.cases import CaseFile, read_case_file
from pathweaver.testing.replay import RoutingDiff, conversation_records, replay_user_turns
from pathweaver.testing.report import json_report, junit_xml, text_report
from pathweaver.testing.results import RunResult
from pathweaver.testing.routing import RoutingCache, RoutingReport, check_routing
from pathweaver.testing.runner import AnyCase, OnProgress, Progress, Runner, temporary_project
from pathweaver.tools.outbound import OutboundClient, policy_from_settings
from pathweaver.tools.recorded import RecordingTools, ReplayTools
from pathweaver.tools.runner import ToolPort, ToolRunner

T = TypeVar("T")
DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Overrides PATHWEAVER_DATA_DIR.")]
ProjectOpt = Annotated[str | None, typer.Option("--project", help="Run against this project.")]
AgentOpt = Annotated[
    Path | None, typer.Option("--agent", help="Run against this agent file (a throwaway copy).")
]
Fake = Annotated[bool, typer.Option("--fake", help="Use the deterministic scripted model.")]
#: The name of the case file that belongs to ``<name>.yaml``.
CASE_FILE_SUFFIX = ".tests.yaml"


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _run(action: Coroutine[Any, Any, T]) -> T:
    try:
        return asyncio.run(action)
    except PathweaverError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        for item in exc.details.get("errors", [])[1:]:
            typer.echo(f"error: {item['message']}", err=True)
        raise typer.Exit(1) from None


def _read_agent(path: Path) -> tuple[AgentConfig, Pathway]:
    from pathweaver.agent.files import read_agent_file

    return read_agent_file(path)


@asynccontextmanager
async def _live_tools(settings: Settings) -> AsyncIterator[ToolRunner]:
    """The real tool port, as the server builds it; its HTTP client is closed after."""
    outbound = OutboundClient(policy_from_settings(settings))
    try:
        yield ToolRunner(outbound, max_result_chars=settings.tool_result_max_chars)
    finally:
        await outbound.aclose()


async def _live_model(settings: Settings, fake: bool) -> Model:
    from pathweaver.llm.factory import build_model, prepare_model
    from pathweaver.llm.scripted import ScriptedModel

    if fake:
        return ScriptedModel()
    model = build_model(settings)
    await prepare_model(model)
    return model


# pathweaver test ------------------------------------------------------------------------


@dataclass
class _Plan:
    """What to run: groups of cases, each against one target (a project, or an agent file)."""

    groups: list[tuple[Path | None, list[AnyCase], list[str]]]

    @property
    def total(self) -> int:
        return sum(len(cases) for _, cases, _ in self.groups)


def _plan(files: list[Path], agent: Path | None, project: str | None, suite: str | None) -> _Plan:
    if not files and agent is not None:
        beside = agent.with_name(agent.name.removesuffix(agent.suffix) + CASE_FILE_SUFFIX)
        if not beside.is_file():
            raise UserError(f"no case file given, and no {beside.name} beside {agent}; name the case files")
        files = [beside]
    loaded: list[CaseFile] = [read_case_file(path) for path in files]
    groups: dict[Path | None, tuple[list[AnyCase], list[str]]] = {}
    for case_file in loaded:
        target = None if project is not None else (agent or case_file.agent)
        if project is None and target is None:
            raise UserError(
                f"{case_file.path} does not name its agent file (agent: ...); pass --agent FILE or --project ID"
            )
        cases = case_file.suite(suite) if suite is not None else list(case_file.cases)
        group = groups.setdefault(target, ([], []))
        group[0].extend(cases)
        group[1].extend([str(case_file.path)] * len(cases))
    names = [case.name for cases, _ in groups.values() for case in cases]
    duplicate = next((name for name in names if names.count(name) > 1), None)
    if duplicate is not None:
        raise UserError(f"two test cases are named {duplicate!r}; give each case of a run its own name")
    return _Plan([(target, cases, sources) for target, (cases, sources) in groups.items()])


@asynccontextmanager
async def _target(
    settings: Settings, project: str | None, agent_file: Path | None
) -> AsyncIterator[tuple[Store, str, Settings]]:
    if agent_file is not None:
        agent, pathway = _read_agent(agent_file)
        async with temporary_project(agent, pathway, settings) as opened:
            yield opened
        return
    assert project is not None
    store = await Store.open(settings)
    try:
        if await store.projects.get_project(project) is None:
            raise UserError(f"no project {project!r} in {settings.resolved_database_url()}")
        yield store, project, settings
    finally:
        await store.close()


async def _stored_cases(store: Store, project: str, suite: str | None) -> tuple[list[AnyCase], list[str]]:
    from pathweaver.store.testing import TestingStore
    from pathweaver.testing.cases import parse_case

    testing = TestingStore(store.engine)
    if suite is not None:
        ids = (await testing.get_suite(project, suite)).case_ids
        stored = [await testing.get_case(project, case_id) for case_id in ids]
    else:
        stored = await testing.list_cases(project)
    if not stored:
        raise UserError(f"project {project!r} has no stored test cases{' in that suite' if suite else ''}")
    return [parse_case(case.definition) for case in stored], [case.id for case in stored]


def _progress_bar() -> tuple[Bar, Callable[[TaskID], OnProgress]]:
    bar = Bar(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )

    def reporter(task: TaskID) -> OnProgress:
        async def on_progress(progress: Progress) -> None:
            turn = f", turn {progress.turn}" if progress.stage == "turn" else ""
            bar.update(task, description=f"{progress.case}{turn}")
            if progress.stage == "finished":
                bar.advance(task)

        return on_progress

    return bar, reporter


def tests_command(
    files: Annotated[list[Path] | None, typer.Argument(help="Case files (*.tests.yaml).")] = None,
    project: ProjectOpt = None,
    agent: AgentOpt = None,
    suite: Annotated[
        str | None,
        typer.Option(
            "--suite", help="A suite: its name in the files, or a stored suite's id with --project."
        ),
    ] = None,
    junit: Annotated[Path | None, typer.Option("--junit", help="Also write JUnit XML here.")] = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Also write the results as JSON here.")
    ] = None,
    record: Annotated[
        Path | None,
        typer.Option("--record", help="Record every model call and tool call into this cassette."),
    ] = None,
    replay: Annotated[
        Path | None,
        typer.Option(
            "--replay", help="Answer every model call and tool call from this cassette (nothing is sent)."
        ),
    ] = None,
    replay_user_turns_path: Annotated[
        Path | None,
        typer.Option(
            "--replay-user-turns",
            help="Send a cassette's user turns with a live model; report routing changes.",
        ),
    ] = None,
    fake: Fake = False,
    transcripts: Annotated[bool, typer.Option("--transcripts", help="Show every conversation.")] = False,
    data_dir: DataDir = None,
) -> None:
    """Run conversation tests; exit 1 when any case fails."""
    files = files or []
    if project is not None and agent is not None:
        raise _fail("pass --project or --agent, not both", 2)
    if sum(option is not None for option in (record, replay, replay_user_turns_path)) > 1:
        raise _fail("--record, --replay and --replay-user-turns do not go together; pick one", 2)
    if not files and project is None and agent is None:
        raise _fail("name case files, or pass --project ID (stored cases) or --agent FILE", 2)
    settings = load_settings(data_dir=data_dir, fake_model=True if fake else None)
    if replay_user_turns_path is not None:
        diff = _run(_replay_turns_main(settings, files, project, agent, replay_user_turns_path, fake))
        typer.echo(diff.text(), nl=False)
        if json_path is not None:
            json_path.write_text(
                json.dumps(diff.to_json(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
            )
        raise typer.Exit(diff.exit_code)
    run = _run(_test_main(settings, files, project, agent, suite, record, replay, fake))
    typer.echo(text_report(run, transcripts=transcripts), nl=False)
    if junit is not None:
        junit.write_text(junit_xml(run), encoding="utf-8")
    if json_path is not None:
        json_path.write_text(json_report(run), encoding="utf-8")
    raise typer.Exit(run.exit_code)


async def _test_main(
    settings: Settings,
    files: list[Path],
    project: str | None,
    agent: Path | None,
    suite: str | None,
    record: Path | None,
    replay: Path | None,
    fake: bool,
) -> RunResult:
    plan = _plan(files, agent, project, suite) if files or project is None else None
    cassette = Cassette.load(replay) if replay is not None else Cassette()
    replaying = ReplayModel(cassette) if replay is not None else None
    # A replay serves every call from the cassette; a live run calls the model each agent and
    # node chose (PATHWEAVER_LLM_TARGETS), as the server would, recording each when asked.
    wrap = (lambda inner: RecordingModel(inner, cassette)) if record is not None else (lambda inner: inner)
    models = (
        Models.single(replaying, wrap=wrap)
        if replaying is not None
        else Models.from_settings(settings, await _live_model(settings, fake), wrap=wrap)
    )
    model: Model = models.default
    bar, reporter = _progress_bar()
    results = []
    try:
        async with contextlib.AsyncExitStack() as stack:
            tools: ToolPort
            if replaying is not None:  # the same player: left-over entries of both kinds count
                tools = ReplayTools(cassette, replaying.player)
            else:
                tools = await stack.enter_async_context(_live_tools(settings))
                if record is not None:
                    tools = RecordingTools(tools, cassette)
            with bar:
                task = bar.add_task("tests", total=plan.total if plan else None)
                for target, cases, sources in plan.groups if plan else [(None, [], [])]:
                    async with _target(settings, project if target is None else None, target) as opened:
                        store, pid, local = opened
                        if plan is None:
                            cases, sources = await _stored_cases(store, pid, suite)
                            bar.update(task, total=len(cases))
                        conversations = Conversations(store, models, local, tools=tools)
                        runner = Runner(conversations, model=model, progress=reporter(task), replay=replaying)
                        results.append(await runner.run(pid, cases, sources))
    finally:
        await models.aclose()
        await model.aclose()
    run = RunResult(
        tuple(case for result in results for case in result.cases),
        sum(result.duration_ms for result in results),
    )
    if record is not None:
        cassette.conversations = conversation_records(run)
        cassette.save(record)
    return run


async def _replay_turns_main(
    settings: Settings, files: list[Path], project: str | None, agent: Path | None, path: Path, fake: bool
) -> RoutingDiff:
    records = Cassette.load(path).conversations
    if project is None and agent is None:
        named = {read_case_file(file).agent for file in files} - {None}
        if len(named) != 1:
            raise UserError("pass --agent FILE or --project ID: the pathway to replay the user turns against")
        agent = named.pop()
    models = Models.from_settings(settings, await _live_model(settings, fake))
    try:
        async with _live_tools(settings) as tools, _target(settings, project, agent) as (store, pid, local):
            return await replay_user_turns(Conversations(store, models, local, tools=tools), pid, records)
    finally:
        await models.aclose()
        await models.default.aclose()


# pathweaver lint ------------------------------------------------------------------------


def lint_command(
    file: Annotated[Path | None, typer.Argument(help="An agent file (YAML or JSON).")] = None,
    project: Annotated[
        str | None, typer.Option("--project", help="Lint this project's current pathway.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 1 on warnings too.")] = False,
    data_dir: DataDir = None,
) -> None:
    """Path-aware lint of a pathway; exit 1 when it finds an error (or a warning, with --strict)."""
    if (file is None) == (project is None):
        raise _fail("lint an agent file, or a project with --project ID (one of the two)", 2)
    if file is not None:
        try:
            agent, pathway = _read_agent(file)
        except PathweaverError as exc:
            raise _fail(exc.message) from None
        where, tool_ids = str(file), None
    else:
        assert project is not None
        agent, pathway, tool_ids = _run(_project_pathway(load_settings(data_dir=data_dir), project))
        where = f"project {project}"
    findings = lint_pathway(pathway, agent, tool_ids)
    report = findings_json(findings)
    if as_json:
        typer.echo(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        for finding in findings:
            typer.echo(f"{finding.severity:7} {finding.code}: {finding.message}")
        verdict = (
            "no problems" if not findings else f"{report['errors']} errors, {report['warnings']} warnings"
        )
        typer.echo(f"{where}: {verdict}")
    raise typer.Exit(1 if report["errors"] or (strict and report["warnings"]) else 0)


async def _project_pathway(settings: Settings, project: str) -> tuple[AgentConfig, Pathway, set[str]]:
    """The project's agent, current pathway and tool ids."""
    store = await Store.open(settings)
    try:
        agent = (await store.projects.get_agent(project)).config
        stored = await store.projects.get_pathway(project)
        return agent, Pathway.model_validate(stored.document), await store.tools.tool_ids(project)
    finally:
        await store.close()


# pathweaver routing-check ---------------------------------------------------------------


def routing_check_command(
    node: Annotated[str, typer.Option("--node", help="The node whose options to check.")],
    project: ProjectOpt = None,
    agent: AgentOpt = None,
    paraphrases: Annotated[
        int, typer.Option("--paraphrases", min=1, max=20, help="Positives (and near misses) per option.")
    ] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    fake: Fake = False,
    data_dir: DataDir = None,
) -> None:
    """Paraphrase each option at a node, route each paraphrase, report accuracy (cached)."""
    if (project is None) == (agent is None):
        raise _fail("check a project (--project ID) or an agent file (--agent FILE)", 2)
    settings = load_settings(data_dir=data_dir, fake_model=True if fake else None)
    report = _run(_routing_main(settings, project, agent, node, paraphrases, fake))
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
    else:
        typer.echo(report.text(), nl=False)


async def _routing_main(
    settings: Settings, project: str | None, agent_file: Path | None, node: str, per_option: int, fake: bool
) -> RoutingReport:
    if agent_file is not None:
        agent, pathway = _read_agent(agent_file)
    else:
        assert project is not None
        agent, pathway, _ = await _project_pathway(settings, project)
    model = await _live_model(settings, fake)
    try:
        return await check_routing(
            model, agent, pathway, node, RoutingCache.in_dir(settings.data_dir), per_option=per_option
        )
    finally:
        await model.aclose()
