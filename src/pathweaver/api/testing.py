"""Test cases, suites and runs over HTTP (pathors-api.md section 2.10), and the pathway lint.

Under ``/v1/projects/{projectId}``:

* ``POST /test-cases`` (a case as in ``testing/cases.py``; Pathors' shape, ``{name,
  systemPrompt, maxTurns, acceptanceCriteria}``, is a simulated case), ``GET /test-cases``,
  ``GET``/``DELETE /test-cases/{caseId}`` (deleting a case takes it out of its suites);
* ``POST /test-suites`` (``{name, testCaseIds}``), ``GET /test-suites``,
  ``GET``/``DELETE /test-suites/{suiteId}``;
* ``POST /test-suites/{suiteId}/runs`` starts a run and answers 202 with its id at once.
  The run is an asyncio task in this worker process; each case's result is stored as it
  finishes, so ``GET /test-runs/{runId}`` (poll it) shows progress, then the verdict per
  expectation and criterion and each transcript with its trace.
  ``GET /test-suites/{suiteId}/runs`` lists a suite's runs, newest first.
* ``GET /pathway/lint``: the lint findings of the current pathway (``agent/lint.py``).

A run interrupted by a shutdown is marked ``error`` ("interrupted") when the server cancels
it (:func:`cancel_test_runs`, from the app's shutdown). A worker killed outright leaves it
``running`` with a heartbeat (``updated_at``, written at every turn) that stops; runs whose
heartbeat is older than ``store.testing.STALE_AFTER`` are marked interrupted at start-up and
whenever they are read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, Body, Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from pathweaver.agent.lint import findings_json, lint_pathway
from pathweaver.agent.pathway import Pathway
from pathweaver.api.auth import Caller, project_caller
from pathweaver.api.openapi import answers
from pathweaver.api.wire import DeletedEnvelope, iso
from pathweaver.conversations import Conversations
from pathweaver.errors import PathweaverError, UserError
from pathweaver.offload import heavy
from pathweaver.store.store import Store
from pathweaver.store.testing import StoredCase, StoredRun, StoredSuite, TestingStore
from pathweaver.testing.cases import parse_case
from pathweaver.testing.publish import agent_fingerprint
from pathweaver.testing.runner import AnyCase, Progress, Runner

log = logging.getLogger("pathweaver.testing")

CallerDep = Annotated[Caller, Depends(project_caller)]
JsonBody = Annotated[Any, Body()]


class SuiteIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    name: str = Field(min_length=1, max_length=200)
    test_case_ids: list[str] = Field(alias="testCaseIds", min_length=1, max_length=500)


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def _testing(request: Request) -> TestingStore:
    return TestingStore(_store(request).engine)


# Response shapes (documentation: api/openapi.py answers()) ----------------------------------


class ExpectOut(BaseModel):
    """What must hold after a scripted turn; a key left out is not checked."""

    node: str | None = Field(default=None, description="The node the conversation is at after the reply")
    variables: dict[str, Any] | None = Field(
        default=None, description="The extracted values expected (a variable expected null: not set)"
    )
    replyContains: list[str] = Field(default=[], description="Substrings of the reply, case-insensitive")
    replyNotContains: list[str] = []
    ended: bool | None = Field(default=None, description="Whether the session has ended")


class ScriptedTurnOut(BaseModel):
    """One user turn of a scripted case."""

    user: str
    expect: ExpectOut = Field(default_factory=ExpectOut)


class _CaseOut(BaseModel):
    id: str
    projectId: str
    name: str
    description: str = ""
    variables: dict[str, Any] = Field(
        default={}, description="The session variables the conversation starts with"
    )
    createdAt: str
    updatedAt: str


class ScriptedCaseOut(_CaseOut):
    """A test case of fixed user turns, each with expectations checked after the reply."""

    kind: Literal["scripted"]
    turns: list[ScriptedTurnOut]


class SimulatedCaseOut(_CaseOut):
    """A test case where a model plays the user, then judges each acceptance criterion."""

    kind: Literal["simulated"]
    systemPrompt: str = Field(description="The simulated user's persona and goal")
    maxTurns: int = 10
    acceptanceCriteria: list[str]


TestCaseOut = Annotated[ScriptedCaseOut | SimulatedCaseOut, Field(discriminator="kind")]


class TestCaseEnvelope(BaseModel):
    """A test case."""

    data: TestCaseOut


class TestCaseListEnvelope(BaseModel):
    """The project's test cases."""

    data: list[TestCaseOut]


