"""One turn of a conversation, as one bounded loop that yields events.

How a turn moves depends on the agent's execution mode (``executionMode``):

* ``smart``: the routing decision is its own call, made first
  (:mod:`pathweaver.engine.routing`: expression edges without a model call, then one
  constrained choice among the plain-language options); the reply then comes from the node
  the decision chose and is never offered a transition tool. Two calls on the critical
  path of a turn that has options (decision, reply), one when it has none.
* ``balance``: the same decision, and a reply from the current node started **at the
  same time**; if the decision is "stay", that reply (already under way) is relayed, so a
  turn that stays waits for no extra call; if it moves, that reply is cancelled unread and
  the new node replies. No token of the cancelled reply ever reaches the client. On a model
  that runs one call at a time (the embedded one), ``balance`` is ``smart``.
* ``turbo``: one call that replies with a transition tool offered beside the node's tools
  (every node's tools); a transition costs a second call, the reply from the new node.

An agent that sets no mode gets ``smart`` on the embedded model and ``balance`` on HTTP
upstreams (:func:`effective_mode`).

A node reached by a plain-language transition speaks before it can be left; expression
edges are followed whenever they hold, also on entering a node for the first time in the
session (like a goto whose target depends on the variables: a question already answered is
passed), at most once per node per turn; a node the conversation comes back to speaks first. ``goto`` nodes are followed
without a model call, with cycle detection; entering an ``end`` node gives that node's
reply and ends the session. The loop is bounded by ``max_steps`` and raises
:class:`StepLimitExceeded` past it.

Extraction (when the nodes visited so far, or the ones the turn may move to, declare
variables, and the user said something): one structured call. On HTTP upstreams it starts
with the turn and runs beside the rest; on the embedded model, which runs one call at a
time, it runs after the reply unless something needs its values first (an expression edge,
or a node whose prompt reads ``{{placeholders}}``). The turn waits for it before
committing, so the next turn always reads its result.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

from pathweaver.agent.config import AgentConfig, ExecutionMode, VariableConfig
from pathweaver.agent.pathway import Node, Pathway
from pathweaver.engine import before_start, extraction, prompt, routing
from pathweaver.engine.events import (
    DecisionMade,
    KnowledgeRetrieved,
    ModelCalled,
    NodeEntered,
    Notice,
    ReplyDelta,
    ToolCalled,
    ToolResulted,
    ToolsUnavailable,
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
from pathweaver.errors import LLMConfigError, LLMError, PathwayError, StepLimitExceeded, TurnError
from pathweaver.knowledge.bases import Retrieval
from pathweaver.llm.base import (
    ChatEvent,
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
    matcher_of,
    serial,
    step_last,
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
    #: Retrieval for nodes with a ``knowledgeBaseId`` (and every node, over all the
    #: project's bases, when the agent sets ``searchKnowledgeBaseEnabled``).
    knowledge: Retriever | None = None
    #: Whether the caller relays the reply as it comes (``ChatRequest.stream``).
    stream: bool = True


class Retriever(Protocol):
    async def retrieve(self, project_id: str, kb_id: str | None, query: str, *, top_k: int = 3) -> Retrieval:
        """Passages for a node's turn, from one base or (``kb_id`` None) all the project's;
        never raises (a failure is an empty retrieval with an error record)."""
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


def effective_mode(agent: AgentConfig, model: Model) -> ExecutionMode:
    """The mode a turn runs in: the agent's, else smart on the embedded model, balance elsewhere.

    ``balance`` on a model that runs one call at a time would only queue the speculative
    reply behind the decision, so it runs as ``smart`` there.
    """
    mode = agent.execution_mode
    if mode is None:
        return "smart" if serial(model) else "balance"
    if mode == "balance" and serial(model):
        return "smart"
    return mode


class _Extraction:
    """The turn's extraction call: started once (now, or when first needed), applied once.

    Its keys are read when it starts (``keys``), so a call started late on the embedded
    model also covers the nodes the turn has entered by then.
    """

    def __init__(
        self,
        model: Model,
        keys: Callable[[], Sequence[VariableConfig]],
        build: Callable[[Sequence[VariableConfig]], StructuredRequest],
        node_id: str,
        *,
        enabled: bool,
        said: Sequence[str],
    ) -> None:
        self._model, self._keys, self._build, self._node_id = model, keys, build, node_id
        self._said = said
        self._open = enabled
        self.configs: Sequence[VariableConfig] = ()
        self._task: asyncio.Task[tuple[StructuredResult | None, ModelCalled]] | None = None

    @property
    def pending(self) -> bool:
        return self._open and (self._task is not None or bool(self._keys()))

    def start(self) -> None:
        if self._open and self._task is None:
            self.configs = self._keys()
            if self.configs:
                request = self._build(self.configs)
                self._task = asyncio.create_task(_timed_structured(self._model, request, self._node_id))

    async def apply(self, extracted: dict[str, Any], trace: Trace) -> list[TurnEvent]:
        """Run it if it has not started, fold its values into ``extracted``; once."""
        if not self._open:
            return []
        self.start()
        task, self._task, self._open = self._task, None, False
        if task is None:
            return []
        return await _apply_extraction(task, self.configs, extracted, trace, self._said)

    async def cancel(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task


class _Speculation:
    """A reply started before the decision (``balance``): held back until the decision stays."""

    def __init__(self, events: AsyncIterator[ChatEvent]) -> None:
        self._queue: asyncio.Queue[ChatEvent | BaseException | None] = asyncio.Queue()
        self._task = asyncio.create_task(self._pump(events))

    async def _pump(self, events: AsyncIterator[ChatEvent]) -> None:
        try:
            async for event in events:
                self._queue.put_nowait(event)
        except Exception as error:
            self._queue.put_nowait(error)
        else:
            self._queue.put_nowait(None)
        finally:
            closer = getattr(events, "aclose", None)
            if closer is not None:
                with contextlib.suppress(Exception):
                    await closer()

    async def events(self) -> AsyncIterator[ChatEvent]:
        while (item := await self._queue.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item

    async def cancel(self) -> None:
        self._task.cancel()
        with contextlib.suppress(BaseException):
            await self._task


@dataclass(slots=True)
class _Prepared:
    """A reply call at a node, ready to send."""

    request: ChatRequest
    model: Model
    offer: Offer | None
    server_names: set[str]
    node_tools: tuple[ToolSpec, ...]


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
    user_spoke = any(m.role == "user" for m in turn.incoming)

    unavailable: set[str] = set()

    def pick(at: Node) -> Model:
        """The model for ``at``; a choice this server cannot serve (saved with a warning, since
        another deployment may serve it) falls back to the agent's, then the default, and is
        noted in the trace once per node."""
        for choices in ((at.data.model, agent.model), (agent.model,)):
            try:
                return models.pick(*choices)
            except LLMConfigError as problem:
                if at.id not in unavailable:
                    unavailable.add(at.id)
                    trace.record(Notice("model_unavailable", at.id, f"{problem.message}; used the default"))
        return models.default

    node_model = pick(node)
    mode = effective_mode(agent, node_model)

    def keys() -> list[VariableConfig]:
        """Visited nodes' keys and those of the nodes one move away (every key in turbo)."""
        ahead = routing.reachable(pathway, node) if mode != "turbo" else []
        return extraction.keys_to_extract(agent, pathway, [*visited, *ahead])

    extracted = dict(session.extracted)
    if before_start.due(agent, session.turn_count):
        seeded = await before_start.run(
            agent, turn.tools, turn.tool_configs, session.variables, extracted, node.id
        )
        for seeded_event in seeded:
            trace.record(seeded_event)
            yield seeded_event

    def extraction_request(keys: Sequence[VariableConfig]) -> StructuredRequest:
        """The transcript form: asked after the conversation's own prompt, the 1.5B model
        filled fields with guesses from the agent's instructions (measured on the demo)."""
        return extraction.request_for(keys, conversation)

    said = tuple(m.content for m in conversation if m.role == "user" and m.content)
    extract = _Extraction(node_model, keys, extraction_request, node.id, enabled=user_spoke, said=said)
    if not serial(node_model):
        extract.start()

    text_parts: list[str] = []
    client_calls: list[ToolCall] = []
    internal: list[NewMessage] = []  # server-side tool calls and results: stored, never shown
    offers: dict[str, Offer] = {}
    retrieved: dict[str, Retrieval] = {}
    traced_knowledge: set[str] = set()
    traced_tools: set[str] = set()
    action: SessionAction | None = None
    usage: Usage | None = None
    ended = False
    offer_transition = mode == "turbo"
    steps = 0
    speculative: _Speculation | None = None

    async def prepare(at: Node, *, with_transition: bool) -> tuple[_Prepared, list[TurnEvent]]:
        """The reply call at ``at`` (its tools, knowledge, system prompt and history window)."""
        found: list[TurnEvent] = []
        candidates = prompt.transition_candidates(pathway, at) if with_transition else []
        tools: list[ToolSpec] = [prompt.transition_tool(candidates)] if candidates else []
        offer = await _offer(turn, at, offers)
        if offer is not None:
            tools.extend(offer.specs)
        if offer is not None and offer.problems and at.id not in traced_tools:
            traced_tools.add(at.id)
            unavailable = ToolsUnavailable(at.id, offer.problems)
            trace.record(unavailable)
            found.append(unavailable)
        server_names = {spec.name for spec in offer.specs} if offer is not None else set()
        tools.extend(t for t in turn.client_tools if t.name not in server_names)
        knowledge = await _retrieve(turn, at, retrieved)
        if knowledge is not None and at.id not in traced_knowledge:
            traced_knowledge.add(at.id)
            retrieved_event = KnowledgeRetrieved(at.id, knowledge.record)
            trace.record(retrieved_event)
            found.append(retrieved_event)
        serving = pick(at)
        messages = prompt.context(
            agent,
            at,
            prompt.history_window(conversation, limits.history_messages),
            knowledge=knowledge.context() if knowledge is not None else "",
            session_vars=session.variables,
            extracted=extracted,
            now=now,
            offer_transition=bool(candidates),
            client_instructions=turn.client_instructions,
            step_last=step_last(serving),
        )
        request = ChatRequest(
            messages=tuple(messages),
            tools=tuple(tools),
            purpose="route+reply" if candidates else "reply",
            stream=turn.stream,
        )
        node_tools = tuple(t for t in tools if t.name != prompt.TRANSITION_TOOL)
        prepared = _Prepared(request, serving, offer, server_names, node_tools)
        return prepared, found

    def enter(target: str, origin: Node, via: str) -> list[TurnEvent]:
        """Move to ``target`` (following gotos); the events to yield."""
        nonlocal node, ended, steps
        entered_events: list[TurnEvent] = []
        entered = pathway.node(target)
        assert entered is not None  # options only name existing nodes
        try:
            path = resolve_goto(pathway, entered, origin=origin)
        except (TurnError, PathwayError) as problem:
            # Saved with a warning (a goto cycle, a goto to a deleted node): the turn stays
            # where it was and says why in the trace, instead of failing.
            notice = Notice("goto_cycle", origin.id, f"{problem}; the conversation stayed at {origin.id!r}")
            trace.record(notice)
            return [notice]
        for step_node in path:
            steps += 0 if step_node is entered else 1
            if steps > limits.max_steps:
                raise StepLimitExceeded(f"the turn took more than {limits.max_steps} steps following gotos")
            event_in = NodeEntered(step_node.id, via if step_node is entered else "goto")
            trace.record(event_in)
            entered_events.append(event_in)
            if step_node.id not in visited:
                visited.append(step_node.id)
            node = step_node
        if node.data.type == "end":
            ended = True
        return entered_events

    try:
        if mode != "turbo" and user_spoke and node.data.type != "end":
            # The decision: expression edges, then one choice among the plain-language options.
            target: str | None = None
            via = "edge"
            if routing.has_expressions(pathway, node):
                for applied_event in await extract.apply(extracted, trace):
                    yield applied_event
                held = routing.evaluate_expressions(
                    pathway, node, merged_variables(session.variables, extracted)
                )
                if held.target is not None or held.errors:
                    decided = _held(node, held)
                    trace.record(decided)
                    yield decided
                target = held.target
            options = routing.model_options(pathway, node) if target is None else []
            filled = await _filled_candidate(node, options, node_model)
            if filled is not None:
                # The node asked for its values and an edge says "the user has given them":
                # once they are all in, that edge is taken without the model's choice.
                for applied_event in await extract.apply(extracted, trace):
                    yield applied_event
                if routing.filled_now(node, session.extracted, extracted):
                    edge = next(
                        e
                        for e in pathway.edges_from(node.id)
                        if e.target == filled.target and e.expression is None
                    )
                    decided = DecisionMade(
                        node.id,
                        "filled",
                        filled.target,
                        expression=" and ".join(f"{key} is set" for key in node.data.variable_keys),
                        edge_id=edge.id,
                    )
                    trace.record(decided)
                    yield decided
                    target, options = filled.target, []
            if options:
                prepared, found = await prepare(node, with_transition=False)
                for found_event in found:
                    yield found_event
                if mode == "balance":
                    speculative = _Speculation(prepared.model.stream(prepared.request))
                for decision_event in await _decide(
                    prepared, options, conversation, node, trace, models, agent
                ):
                    if isinstance(decision_event, TransitionChosen):
                        target = decision_event.to_node
                        via = next(o.via for o in options if o.target == target)
                    yield decision_event
            if target is not None:
                if speculative is not None:
                    await speculative.cancel()
                    speculative = None
                steps += 1
                origin = node
                for entered_event in enter(target, origin, via):
                    yield entered_event
                # Expression edges that already hold at a node entered for the first time are
                # followed at once (its question was answered); a node the conversation comes
                # back to (a correction) speaks first.
                passed = {origin.id, *(session.visited or ())}
                while not ended and routing.has_expressions(pathway, node) and node.id not in passed:
                    passed.add(node.id)
                    for applied_event in await extract.apply(extracted, trace):
                        yield applied_event
                    held = routing.evaluate_expressions(
                        pathway, node, merged_variables(session.variables, extracted)
                    )
                    if held.target is None and not held.errors:
                        break
                    decided = _held(node, held)
                    trace.record(decided)
                    yield decided
                    if held.target is None:
                        break
                    steps += 1
                    if steps > limits.max_steps:
                        raise StepLimitExceeded(
                            f"the turn took more than {limits.max_steps} steps following expression edges"
                        )
                    moved = TransitionChosen(node.id, held.target, ())
                    trace.record(moved)
                    yield moved
                    for entered_event in enter(held.target, node, "edge"):
                        yield entered_event
                if extract.pending and _reads_placeholders(agent, node):
                    # The new node's prompt reads variables: let this turn's extraction land
                    # first, so "{{date}}" shows what the user just said.
                    for applied_event in await extract.apply(extracted, trace):
                        yield applied_event

        while True:
            steps += 1
            if steps > limits.max_steps:
                raise StepLimitExceeded(
                    f"the turn took more than {limits.max_steps} steps at node {node.id!r}; "
                    "check the pathway for loops"
                )
            if speculative is not None:
                events: AsyncIterator[ChatEvent] = speculative.events()
                speculative = None
            else:
                prepared, found = await prepare(node, with_transition=offer_transition)
                for found_event in found:
                    yield found_event
                events = prepared.model.stream(prepared.request)
            request, model, offer, server_names = (
                prepared.request,
                prepared.model,
                prepared.offer,
                prepared.server_names,
            )
            candidates = prompt.transition_candidates(pathway, node) if offer_transition else []
            transition: dict[int, list[str]] = {}
            calls: dict[int, dict[str, Any]] = {}
            renumber: dict[int, int] = {}
            began = time.perf_counter()
            first: float | None = None
            finish: Finish | None = None
            try:
                async for event in events:
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
                target_id, reason = _parse_choice(raw, candidates)
                offer_transition = False
                if target_id is None:
                    rejected = TransitionRejected(node.id, raw[:200], reason, tuple(candidates))
                    trace.record(rejected)
                    yield rejected
                    continue
                chosen = TransitionChosen(node.id, target_id, tuple(candidates))
                trace.record(chosen)
                yield chosen
                via_kind = (
                    "edge" if any(e.target == target_id for e in pathway.edges_from(node.id)) else "global"
                )
                for entered_event in enter(target_id, node, via_kind):
                    yield entered_event
                if extract.pending and _reads_placeholders(agent, node):
                    for applied_event in await extract.apply(extracted, trace):
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

        for applied_event in await extract.apply(extracted, trace):
            yield applied_event
    finally:
        if speculative is not None:
            await speculative.cancel()
        await extract.cancel()

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


