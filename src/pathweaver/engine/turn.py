"""One turn of a conversation, as one bounded loop that yields events.

Model calls per turn (the latency budget, also in the README):

* no transition: **one** call on the critical path (the reply, with the transition tool
  offered beside the node's tools);
* a transition: **two** (the call that chose it, then the reply from the new node, which is
  not offered another transition: a node speaks at least once before it is left);
* an invalid transition choice: two (the rejected call, then a reply without the tool);
* extraction, when the visited nodes declare variables and the user said something: one
  structured call started at the beginning of the turn and run beside the reply; the turn
  waits for it only before committing, never before the first token.

``goto`` nodes are followed without a model call, with cycle detection; entering an
``end`` node gives that node's reply and ends the session. The loop is bounded by
``max_steps`` and raises :class:`StepLimitExceeded` past it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from pathweaver.agent.config import AgentConfig, VariableConfig
from pathweaver.agent.pathway import Node, Pathway
from pathweaver.engine import extraction, prompt
from pathweaver.engine.events import (
    KnowledgeRetrieved,
    ModelCalled,
    NodeEntered,
    ReplyDelta,
    ToolCalled,
    ToolResulted,
    Trace,
    TransitionChosen,
    TransitionRejected,
    TurnDone,
    TurnEvent,
    VariableRejected,
    VariableSet,
)
from pathweaver.engine.prompt import merged_variables
from pathweaver.engine.state import NewMessage, SessionState, TurnOutcome
from pathweaver.errors import LLMError, PathwayError, StepLimitExceeded, TurnError
from pathweaver.knowledge.bases import Retrieval
from pathweaver.llm.base import (
    ChatRequest,
    Finish,
    Message,
    Model,
    StructuredRequest,
    StructuredResult,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolSpec,
    Usage,
)
from pathweaver.llm.registry import Models
from pathweaver.tools.builtins import is_builtin
from pathweaver.tools.config import McpTool, RestfulTool
from pathweaver.tools.result import SessionAction
from pathweaver.tools.runner import Offer, OfferedTool, ToolPort


@dataclass(frozen=True, slots=True)
class TurnInput:
    agent: AgentConfig
    pathway: Pathway
    session: SessionState
    history: Sequence[Message]
    incoming: Sequence[Message]
    client_tools: Sequence[ToolSpec] = ()
    client_instructions: Sequence[str] = ()
    now: datetime | None = None
    #: Server-side tools: the port that runs them, and the project's tool configs by id.
    tools: ToolPort | None = None
    tool_configs: Mapping[str, RestfulTool | McpTool] = field(default_factory=dict)
    #: Retrieval for nodes with a ``knowledgeBaseId``.
    knowledge: Retriever | None = None
    #: Whether the caller relays the reply as it comes (``ChatRequest.stream``).
    stream: bool = True


class Retriever(Protocol):
    async def retrieve(self, project_id: str, kb_id: str, query: str, *, top_k: int = 3) -> Retrieval:
        """Passages for a node's turn; never raises (a failure is an empty retrieval with an error record)."""
        ...


@dataclass(frozen=True, slots=True)
class Limits:
    max_steps: int = 8
    history_messages: int = 60


def resolve_goto(pathway: Pathway, node: Node, origin: Node) -> list[Node]:
    """The nodes passed through when entering ``node``: ``[node]`` unless it is a goto.

    A goto leads to its ``referenceNodeId``, chains are followed, and a cycle of gotos
    raises :class:`TurnError`. A goto with a null reference is a no-op: the path ends
    back at ``origin``.
    """
    path = [node]
    seen = {node.id}
    while node.data.type == "goto":
        ref = node.data.reference_node_id
        if ref is None:
            path.append(origin)
            return path
        target = pathway.node(ref)
        if target is None:
            raise PathwayError(f'goto node "{node.id}" points to missing node "{ref}"')
        if target.id in seen:
            raise TurnError(f'goto cycle through node "{target.id}": add an exit to one of these gotos')
        seen.add(target.id)
        path.append(target)
        node = target
    return path


def _add_usage(total: Usage | None, more: Usage | None) -> Usage | None:
    if more is None:
        return total
    if total is None:
        return more
    return Usage(total.prompt_tokens + more.prompt_tokens, total.completion_tokens + more.completion_tokens)