class TestSuiteOut(BaseModel):
    """A named list of test cases, run together."""

    id: str
    projectId: str
    name: str
    testCaseIds: list[str]
    createdAt: str
    updatedAt: str


class TestSuiteEnvelope(BaseModel):
    """A test suite."""

    data: TestSuiteOut


class TestSuiteListEnvelope(BaseModel):
    """The project's test suites."""

    data: list[TestSuiteOut]


class CheckOut(BaseModel):
    """One verdict: an expectation after a scripted turn, or an acceptance criterion."""

    name: str = Field(description="What was checked, e.g. 'turn 2: node' or 'criterion 1'")
    passed: bool
    reason: str = Field(description="Why it failed (for a judged criterion, the judge's reason either way)")
    expected: Any
    actual: Any


class TurnLogOut(BaseModel):
    """One turn of a test conversation, with the engine's trace of it."""

    turn: int
    user: str
    reply: str
    nodeBefore: str | None
    nodeAfter: str | None
    variables: dict[str, Any] = Field(description="The extracted variables after the turn")
    ended: bool
    trace: dict[str, Any]


class CaseResultOut(BaseModel):
    """What running one case found."""

    name: str
    kind: Literal["scripted", "simulated"]
    status: Literal["passed", "failed", "error"]
    source: str = Field(description="The stored test case id the case came from")
    sessionId: str | None
    durationMs: float
    error: str | None = Field(description="Why the case could not run to the end (status error)")
    variables: dict[str, Any] = Field(description="The session variables the conversation started with")
    checks: list[CheckOut]
    transcript: list[TurnLogOut]


class RunSummaryOut(BaseModel):
    """How many cases a run has, has finished, and how they ended."""

    total: int
    done: int
    passed: int
    failed: int
    errors: int


class TestRunBrief(BaseModel):
    """A run of a test suite, without its results."""

    id: str
    projectId: str
    suiteId: str | None
    status: Literal["running", "passed", "failed", "error"]
    pathwayVersion: int = Field(description="The pathway version the run tested")
    summary: RunSummaryOut
    error: str | None = Field(description="Why the run stopped early (status error)")
    createdAt: str
    finishedAt: str | None


class TestRunOut(TestRunBrief):
    """A run of a test suite, with the result of each case finished so far."""

    results: list[CaseResultOut]


class TestRunEnvelope(BaseModel):
    """A test run."""

    data: TestRunOut


class TestRunListEnvelope(BaseModel):
    """A suite's runs, newest first, without their results."""

    data: list[TestRunBrief]


class FindingOut(BaseModel):
    """One problem the lint found, and where."""

    code: str = Field(description="A stable name for the rule, e.g. dead_end")
    severity: Literal["error", "warning"]
    message: str
    nodeId: str | None
    edgeId: str | None
    field: str | None = Field(description="A path into the pathway's (or the agent's) JSON")


class LintOut(BaseModel):
    """The lint findings of the current pathway."""

    version: int = Field(description="The pathway version linted")
    ok: bool = Field(description="True when there is no error (warnings allowed)")
    errors: int
    warnings: int
    findings: list[FindingOut] = Field(description="At most 1,000, errors first")
    omitted: int = Field(description="Findings left out of the list (counted in errors and warnings)")


class LintEnvelope(BaseModel):
    """The lint findings of the current pathway."""

    data: LintOut


def case_json(case: StoredCase) -> dict[str, Any]:
    return {
        "id": case.id,
        "projectId": case.project_id,
        **case.definition,
        "createdAt": iso(case.created_at),
        "updatedAt": iso(case.updated_at),
    }


def suite_json(suite: StoredSuite) -> dict[str, Any]:
    return {
        "id": suite.id,
        "projectId": suite.project_id,
        "name": suite.name,
        "testCaseIds": suite.case_ids,
        "createdAt": iso(suite.created_at),
        "updatedAt": iso(suite.updated_at),
    }