async def _filled_candidate(
    node: Node, options: Sequence[routing.Option], model: Model
) -> routing.Option | None:
    """The edge a filled step would take (:func:`pathweaver.engine.routing.filled_candidate`),
    for a model that weighs its choices with a sentence matcher (the embedded model): where
    the model reads conditions well, it decides."""
    matcher = matcher_of(model)
    statement = routing.filled_statement(node) if matcher is not None else None
    edges = [option.statement for option in options if option.via == "edge"]
    if statement is None or not edges:
        return None
    similarities = await asyncio.to_thread(matcher.similarities, statement, edges)
    return routing.filled_candidate(options, similarities)


def _held(node: Node, held: routing.ExpressionResult) -> DecisionMade:
    """The decision the expression edges of ``node`` made (or their errors, when none held)."""
    return DecisionMade(
        node.id,
        "expression" if held.target else "none",
        held.target,
        expression=held.expression,
        edge_id=held.edge_id,
        errors=held.errors,
    )


async def _decide(
    prepared: _Prepared,
    options: Sequence[routing.Option],
    conversation: Sequence[Message],
    node: Node,
    trace: Trace,
    models: Models,
    agent: AgentConfig,
) -> list[TurnEvent]:
    """Ask the model which option holds; the decision, its call and a transition or refusal.

    A first message that only greets stays without asking (:func:`routing.only_greets`)."""
    described = tuple((o.target, o.statement, o.via) for o in options)
    if routing.only_greets(conversation) and not any(routing.about_greeting(o.statement) for o in options):
        greeted = DecisionMade(node.id, "greeting", None, described)
        trace.record(greeted)
        return [greeted]
    request = routing.request(
        prepared.request.messages, options, conversation, context_tools=prepared.node_tools
    )
    model = prepared.model
    candidates = tuple((o.target, o.statement) for o in options)
    began = time.perf_counter()
    events: list[TurnEvent] = []
    try:
        result = await model.structured(request)
    except LLMError as error:
        call = ModelCalled(request.purpose, model.name, node.id, _ms(began), None, None, error.message)
        decided = DecisionMade(
            node.id, "error", None, described, latency_ms=call.latency_ms, error=error.message
        )
        events = [call, decided]
    else:
        call = ModelCalled(request.purpose, model.name, node.id, _ms(began), None, result.usage)
        option, why = routing.chosen(result, options)
        decided = DecisionMade(
            node.id,
            "error" if why else "model",
            option.target if option else None,
            described,
            scores=result.scores,
            check=result.check,
            similarities=result.similarities,
            latency_ms=call.latency_ms,
            usage=result.usage,
            error=why,
        )
        events = [call, decided]
        if why is not None:
            events.append(TransitionRejected(node.id, str(result.value.get("choice"))[:200], why, candidates))
        elif option is not None:
            events.append(TransitionChosen(node.id, option.target, candidates))
    for event in events:
        trace.record(event)
    return events


