"""Running test cases in-process, through the conversation service, as a channel would.

Each case gets a fresh session (provider ``test``) on the project's current pathway, so a
case sees exactly what a real conversation sees: the same engine, the same history rules,
the same trace. The session is ended when the case is done (a test session that an end
node did not end is ended with reason ``test_end``; the usual end-of-session pipeline runs
for it, as for the interactive test API).

Model calls are filed under cassette scopes (:func:`pathweaver.llm.cassette.scope`):
``"<case>/turn <n>"`` for the turn's calls and the simulated user's message before it,
``"<case>/judge <n>"`` for the verdict on criterion n; so a recorded run replays call for
call, and a mismatch names the case and the turn. Server-side tool calls made during a turn
are filed under the same scope (``tools/recorded.py``), so a tool mismatch names its turn too.

The simulated user and the judge are model calls too (``simulate-user``: a chat call;
``judge``: a structured call per criterion, ``{"passed": bool, "reason": str}``). A judge
that does not answer in that format, or does not answer at all, fails the criterion with
the reason; it is never a pass.
"""

from __future__ import annotations

import re
import secrets
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pathweaver.agent.config import AgentConfig
from pathweaver.agent.pathway import Pathway
from pathweaver.config import Settings
from pathweaver.conversations import Conversations, TurnResult
from pathweaver.errors import LLMError, PathweaverError, UserError
from pathweaver.llm.base import ChatRequest, Message, Model, StructuredRequest, collect
from pathweaver.llm.cassette import ReplayModel, scope
from pathweaver.store.store import Store
from pathweaver.testing.cases import Expect, ScriptedCase, SimulatedCase
from pathweaver.testing.results import CaseResult, Check, RunResult, TurnLog, status_of

PROVIDER = "test"
#: What the simulated user writes when its goal is met or the conversation is over.
DONE = "[DONE]"
SIMULATOR_INSTRUCTIONS = (
    "You are role-playing a user who talks to an AI agent, to test that agent. Stay in the "
    "character described below and pursue its goal. Write only your next message to the agent: no "
    "quotation marks, no stage directions, no explanations. When your goal is met, or the "
    f"conversation is clearly over, answer with exactly {DONE}.\n\n## Your character and goal\n"
)
JUDGE_INSTRUCTIONS = (
    "You judge a conversation between a user and an AI agent against one acceptance criterion. "
    "Decide from the transcript alone whether the criterion is met. Answer with a JSON object: "
    '"passed" (true or false) and "reason" (one or two sentences quoting the transcript).'
)
VERDICT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"passed": {"type": "boolean"}, "reason": {"type": "string", "maxLength": 600}},
    "required": ["passed", "reason"],
    "additionalProperties": False,
}

AnyCase = ScriptedCase | SimulatedCase


@dataclass(frozen=True)
class Progress:
    """What the runner is doing, for a progress bar."""

    case: str
    #: 1-based position of the case in the run, and the number of cases.
    index: int
    total: int
    stage: Literal["started", "turn", "finished"]
    turn: int = 0
    result: CaseResult | None = None


OnProgress = Callable[[Progress], Awaitable[None]]


def turn_scope(case: str, number: int) -> str:
    return f"{case}/turn {number}"


def judge_scope(case: str, number: int) -> str:
    return f"{case}/judge {number}"


async def send_turn(
    conversations: Conversations, project_id: str, session_id: str, number: int, text: str
) -> TurnLog:
    """Send one user message on a test session; the turn as a :class:`TurnLog`."""
    result: TurnResult | None = None
    async for event in conversations.chat(
        project_id, session_id, [Message(role="user", content=text)], provider=PROVIDER
    ):
        if isinstance(event, TurnResult):
            result = event
    assert result is not None, "Conversations.chat ends every turn with a TurnResult or raises"
    outcome = result.outcome
    return TurnLog(
        number=number,
        user=text,
        reply=result.text,
        node_before=outcome.node_before if outcome else None,
        node_after=result.session.current_node_id,
        variables=dict(result.session.extracted),
        ended=result.session.ended,
        trace=outcome.trace if outcome else {},
    )