def run_json(run: StoredRun, *, results: bool = True) -> dict[str, Any]:
    statuses = [case.get("status") for case in run.results]
    body: dict[str, Any] = {
        "id": run.id,
        "projectId": run.project_id,
        "suiteId": run.suite_id,
        "status": run.status,
        "pathwayVersion": run.pathway_version,
        "summary": {
            "total": run.total,
            "done": len(statuses),
            "passed": statuses.count("passed"),
            "failed": statuses.count("failed"),
            "errors": statuses.count("error"),
        },
        "error": run.error,
        "createdAt": iso(run.created_at),
        "finishedAt": iso(run.finished_at) if run.finished_at else None,
    }
    if results:
        body["results"] = run.results
    return body


# Cases ----------------------------------------------------------------------------------


async def create_test_case(request: Request, projectId: str, caller: CallerDep, body: JsonBody = None) -> Any:
    case = parse_case(body)
    stored = await _testing(request).create_case(projectId, case.name, case.kind, case.to_json())
    return JSONResponse({"data": case_json(stored)}, status_code=201)


async def list_test_cases(request: Request, projectId: str, caller: CallerDep) -> Any:
    return {"data": [case_json(case) for case in await _testing(request).list_cases(projectId)]}


async def get_test_case(request: Request, projectId: str, caseId: str, caller: CallerDep) -> Any:
    return {"data": case_json(await _testing(request).get_case(projectId, caseId))}


async def delete_test_case(request: Request, projectId: str, caseId: str, caller: CallerDep) -> Any:
    await _testing(request).delete_case(projectId, caseId)
    return {"data": {"id": caseId, "deleted": True}}


# Suites ---------------------------------------------------------------------------------


async def create_test_suite(request: Request, projectId: str, body: SuiteIn, caller: CallerDep) -> Any:
    if len(set(body.test_case_ids)) != len(body.test_case_ids):
        raise UserError("testCaseIds lists a case twice; list each case once")
    suite = await _testing(request).create_suite(projectId, body.name, body.test_case_ids)
    return JSONResponse({"data": suite_json(suite)}, status_code=201)


async def list_test_suites(request: Request, projectId: str, caller: CallerDep) -> Any:
    return {"data": [suite_json(suite) for suite in await _testing(request).list_suites(projectId)]}


async def get_test_suite(request: Request, projectId: str, suiteId: str, caller: CallerDep) -> Any:
    return {"data": suite_json(await _testing(request).get_suite(projectId, suiteId))}


async def delete_test_suite(request: Request, projectId: str, suiteId: str, caller: CallerDep) -> Any:
    await _testing(request).delete_suite(projectId, suiteId)
    return {"data": {"id": suiteId, "deleted": True}}


# Runs -----------------------------------------------------------------------------------


async def run_test_suite(request: Request, projectId: str, suiteId: str, caller: CallerDep) -> Any:
    """Start the suite in the background; 202 with the run (``status: running``)."""
    testing = _testing(request)
    suite = await testing.get_suite(projectId, suiteId)
    if not suite.case_ids:
        raise UserError("the suite has no test cases left; add cases to it before running it")
    stored = [await testing.get_case(projectId, case_id) for case_id in suite.case_ids]
    cases = [parse_case(case.definition) for case in stored]
    store = _store(request)
    project = await store.projects.get_project(projectId)
    agent = (await store.projects.get_agent(projectId)).config
    assert project is not None  # the caller's key reaches it
    run = await testing.create_run(
        projectId,
        suiteId,
        pathway_version=project.pathway_version,
        agent_fingerprint=agent_fingerprint(agent),
        total=len(cases),
    )
    app: FastAPI = request.app
    task = asyncio.create_task(
        _execute(app, run.id, projectId, cases, [case.id for case in stored]),
        name=f"pathweaver-test-run-{run.id}",
    )
    tasks = _tasks(app)
    tasks.add(task)
    task.add_done_callback(tasks.discard)
    return JSONResponse({"data": run_json(run)}, status_code=202)


def _tasks(app: FastAPI) -> set[asyncio.Task[None]]:
    tasks: set[asyncio.Task[None]] | None = getattr(app.state, "test_run_tasks", None)
    if tasks is None:
        tasks = app.state.test_run_tasks = set()
    return tasks