def _reads_placeholders(agent: AgentConfig, node: Node) -> bool:
    texts = [agent.global_prompt or "", node.data.prompt or ""]
    texts.extend(module.content for module in agent.prompt_modules or () if module.enabled)
    return any("{{" in text for text in texts)


async def _apply_extraction(
    task: asyncio.Task[tuple[StructuredResult | None, ModelCalled]],
    configs: Sequence[VariableConfig],
    extracted: dict[str, Any],
    trace: Trace,
    said: Sequence[str] | None = None,
) -> list[TurnEvent]:
    """Await the extraction call and fold its typed values into ``extracted`` (later wins)."""
    result, call = await task
    trace.record(call)
    events: list[TurnEvent] = [call]
    applied = extraction.apply(configs, result.value if result else {}, said)
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
    """Knowledge for ``node`` (once per base and turn), searched with the user's last words:
    the node's base, else, when the agent sets ``searchKnowledgeBaseEnabled``, all the
    project's bases (searched before every reply, not left to the model as a tool: the
    embedded model rarely calls a tool it is not told to)."""
    kb_id = node.data.knowledge_base_id or None
    if turn.knowledge is None or (kb_id is None and not turn.agent.search_knowledge_base_enabled):
        return None
    key = kb_id or "*"
    if key not in cache:
        query = next((m.content for m in reversed(turn.incoming) if m.role == "user" and m.content), "")
        if not query:
            return None
        cache[key] = await turn.knowledge.retrieve(turn.session.project_id, kb_id, query)
    return cache[key]