async def run_turn(
    turn: TurnInput, model: Model | Models, limits: Limits = Limits()
) -> AsyncIterator[TurnEvent]:
    """Run one turn; the last event is :class:`TurnDone` with everything to commit.

    Each call is served by the model the current node chose, else the agent's, else the
    default (see :mod:`pathweaver.llm.registry`); a plain :class:`Model` serves them all.
    """
    models = model if isinstance(model, Models) else Models.single(model)
    pathway, agent, session = turn.pathway, turn.agent, turn.session
    now = turn.now or datetime.now().astimezone()
    start = pathway.start_node()
    if start is None:
        raise PathwayError("the pathway has no start node: add a node with data.type 'start'")
    node = pathway.node(session.current_node_id or start.id) or start
    node_before = node.id
    visited = list(session.visited or (node.id,))
    trace = Trace(node_before=node_before)
    conversation = [*turn.history, *turn.incoming]

    extract_task: asyncio.Task[tuple[StructuredResult | None, ModelCalled]] | None = None
    configs = extraction.keys_to_extract(agent, pathway, visited)
    if configs and any(m.role == "user" for m in turn.incoming):
        extract_request = extraction.request_for(configs, conversation)
        extractor = models.pick(node.data.model, agent.model)
        extract_task = asyncio.create_task(_timed_structured(extractor, extract_request, node.id))

    extracted = dict(session.extracted)
    text_parts: list[str] = []
    client_calls: list[ToolCall] = []
    internal: list[NewMessage] = []  # server-side tool calls and results: stored, never shown
    offers: dict[str, Offer] = {}
    retrieved: dict[str, Retrieval] = {}
    traced_knowledge: set[str] = set()
    action: SessionAction | None = None
    usage: Usage | None = None
    ended = False
    offer_transition = True
    steps = 0
    try:
        while True:
            steps += 1
            if steps > limits.max_steps:
                raise StepLimitExceeded(
                    f"the turn took more than {limits.max_steps} steps at node {node.id!r}; "
                    "check the pathway for loops"
                )
            candidates = prompt.transition_candidates(pathway, node) if offer_transition else []
            tools: list[ToolSpec] = [prompt.transition_tool(candidates)] if candidates else []
            offer = await _offer(turn, node, offers)
            if offer is not None:
                tools.extend(offer.specs)
            server_names = {spec.name for spec in offer.specs} if offer is not None else set()
            tools.extend(t for t in turn.client_tools if t.name not in server_names)
            knowledge = await _retrieve(turn, node, retrieved)
            if knowledge is not None and node.id not in traced_knowledge:
                traced_knowledge.add(node.id)
                found = KnowledgeRetrieved(node.id, knowledge.record)
                trace.record(found)
                yield found
            system = prompt.system_prompt(
                agent,
                node,
                knowledge=knowledge.context() if knowledge is not None else "",
                session_vars=session.variables,
                extracted=extracted,
                now=now,
                offer_transition=bool(candidates),
                client_instructions=turn.client_instructions,
            )
            model = models.pick(node.data.model, agent.model)
            request = ChatRequest(
                messages=(
                    Message(role="system", content=system),
                    *prompt.history_window(conversation, limits.history_messages),
                ),
                tools=tuple(tools),
                purpose="route+reply" if candidates else "reply",
                stream=turn.stream,
            )
            transition: dict[int, list[str]] = {}
            calls: dict[int, dict[str, Any]] = {}
            renumber: dict[int, int] = {}
            began = time.perf_counter()
            first: float | None = None
            finish: Finish | None = None
            try:
                async for event in model.stream(request):
                    match event:
                        case TextDelta(text=fragment):
                            if first is None:
                                first = time.perf_counter()
                            text_parts.append(fragment)
                            yield ReplyDelta(fragment)
                        case ToolCallDelta(index=index):
                            if first is None:
                                first = time.perf_counter()
                            if index in transition or (
                                index not in calls and event.name == prompt.TRANSITION_TOOL
                            ):
                                transition.setdefault(index, []).append(event.arguments)
                                continue
                            if index not in calls:
                                calls[index] = {"id": event.id, "name": event.name, "args": []}
                                if event.name not in server_names:
                                    renumber[index] = len(renumber)
                            calls[index]["args"].append(event.arguments)
                            if index in renumber:  # a client tool: it goes back to the caller
                                yield ToolCallDelta(
                                    index=renumber[index],
                                    id=event.id,
                                    name=event.name,
                                    arguments=event.arguments,
                                )
                        case Finish():
                            finish = event
            except Exception as exc:
                trace.record(
                    ModelCalled(
                        request.purpose,
                        model.name,
                        node.id,
                        _ms(began),
                        (None if first is None else _ms(began, first)),
                        None,
                        str(exc),
                    )
                )
                raise
            usage = _add_usage(usage, finish.usage if finish else None)
            called = ModelCalled(
                request.purpose,
                model.name,
                node.id,
                _ms(began),
                (None if first is None else _ms(began, first)),
                finish.usage if finish else None,
            )
            trace.record(called)
            yield called

            if transition:
                raw = "".join(next(iter(transition.values())))
                target, reason = _parse_choice(raw, candidates)
                offer_transition = False
                if target is None:
                    rejected = TransitionRejected(node.id, raw[:200], reason, tuple(candidates))
                    trace.record(rejected)
                    yield rejected
                    continue
                chosen = TransitionChosen(node.id, target, tuple(candidates))
                trace.record(chosen)
                yield chosen
                entered = pathway.node(target)
                assert entered is not None  # candidates only name existing nodes
                via = "edge" if any(e.target == target for e in pathway.edges_from(node.id)) else "global"
                for step_node in resolve_goto(pathway, entered, origin=node):
                    steps += 0 if step_node is entered else 1
                    if steps > limits.max_steps:
                        raise StepLimitExceeded(
                            f"the turn took more than {limits.max_steps} steps following gotos"
                        )
                    event_in = NodeEntered(step_node.id, via if step_node is entered else "goto")
                    trace.record(event_in)
                    yield event_in
                    if step_node.id not in visited:
                        visited.append(step_node.id)
                    node = step_node
                if node.data.type == "end":
                    ended = True
                if extract_task is not None and _reads_placeholders(agent, node):
                    # The new node's prompt reads variables: let this turn's extraction land
                    # first, so "{{date}}" shows what the user just said.
                    task, extract_task = extract_task, None
                    for applied_event in await _apply_extraction(task, configs, extracted, trace):
                        yield applied_event
                continue
            made = {
                i: ToolCall(id=c["id"] or f"call_{i}", name=c["name"] or "", arguments="".join(c["args"]))
                for i, c in sorted(calls.items())
            }
            client_calls = [call for i, call in made.items() if i in renumber]
            server_calls = [call for i, call in made.items() if i not in renumber]
            if client_calls or not server_calls or offer is None or turn.tools is None:
                break
            # Server-side tools run here, in the turn; their results go back to the model.
            assistant = Message(role="assistant", tool_calls=tuple(server_calls))
            conversation.append(assistant)
            internal.append(NewMessage(assistant, node.id, internal=True))
            for call in server_calls:
                offered = offer.get(call.name)
                placeholder = _placeholder(offered, agent)
                if placeholder:
                    text_parts.append(placeholder)
                    yield ReplyDelta(placeholder)
                started_call = ToolCalled(call.name, call.arguments, node.id)
                trace.record(started_call)
                yield started_call
                result = await turn.tools.run(offer, call, merged_variables(session.variables, extracted))
                finished_call = ToolResulted(call.name, result.content, result.is_error, result.record)
                trace.record(finished_call)
                yield finished_call
                if result.action is not None:
                    action = result.action
                answer = Message(role="tool", content=result.content, tool_call_id=call.id)
                conversation.append(answer)
                internal.append(NewMessage(answer, node.id, internal=True))

        if extract_task is not None:
            task, extract_task = extract_task, None
            for applied_event in await _apply_extraction(task, configs, extracted, trace):
                yield applied_event
    finally:
        if extract_task is not None:
            extract_task.cancel()
            with contextlib.suppress(BaseException):
                await extract_task

    if action is not None:
        ended = True
    text = "".join(text_parts)
    reply = Message(role="assistant", content=text or None, tool_calls=tuple(client_calls))
    stored = (*(NewMessage(m, node_before) for m in turn.incoming), *internal, NewMessage(reply, node.id))
    client_json = [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in client_calls]
    outcome = TurnOutcome(
        messages=stored,
        text=text,
        client_tool_calls=tuple(client_calls),
        finish_reason="tool_calls" if client_calls else "stop",
        usage=usage,
        node_before=node_before,
        node_after=node.id,
        visited=tuple(visited),
        extracted=extracted,
        ended=ended,
        end_reason=action.tool if action is not None else ("end_node" if ended else None),
        trace=trace.to_json(node_after=node.id, ended=ended, client_tool_calls=client_json),
    )
    yield TurnDone(outcome)


