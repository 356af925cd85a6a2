"""The end-of-session pipeline: final extraction, evaluation, then the events.

It runs once per session (the job is created only by the transaction that ended the
session), in this order:

1. **Final extraction**, over the whole conversation (its last 40 messages), of the keys of
   every visited node (every key in ``turbo``) together with ``postSessionVariableKeys``:
   one structured model call, results typed and validated like any extraction.
2. **Evaluation**, when ``postEvaluationConfig`` is enabled: the model grades the session
   into one of ``enumOptions`` or a number within ``numberConfig`` and gives a reason; the
   result is stored as the session's ``evaluation`` (``{"result", "reason"}``). A judge
   that answers out of format is recorded as ``{"error": ...}``, never as a grade.
3. **Events**: ``session.ended`` then ``session.finalized`` to every target subscribed to
   them (``postSessionWebhook`` and the webhook subscriptions), queued in the outbox.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pathweaver.agent.config import AgentConfig, VariableConfig
from pathweaver.agent.parts import EvaluationConfig
from pathweaver.agent.pathway import Pathway
from pathweaver.engine import extraction
from pathweaver.engine.state import SessionState, StoredMessage
from pathweaver.errors import LLMError
from pathweaver.lifecycle import payloads
from pathweaver.llm.base import Message, Model, StructuredRequest
from pathweaver.store.lifecycle import NewDelivery, Subscription

log = logging.getLogger("pathweaver.lifecycle")

TRANSCRIPT_MESSAGES = 40


@dataclass(frozen=True, slots=True)
class Finalized:
    extracted: dict[str, Any]
    evaluation: Any
    deliveries: list[NewDelivery]


def final_keys(agent: AgentConfig, pathway: Pathway, session: SessionState) -> list[VariableConfig]:
    keys = extraction.keys_to_extract(agent, pathway, session.visited)
    wanted = set(agent.post_session_variable_keys or ())
    extra = [c for c in agent.variable_configs or () if c.key in wanted and c not in keys]
    return [*keys, *extra]


def transcript(history: Sequence[StoredMessage]) -> list[Message]:
    return [m.as_model_message() for m in history if m.role in ("user", "assistant") and m.content][
        -TRANSCRIPT_MESSAGES:
    ]


async def evaluate(model: Model, config: EvaluationConfig, conversation: Sequence[Message]) -> dict[str, Any]:
    options = config.options
    bounds = config.number_config
    if options:
        result: dict[str, Any] = {"type": "string", "enum": options}
    else:
        result = {"type": "number"}
        if bounds is not None and bounds.min is not None:
            result["minimum"] = bounds.min
        if bounds is not None and bounds.max is not None:
            result["maximum"] = bounds.max
    schema = {
        "type": "object",
        "properties": {"result": result, "reason": {"type": "string", "maxLength": 500}},
        "required": ["result", "reason"],
        "additionalProperties": False,
    }
    lines = "\n".join(f"{'User' if m.role == 'user' else 'Agent'}: {m.content}" for m in conversation)
    instructions = (
        "You grade a finished conversation between a user and an agent.\n"
        f"{config.prompt or 'How well did the agent serve the user?'}\n"
        "Answer with the grade as `result` and one sentence as `reason`."
    )
    request = StructuredRequest(
        messages=(Message(role="system", content=instructions), Message(role="user", content=lines)),
        schema=schema,
        name="evaluation",
        max_tokens=200,
        purpose="evaluate",
    )
    try:
        answer = (await model.structured(request)).value
    except LLMError as exc:
        return {"error": f"the evaluation failed: {exc.message}"}
    value = answer.get("result")
    if options and value not in options:
        return {"error": f"the judge answered {value!r}, not one of {options}"}
    if not options and not isinstance(value, int | float):
        return {"error": f"the judge answered {value!r}, not a number"}
    return {"result": value, "reason": str(answer.get("reason", ""))[:500]}


async def _evaluated(
    model: Model, config: EvaluationConfig, conversation: Sequence[Message]
) -> dict[str, Any]:
    """:func:`evaluate`, whose unexpected failure is recorded as the evaluation's error (and
    logged) instead of stopping the pipeline: the events still go out."""
    try:
        return await evaluate(model, config, conversation)
    except Exception as exc:
        log.exception("the evaluation failed")
        return {"error": f"the evaluation could not run ({type(exc).__name__}); it has been logged"}


def targets(
    agent: AgentConfig, subscriptions: Sequence[Subscription]
) -> list[tuple[str, dict[str, str], set[str]]]:
    """(url, headers, events) of everyone who hears about this project's sessions.

    The agent's webhook comes typed and checked (``agent.config.load_stored`` leaves out a
    stored value that does not fit, and logs it), so nothing here can fail on it.
    """
    out: list[tuple[str, dict[str, str], set[str]]] = []
    hook = agent.post_session_webhook
    if hook is not None:
        out.append((hook.url, hook.header_map(), set(hook.events)))
    for sub in subscriptions:
        out.append((sub.url, {}, set(sub.events)))
    return out


def deliveries_for(
    events: Sequence[dict[str, Any]], agent: AgentConfig, subscriptions: Sequence[Subscription]
) -> list[NewDelivery]:
    queued: list[NewDelivery] = []
    for payload in events:
        for url, headers, wanted in targets(agent, subscriptions):
            if payload["event"] in wanted:
                queued.append(
                    NewDelivery(
                        event=payload["event"],
                        url=url,
                        headers=headers,
                        payload=payload,
                        at_most_once=payload["event"] in payloads.AT_MOST_ONCE,
                    )
                )
    return queued


async def finalize(
    model: Model,
    agent: AgentConfig,
    pathway: Pathway,
    session: SessionState,
    history: Sequence[StoredMessage],
    subscriptions: Sequence[Subscription],
) -> Finalized:
    conversation = transcript(history)
    extracted = dict(session.extracted)
    configs = final_keys(agent, pathway, session)
    if configs and any(m.role == "user" for m in conversation):
        try:
            answer = await model.structured(extraction.request_for(configs, conversation))
            extracted.update(extraction.apply(configs, answer.value).values)
        except LLMError:
            pass  # the values extracted during the conversation stand
    evaluation: Any = None
    config = agent.post_evaluation_config
    if config is not None and config.active and conversation:
        evaluation = await _evaluated(model, config, conversation)
    visible = sum(1 for m in history if not m.internal)
    final = _with(session, extracted=extracted, evaluation=evaluation, message_count=visible)
    events = [payloads.session_ended(final), payloads.session_finalized(final, evaluation)]
    return Finalized(extracted, evaluation, deliveries_for(events, agent, subscriptions))


def _with(session: SessionState, **changes: Any) -> SessionState:
    from dataclasses import replace

    return replace(session, **changes)