async def cancel_test_runs(app: FastAPI) -> None:
    """Cancel the runs still going in this process (each is marked ``error``: interrupted)."""
    tasks = list(_tasks(app))
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _execute(
    app: FastAPI, run_id: str, project_id: str, cases: list[AnyCase], sources: list[str]
) -> None:
    store: Store = app.state.store
    conversations: Conversations = app.state.conversations
    testing = TestingStore(store.engine)
    results: list[dict[str, Any]] = []

    async def on_progress(progress: Progress) -> None:
        if progress.stage == "finished" and progress.result is not None:
            results.append(progress.result.to_json())
            await testing.save_results(run_id, results)
        else:
            await testing.touch_run(run_id)  # the heartbeat that tells a live run from a dead one

    runner = Runner(conversations, model=app.state.model, progress=on_progress)
    try:
        outcome = await runner.run(project_id, cases, sources)
    except asyncio.CancelledError:
        with anyio.CancelScope(shield=True):
            await testing.finish_run(run_id, "error", results, "the run was interrupted: the server stopped")
        raise
    except PathweaverError as exc:
        await testing.finish_run(run_id, "error", results, f"{type(exc).__name__}: {exc.message}")
        return
    except Exception:
        log.exception("test run %s failed", run_id)
        await testing.finish_run(run_id, "error", results, "internal error; it has been logged")
        return
    await testing.finish_run(run_id, outcome.status, [case.to_json() for case in outcome.cases])


async def get_test_run(request: Request, projectId: str, runId: str, caller: CallerDep) -> Any:
    return {"data": run_json(await _testing(request).get_run(projectId, runId))}


async def list_suite_runs(request: Request, projectId: str, suiteId: str, caller: CallerDep) -> Any:
    testing = _testing(request)
    await testing.get_suite(projectId, suiteId)
    return {"data": [run_json(run, results=False) for run in await testing.list_runs(projectId, suiteId)]}


# Lint -----------------------------------------------------------------------------------


async def lint_current_pathway(request: Request, projectId: str, caller: CallerDep) -> Any:
    """``{"data": {"version", "ok", "errors", "warnings", "findings": [...], "omitted"}}``.

    Tools the nodes name are checked against the project's (a deleted one is an error). The
    lint runs in a worker thread: its work grows with the pathway, the event loop's must not.
    """
    store = _store(request)
    agent = (await store.projects.get_agent(projectId)).config
    stored = await store.projects.get_pathway(projectId)
    tool_ids = await store.tools.tool_ids(projectId)

    def lint() -> dict[str, Any]:
        return findings_json(lint_pathway(Pathway.model_validate(stored.document), agent, tool_ids))

    return {"data": {"version": stored.version, **await heavy(lint)}}


def testing_router() -> APIRouter:
    router = APIRouter(prefix="/v1/projects/{projectId}", tags=["conversation tests"])
    router.add_api_route(
        "/test-cases",
        create_test_case,
        methods=["POST"],
        status_code=201,
        responses=answers(TestCaseEnvelope, 201),
    )
    router.add_api_route(
        "/test-cases", list_test_cases, methods=["GET"], responses=answers(TestCaseListEnvelope)
    )
    router.add_api_route(
        "/test-cases/{caseId}", get_test_case, methods=["GET"], responses=answers(TestCaseEnvelope)
    )
    router.add_api_route(
        "/test-cases/{caseId}", delete_test_case, methods=["DELETE"], responses=answers(DeletedEnvelope)
    )
    router.add_api_route(
        "/test-suites",
        create_test_suite,
        methods=["POST"],
        status_code=201,
        responses=answers(TestSuiteEnvelope, 201),
    )
    router.add_api_route(
        "/test-suites", list_test_suites, methods=["GET"], responses=answers(TestSuiteListEnvelope)
    )
    router.add_api_route(
        "/test-suites/{suiteId}", get_test_suite, methods=["GET"], responses=answers(TestSuiteEnvelope)
    )
    router.add_api_route(
        "/test-suites/{suiteId}", delete_test_suite, methods=["DELETE"], responses=answers(DeletedEnvelope)
    )
    router.add_api_route(
        "/test-suites/{suiteId}/runs",
        run_test_suite,
        methods=["POST"],
        status_code=202,
        responses=answers(TestRunEnvelope, 202),
    )
    router.add_api_route(
        "/test-suites/{suiteId}/runs",
        list_suite_runs,
        methods=["GET"],
        responses=answers(TestRunListEnvelope),
    )
    router.add_api_route(
        "/test-runs/{runId}", get_test_run, methods=["GET"], responses=answers(TestRunEnvelope)
    )
    router.add_api_route(
        "/pathway/lint", lint_current_pathway, methods=["GET"], responses=answers(LintEnvelope)
    )
    return router