def _reads_placeholders(agent: AgentConfig, node: Node) -> bool:
    texts = [agent.global_prompt or "", node.data.prompt or ""]
    texts.extend(module.content for module in agent.prompt_modules or () if module.enabled)
    return any("{{" in text for text in texts)


async def _apply_extraction(
    task: asyncio.Task[tuple[StructuredResult | None, ModelCalled]],
    configs: Sequence[VariableConfig],
    extracted: dict[str, Any],
    trace: Trace,
) -> list[TurnEvent]:
    """Await the extraction call and fold its typed values into ``extracted`` (later wins)."""
    result, call = await task
    trace.record(call)
    events: list[TurnEvent] = [call]
    applied = extraction.apply(configs, result.value if result else {})
    for key, value in applied.values.items():
        if extracted.get(key) != value:
            extracted[key] = value
            events.append(VariableSet(key, value))
    for key, why in applied.rejected.items():
        events.append(VariableRejected(key, why))
    for event in events[1:]:
        trace.record(event)
    return events


async def _retrieve(turn: TurnInput, node: Node, cache: dict[str, Retrieval]) -> Retrieval | None:
    """Knowledge for ``node`` (once per node and turn), searched with the user's last words."""
    kb_id = node.data.knowledge_base_id
    if not kb_id or turn.knowledge is None:
        return None
    if kb_id not in cache:
        query = next((m.content for m in reversed(turn.incoming) if m.role == "user" and m.content), "")
        if not query:
            return None
        cache[kb_id] = await turn.knowledge.retrieve(turn.session.project_id, kb_id, query)
    return cache[kb_id]


