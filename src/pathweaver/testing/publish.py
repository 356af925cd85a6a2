"""The publish gate: an agent may require a test suite to pass before it is published.

With ``requiredSuiteId`` set on the agent (a Pathweaver extension of the agent config), the
agent's status may become (or stay) ``published`` only when the suite's latest finished run
passed, and ran on what is about to be published: the project's current pathway version
and the same agent config (its fingerprint ignores ``status`` and ``requiredSuiteId``,
which change when publishing). Running the suite is the caller's step (the test API or
``pathweaver test --project ID --suite ID``); the check itself makes no model call.

So the flow is: save the change as a draft, run the suite, publish when it passes.
"""

from __future__ import annotations

import hashlib
import json

from pathweaver.agent.config import AgentConfig
from pathweaver.errors import Conflict, NotFound
from pathweaver.store.store import Store
from pathweaver.store.testing import TestingStore

#: Agent fields that do not change what a conversation does, so a run still counts after them.
_IGNORED = frozenset({"status", "requiredSuiteId"})


def agent_fingerprint(agent: AgentConfig) -> str:
    """SHA-256 of the agent config's behaviour (everything but status and the gate itself)."""
    kept = {key: value for key, value in agent.to_json().items() if key not in _IGNORED}
    return hashlib.sha256(json.dumps(kept, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


async def ensure_suite_passed(store: Store, project_id: str, suite_id: str, agent: AgentConfig) -> None:
    """Raise :class:`Conflict` (409) unless suite ``suite_id`` last passed on what ``agent``
    and the project's current pathway would publish. ``agent`` is the config as it will be
    saved (an update may change the prompt and the status at once).
    """
    testing = TestingStore(store.engine)
    try:
        suite = await testing.get_suite(project_id, suite_id)
    except NotFound:
        raise Conflict(
            f"requiredSuiteId is {suite_id!r}, but the project has no such test suite; "
            "create the suite or clear requiredSuiteId",
            code="required_suite_missing",
        ) from None
    how = f"run it (POST /v1/projects/{project_id}/test-suites/{suite_id}/runs) and publish once it passes"
    run = await testing.latest_finished_run(project_id, suite_id)
    if run is None:
        raise Conflict(
            f"publishing requires the test suite {suite.name!r} to pass, and it has not been run; {how}",
            code="required_suite_not_passed",
        )
    project = await store.projects.get_project(project_id)
    if project is None:
        raise NotFound("Project not found")
    changed = []
    if run.pathway_version != project.pathway_version:
        changed.append(
            f"it tested pathway version {run.pathway_version}, the current one is {project.pathway_version}"
        )
    if run.agent_fingerprint != agent_fingerprint(agent):
        changed.append("the agent config changed since")
    if changed:
        raise Conflict(
            f"publishing requires the test suite {suite.name!r} to pass on what is published, and its last "
            f"run ({run.id}) is out of date: {'; '.join(changed)}; save the change as a draft, then {how}",
            code="required_suite_not_passed",
        )
    if run.status != "passed":
        failed = sum(1 for case in run.results if case.get("status") != "passed")
        raise Conflict(
            f"publishing requires the test suite {suite.name!r} to pass, and its last run ({run.id}) "
            f"{run.status}: {failed} of {run.total} cases did not pass; fix them, then {how}",
            code="required_suite_not_passed",
        )