class Runner:
    """Runs cases against a project. ``model`` plays the user and judges (default: the
    conversations' model). With ``replay``, a case that leaves recorded calls unasked is an
    error too (the run made fewer calls than the recording); tool calls count as well when
    the conversations' tool port is a :class:`~pathweaver.tools.recorded.ReplayTools`
    sharing ``replay.player``."""

    def __init__(
        self,
        conversations: Conversations,
        *,
        model: Model | None = None,
        progress: OnProgress | None = None,
        replay: ReplayModel | None = None,
    ) -> None:
        self.conversations = conversations
        self.model = model or conversations.model
        self.progress = progress
        self.replay = replay

    async def run(
        self, project_id: str, cases: Sequence[AnyCase], sources: Sequence[str] | None = None
    ) -> RunResult:
        """Run ``cases`` one after the other (``sources[i]`` says where case i came from)."""
        names = [case.name for case in cases]
        duplicate = next((name for name in names if names.count(name) > 1), None)
        if duplicate is not None:
            raise UserError(f"two test cases are named {duplicate!r}; give each case of a run its own name")
        began = time.perf_counter()
        results = []
        for index, case in enumerate(cases, 1):
            source = sources[index - 1] if sources else ""
            results.append(await self.run_case(project_id, case, index, len(cases), source))
        return RunResult(tuple(results), (time.perf_counter() - began) * 1000)

    async def run_case(
        self, project_id: str, case: AnyCase, index: int = 1, total: int = 1, source: str = ""
    ) -> CaseResult:
        await self._report(Progress(case.name, index, total, "started"))
        began = time.perf_counter()
        session_id = f"test-{secrets.token_hex(8)}"
        transcript: list[TurnLog] = []
        checks: list[Check] = []
        error: str | None = None
        created = False
        try:
            await self.conversations.create_session(
                project_id, session_id, variables=dict(case.variables), provider=PROVIDER
            )
            created = True
            if isinstance(case, ScriptedCase):
                await self._scripted(project_id, session_id, case, index, total, transcript, checks)
            else:
                await self._simulated(project_id, session_id, case, index, total, transcript, checks)
        except PathweaverError as exc:
            error = f"{type(exc).__name__}: {exc.message}"
        if error is None and self.replay is not None:
            error = self._unasked(case.name)
        if created and not (transcript and transcript[-1].ended):
            await self.conversations.end(project_id, session_id, "test_end")
        result = CaseResult(
            name=case.name,
            kind=case.kind,
            status=status_of(checks, error),
            checks=tuple(checks),
            transcript=tuple(transcript),
            error=error,
            variables=dict(case.variables),
            session_id=session_id,
            duration_ms=(time.perf_counter() - began) * 1000,
            source=source,
        )
        await self._report(Progress(case.name, index, total, "finished", len(transcript), result))
        return result

    async def _report(self, progress: Progress) -> None:
        if self.progress is not None:
            await self.progress(progress)

    def _unasked(self, case: str) -> str | None:
        assert self.replay is not None
        own = re.compile(rf"^{re.escape(case)}/(turn|judge) \d+$")
        left = self.replay.player.left_over(lambda where: own.match(where) is not None)
        if not left:
            return None
        first = left[0]
        kinds = " and ".join(sorted({entry.kind for entry in left}))
        return (
            f"CassetteMismatch: the run made fewer {kinds} calls than the cassette recorded: {len(left)} "
            f"recorded call(s) were not made, the first {first.purpose!r} at {first.scope!r}; the pathway, "
            "prompts or tools changed, so record again"
        )

    # Scripted cases -----------------------------------------------------------------------

    async def _scripted(
        self,
        project_id: str,
        session_id: str,
        case: ScriptedCase,
        index: int,
        total: int,
        transcript: list[TurnLog],
        checks: list[Check],
    ) -> None:
        for number, turn in enumerate(case.turns, 1):
            if transcript and transcript[-1].ended:
                reason = f"the session ended at turn {transcript[-1].number}, so this turn was not sent"
                checks.append(Check(f"turn {number}", False, reason))
                continue
            await self._report(Progress(case.name, index, total, "turn", number))
            with scope(turn_scope(case.name, number)):
                log = await send_turn(self.conversations, project_id, session_id, number, turn.user)
            transcript.append(log)
            checks.extend(expectations(number, turn.expect, log))

    # Simulated cases ----------------------------------------------------------------------

    async def _simulated(
        self,
        project_id: str,
        session_id: str,
        case: SimulatedCase,
        index: int,
        total: int,
        transcript: list[TurnLog],
        checks: list[Check],
    ) -> None:
        session = await self.conversations.get_session(project_id, session_id)
        history = await self.conversations.history(session)
        opening = next((m.content for m in history if m.role == "assistant" and m.content), None)
        for number in range(1, case.max_turns + 1):
            await self._report(Progress(case.name, index, total, "turn", number))
            with scope(turn_scope(case.name, number)):
                said, done = await self._simulate_user(case, opening, transcript)
                if not said:
                    break
                log = await send_turn(self.conversations, project_id, session_id, number, said)
            transcript.append(log)
            if done or log.ended:
                break
        for number, criterion in enumerate(case.acceptance_criteria, 1):
            with scope(judge_scope(case.name, number)):
                checks.append(await self._judge(number, criterion, opening, transcript))

    async def _simulate_user(
        self, case: SimulatedCase, opening: str | None, transcript: Sequence[TurnLog]
    ) -> tuple[str, bool]:
        """The simulated user's next message, and whether it said it is done."""
        start = "[The conversation begins."
        start += f' The agent opens with: "{opening}"]' if opening else " Write your first message.]"
        messages = [Message(role="system", content=SIMULATOR_INSTRUCTIONS + case.system_prompt)]
        messages.append(Message(role="user", content=start))
        for turn in transcript:  # roles swapped: the model plays the user
            messages.append(Message(role="assistant", content=turn.user))
            messages.append(Message(role="user", content=turn.reply or "(no reply)"))
        result = await collect(self.model.stream(ChatRequest(tuple(messages), purpose="simulate-user")))
        text = result.text.strip()
        done = DONE in text
        return text.replace(DONE, "").strip(), done

    async def _judge(
        self, number: int, criterion: str, opening: str | None, transcript: Sequence[TurnLog]
    ) -> Check:
        name = f"criterion {number}"
        lines = [f"Agent: {opening}"] if opening else []
        for turn in transcript:
            lines += [f"User: {turn.user}", f"Agent: {turn.reply}"]
        if transcript and transcript[-1].ended:
            lines.append("(The agent ended the conversation.)")
        collected = transcript[-1].variables if transcript else {}
        body = "Transcript:\n" + "\n".join(lines or ["(the user said nothing)"])
        body += f"\n\nValues the agent collected: {collected}\n\nCriterion: {criterion}"
        request = StructuredRequest(
            messages=(Message(role="system", content=JUDGE_INSTRUCTIONS), Message(role="user", content=body)),
            schema=VERDICT_SCHEMA,
            name="verdict",
            max_tokens=300,
            purpose="judge",
        )
        try:
            answer = await self.model.structured(request)
        except LLMError as exc:
            return Check(
                name, False, f"the judge gave no verdict ({exc.message}); counted as a failure", criterion
            )
        passed, reason = answer.value.get("passed"), answer.value.get("reason")
        if not isinstance(passed, bool) or not isinstance(reason, str):
            shown = str(answer.value)[:300]
            why = (
                f"the judge answered out of format ({shown}): a verdict needs passed true/false and a reason"
            )
            return Check(name, False, why + "; counted as a failure", criterion, answer.value)
        return Check(name, passed, reason, criterion, passed)