async def _offer(turn: TurnInput, node: Node, cache: dict[str, Offer]) -> Offer | None:
    """The server-side tools offered at ``node`` (every node's, in ``turbo`` mode). A listed
    id the project has no tool for (deleted since) is left out and named in ``problems``."""
    if turn.tools is None:
        return None
    key = "*" if turn.agent.mode == "turbo" else node.id
    if key not in cache:
        # Every node's tools: the pathway's list, made once per pathway (a walk over 10,000
        # nodes on every turn doubled M8's CPU per turn).
        names = turn.pathway.tool_names if key == "*" else list(dict.fromkeys(node.data.tools))
        configs = [turn.tool_configs[name] for name in names if name in turn.tool_configs]
        offer = await turn.tools.offer(configs, builtins=[name for name in names if is_builtin(name)])
        missing = tuple(
            {"toolId": name, "error": "not a tool of this project (deleted?); the node runs without it"}
            for name in names
            if name not in turn.tool_configs and not is_builtin(name)
        )
        cache[key] = replace(offer, problems=(*offer.problems, *missing)) if missing else offer
    return cache[key]


def _placeholder(offered: OfferedTool | None, agent: AgentConfig) -> str:
    """The filler line streamed while a server-side tool runs: the tool's own, else the
    agent's ``placeholderMessages`` (in the agent's language when given)."""
    messages = offered.placeholder_messages() if offered is not None else None
    phrases = messages.for_language(agent.language) if messages is not None else []
    if not phrases and agent.placeholder_messages is not None:
        phrases = agent.placeholder_messages.for_language(agent.language)
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
