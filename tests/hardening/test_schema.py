"""Schemathesis against Pathweaver's own OpenAPI document, in-process through ASGI.

Every operation of ``/openapi.json`` (all three path generations) is called with data
generated from its schema, valid and deliberately invalid, in the examples, coverage,
fuzzing and stateful phases, with a valid API key and the real project id in the path, so
requests reach the handlers instead of stopping at authentication; the project has a
knowledge base whose id is given too, so the knowledge routes (the multipart dataset upload
included) reach their handlers instead of answering 404. The run happens once per
module (schemathesis' engine, as its CLI runs it); each test below reads the checks it
cares about from that run.

Checks run, and how they are read:

* must pass: ``not_a_server_error`` (and the run raises no error), ``negative_data_rejection``
  (schema-invalid input gets a 4xx), ``content_type_conformance`` (streamed chat
  completions are declared as ``text/event-stream``), ``status_code_conformance`` (every
  error status the API answers is declared, ``api/openapi.py``), ``response_schema_conformance``,
  ``response_headers_conformance``, ``missing_required_header``, ``unsupported_method`` (a
  405 names the allowed methods) and ``ensure_resource_availability``. Two bugs this run
  found by chance have deterministic tests of their own: a session listing paged past
  2**63 (500; test_paging.py) and ids no path segment can carry (test_ids.py);
* on the document itself: every operation declares its success response schema (the
  models of ``api/openapi.py`` ``answers()``), so ``response_schema_conformance`` checks
  every answer the run gets, successes included, not only error bodies; the tests
  ``tests/api/test_documented_*.py`` hold each route's real answers to the same document;
* not run, on purpose: ``positive_data_acceptance``, because the document cannot express
  what the handlers rightly refuse beyond the schema (a history that does not match the
  session's, an invalid pathway, dates in query strings) and so it reports correct 400/409
  answers; and ``use_after_free``, because ending a session keeps its transcript readable
  by design (README: "Ending a session ... keeps its transcript").
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import configuration
from schemathesis.engine import Status, events, from_schema
from schemathesis.python import asgi

from pathweaver.api.app import create_app
from pathweaver.config import Settings
from pathweaver.knowledge.embeddings import embedders_from_settings
from pathweaver.store.store import Store
from tests.conftest import Project, make_project

#: Examples per operation and phase: small enough for CI (a nightly run may raise it).
EXAMPLES = 10
CHECKS = (
    "not_a_server_error",
    "negative_data_rejection",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "missing_required_header",
    "ensure_resource_availability",
    "status_code_conformance",
    "unsupported_method",
)

REFUSALS = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429", "5xx"]

Failure = tuple[str, int | None, str, str]  # operation, status code, what schemathesis says, request


def _prepare(data_dir: Path) -> tuple[Settings, Project, str]:
    """Settings, the project, and its knowledge base (so that the fuzzing of the knowledge
    routes, the dataset upload included, reaches their handlers)."""
    # Rate limits off: the fuzzing sends thousands of requests with one key and must reach the
    # handlers; the limiter has tests of its own (test_ratelimit.py).
    settings = Settings(
        data_dir=data_dir,
        fake_model=True,
        rate_limit_key_per_minute=0,
        rate_limit_project_per_minute=0,
        rate_limit_session_per_minute=0,
    )

    async def make() -> tuple[Project, str]:
        store = await Store.open(settings)
        try:
            project = await make_project(store, "fuzzed")
            base = await store.knowledge.create_base(
                project.id,
                name="fuzzed",
                type="pgvector",
                embedding_model_name=embedders_from_settings(settings).default_model(),
                chunk_size=500,
                chunk_overlap=50,
            )
            return project, base.id
        finally:
            await store.close()

    return settings, *asyncio.run(make())


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FastAPI, Project, str]]:
    """The app (owning its SQLite store, with the scripted model), the project it serves and
    the project's knowledge base.

    Hypothesis keeps caches in ``./.hypothesis``; they go to a temporary folder instead, so
    the run leaves nothing in the working tree.
    """
    settings, project, kb_id = _prepare(tmp_path_factory.mktemp("schemathesis"))
    configuration.set_hypothesis_home_dir(tmp_path_factory.mktemp("hypothesis"))
    try:
        yield create_app(settings), project, kb_id
    finally:
        asgi.shutdown_lifespans()
        configuration.set_hypothesis_home_dir(None)


@pytest.fixture(scope="module")
def run(fuzzed: tuple[FastAPI, Project, str]) -> dict[str, Any]:
    """Failures per check, the engine's errors, and how many checks ran."""
    app, project, kb_id = fuzzed
    config = schemathesis.Config.from_dict(
        {
            "headers": {"Authorization": f"Bearer {project.key}"},
            "parameters": {"projectId": project.id, "kbId": kb_id},
            "generation": {"max-examples": EXAMPLES, "database": "none", "mode": "all"},
            "phases": {"stateful": {"max-steps": 8}},
            "checks": {
                "enabled": False,
                **{name: {"enabled": True} for name in CHECKS},
                # Schema-violating input is refused: 413 (a size cap) is a refusal too.
                "negative_data_rejection": {"enabled": True, "expected-statuses": REFUSALS},
            },
            "max-time": 240,
        }
    )
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=config)
    failures: dict[str, set[Failure]] = defaultdict(set)
    errors: list[str] = []
    ran = 0
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            for case_id, nodes in event.recorder.checks.items():
                for node in nodes:
                    ran += 1
                    if node.status != Status.FAILURE:
                        continue
                    interaction = event.recorder.interactions.get(case_id)
                    status = (
                        interaction.response.status_code if interaction and interaction.response else None
                    )
                    title = node.failure_info.failure.title if node.failure_info else ""
                    sent = f"{interaction.request.method} {interaction.request.uri}" if interaction else ""
                    failures[node.name].add((event.label or "(stateful)", status, title, sent))
        elif isinstance(event, events.NonFatalError):
            if isinstance(event.value, UnicodeEncodeError) and event.value.encoding == "latin-1":
                continue  # a generated header value HTTP cannot carry: the request was never sent
            errors.append(f"{event.label}: {event.value!r}")
        elif isinstance(event, events.FatalError):
            errors.append(f"fatal: {event.exception!r}")
    return {"failures": failures, "errors": errors, "ran": ran}