async def _offer(turn: TurnInput, node: Node, cache: dict[str, Offer]) -> Offer | None:
    """The server-side tools offered at ``node`` (every node's, in ``turbo`` mode)."""
    if turn.tools is None:
        return None
    key = "*" if turn.agent.mode == "turbo" else node.id
    if key not in cache:
        nodes = turn.pathway.nodes if key == "*" else [node]
        names = list(dict.fromkeys(name for n in nodes for name in n.data.tools))
        configs = [turn.tool_configs[name] for name in names if name in turn.tool_configs]
        cache[key] = await turn.tools.offer(configs, builtins=[name for name in names if is_builtin(name)])
    return cache[key]


def _placeholder(offered: OfferedTool | None, agent: AgentConfig) -> str:
    """The tool's filler line (in the agent's language when given), streamed while it runs."""
    messages = offered.placeholder_messages() if offered is not None else None
    phrases = messages.for_language(agent.language) if messages is not None else []
    return f"{phrases[0]} " if phrases else ""


async def _timed_structured(
    model: Model, request: StructuredRequest, node_id: str
) -> tuple[StructuredResult | None, ModelCalled]:
    """Run the extraction call. Its failure is recorded, never fatal: the reply stands."""
    began = time.perf_counter()
    try:
        result = await model.structured(request)
    except LLMError as exc:
        return None, ModelCalled(request.purpose, model.name, node_id, _ms(began), None, None, exc.message)
    return result, ModelCalled(request.purpose, model.name, node_id, _ms(began), None, result.usage)


def _ms(began: float, end: float | None = None) -> float:
    return ((end if end is not None else time.perf_counter()) - began) * 1000


def _parse_choice(raw: str, candidates: Sequence[tuple[str, str]]) -> tuple[str | None, str]:
    """The chosen target, or (None, why) when the model's choice is not a valid candidate."""
    try:
        args = json.loads(raw or "{}")
    except json.JSONDecodeError:
        return None, "the transition arguments are not valid JSON"
    choice = args.get("next") if isinstance(args, dict) else None
    allowed = {target for target, _ in candidates}
    if not isinstance(choice, str) or choice not in allowed:
        return None, f"{choice!r} is not one of the offered steps"
    return choice, ""