def expectations(number: int, expect: Expect, log: TurnLog) -> list[Check]:
    """The checks of one scripted turn's ``expect`` against what happened."""
    at = f"turn {number}"
    checks = []
    if expect.node is not None:
        ok = log.node_after == expect.node
        why = "" if ok else f'expected the conversation at node "{expect.node}", it is at "{log.node_after}"'
        checks.append(Check(f"{at}: node", ok, why, expect.node, log.node_after))
    for key, wanted in (expect.variables or {}).items():
        actual = log.variables.get(key)
        ok = _same(wanted, actual)
        why = "" if ok else f"expected {key} = {wanted!r}, got {actual!r}"
        checks.append(Check(f"{at}: variable {key}", ok, why, wanted, actual))
    reply = log.reply.casefold()
    for text in expect.reply_contains:
        ok = text.casefold() in reply
        why = "" if ok else f"the reply does not contain {text!r}: {log.reply!r}"
        checks.append(Check(f"{at}: reply contains {text!r}", ok, why, text, log.reply))
    for text in expect.reply_not_contains:
        ok = text.casefold() not in reply
        why = "" if ok else f"the reply contains {text!r}: {log.reply!r}"
        checks.append(Check(f"{at}: reply does not contain {text!r}", ok, why, text, log.reply))
    if expect.ended is not None:
        ok = log.ended == expect.ended
        why = "" if ok else ("expected the session to have ended" if expect.ended else "the session ended")
        checks.append(Check(f"{at}: ended", ok, why, expect.ended, log.ended))
    return checks


def _same(wanted: Any, actual: Any) -> bool:
    """Equal, with numbers compared as numbers and text without case or outer spaces."""
    if isinstance(wanted, str) and isinstance(actual, str):
        return wanted.strip().casefold() == actual.strip().casefold()
    if isinstance(wanted, bool) or isinstance(actual, bool):
        return wanted is actual
    if isinstance(wanted, int | float) and isinstance(actual, int | float):
        return float(wanted) == float(actual)
    return bool(wanted == actual)


@asynccontextmanager
async def temporary_project(
    agent: AgentConfig, pathway: Pathway, settings: Settings
) -> AsyncIterator[tuple[Store, str, Settings]]:
    """A throwaway SQLite store holding one project made from an agent file's contents.

    Yields (store, project id, the settings pointing at it); everything is deleted after.
    """
    with tempfile.TemporaryDirectory(prefix="pathweaver-test-") as folder:
        local = settings.model_copy(
            update={"data_dir": Path(folder), "database_url": None, "database_schema": None}
        )
        store = await Store.open(local)
        try:
            project = await store.projects.create_project(
                agent.name, agent, pathway, author="pathweaver test"
            )
            yield store, project.id, local
        finally:
            await store.close()