def test_no_server_error_on_any_input(run: dict[str, Any]) -> None:
    assert run["ran"] > 1000
    assert run["errors"] == []
    failures = sorted(run["failures"]["not_a_server_error"])
    assert failures == [], "\n".join(map(str, failures))


def test_schema_invalid_input_is_refused_with_a_4xx(run: dict[str, Any]) -> None:
    failures = sorted(run["failures"]["negative_data_rejection"])
    assert failures == [], "\n".join(map(str, failures))


def test_responses_match_their_declared_content_type_schema_and_headers(run: dict[str, Any]) -> None:
    for check in (
        "content_type_conformance",
        "response_schema_conformance",
        "response_headers_conformance",
        "missing_required_header",
    ):
        failures = sorted(run["failures"][check])
        assert failures == [], f"{check}:\n" + "\n".join(map(str, failures))


def test_streamed_completions_are_documented_as_event_streams(fuzzed: tuple[FastAPI, Project, str]) -> None:
    app, _, _ = fuzzed
    for path, item in app.openapi()["paths"].items():
        if path.endswith("/chat/completions"):
            assert "text/event-stream" in item["post"]["responses"]["200"]["content"], path


#: Routes that name their session in the body (``{"session_id": ...}``): schemathesis ties only
#: path and query parameters to what a POST created, so it reads a 404 for whatever session
#: a generated body names as "created resource not found", though that session was never
#: created (twice in eight clean runs). Terminating a created session is tested in
#: tests/api/test_sessions.py.
BODY_ADDRESSED = ("/terminate",)


def test_created_resources_are_available(run: dict[str, Any]) -> None:
    """A resource a POST created is there on the route its link names (ids a path cannot carry
    were once the exception: test_ids.py)."""
    failures = sorted(
        failure
        for failure in run["failures"]["ensure_resource_availability"]
        if not failure[3].split("?")[0].endswith(BODY_ADDRESSED)
    )
    assert failures == [], "\n".join(map(str, failures))


def test_every_status_code_answered_is_documented(run: dict[str, Any]) -> None:
    assert sorted(run["failures"]["status_code_conformance"]) == []


def test_a_405_names_the_allowed_methods(run: dict[str, Any]) -> None:
    assert sorted(run["failures"]["unsupported_method"]) == []


def undeclared_responses(document: dict[str, Any]) -> list[str]:
    """Operations whose success response has no schema (FastAPI writes only a title for ``-> Any``)."""
    missing = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for status, response in operation.get("responses", {}).items():
                if not status.startswith("2"):
                    continue
                schemas = [c.get("schema") for c in (response.get("content") or {}).values()]
                if not schemas or any(set(s or {}) <= {"title", "description"} for s in schemas):
                    missing.append(f"{method.upper()} {path}")
    return sorted(missing)


def test_every_operation_declares_its_success_schema(fuzzed: tuple[FastAPI, Project, str]) -> None:
    app, _, _ = fuzzed
    assert undeclared_responses(app.openapi()) == []
