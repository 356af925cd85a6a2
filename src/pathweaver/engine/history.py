"""Reconciling the messages a client sends with the history the server keeps.

The server owns a session's history. A client may send only the new messages, or resend
the whole history each time (as stateless OpenAI clients do); both work, and no message is
ever stored twice. The rule, applied to the request's messages without ``system`` ones:

1. **Overlap.** Find the longest run ``k`` such that the request's first ``k`` messages equal
   the stored history's last ``k`` (same role, content and tool calls). The new messages
   are the ones after that run. A full resend is the case ``k == len(history)``; sending
   only the new user message is ``k == 0``; resending the assistant ``tool_calls`` message
   before the tool results is ``k == 1``.
2. **Retry of an earlier request.** When the request (two messages or more) equals the
   start of the stored history and ends with a user or tool message that was already
   answered, it is a retry of a finished turn: the stored answer is returned, no model is
   called and nothing is stored. (A single message cannot be told apart from a new message
   that happens to repeat the first one: it is treated as new. Clients that retry single
   messages should send an ``Idempotency-Key``.)
3. The new messages must be user or tool messages: an assistant message that is not in the
   stored history is refused (the server writes the assistant's side). Tool messages must
   answer a pending call of the last assistant message, each at most once.
4. The new messages must end with a user or tool message: something to answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pathweaver.engine.state import StoredMessage
from pathweaver.errors import Conflict, UserError
from pathweaver.llm.base import Message


@dataclass(frozen=True, slots=True)
class Reconciled:
    new: list[Message]
    #: Set when the request is a retry of turn ``replay_turn``, already answered.
    replay_turn: int | None = None


def _same(a: Message, b: Message) -> bool:
    if a.role != b.role or (a.content or "") != (b.content or ""):
        return False
    if a.role == "tool":
        return a.tool_call_id == b.tool_call_id
    if a.role == "assistant" and (a.tool_calls or b.tool_calls):
        return [c.id for c in a.tool_calls] == [c.id for c in b.tool_calls]
    return True


def reconcile(history: Sequence[StoredMessage], incoming: Sequence[Message]) -> Reconciled:
    history = [m for m in history if not m.internal]  # server-side tool traffic is not the client's
    stored = [m.as_model_message() for m in history]
    sent = [m for m in incoming if m.role != "system"]
    if not sent:
        raise UserError("messages must contain at least one user or tool message")

    if (
        2 <= len(sent) < len(stored)
        and all(_same(a, b) for a, b in zip(sent, stored, strict=False))
        and sent[-1].role in ("user", "tool")
        and stored[len(sent)].role == "assistant"
    ):
        return Reconciled(new=[], replay_turn=history[len(sent)].turn_seq)

    overlap = 0
    for k in range(min(len(sent), len(stored)), 0, -1):
        if all(_same(a, b) for a, b in zip(sent[:k], stored[-k:], strict=True)):
            overlap = k
            break
    new = sent[overlap:]
    if not new:
        raise UserError("no new message: the last message is already answered; send a new user message")
    for index, message in enumerate(new, start=overlap):
        if message.role == "assistant":
            raise Conflict(
                f"messages[{index}] is an assistant message that is not in this session's history; "
                "send only the new user or tool messages, or the full history exactly as returned"
            )
    if new[-1].role not in ("user", "tool"):
        raise UserError("the last message must be a user or tool message")
    _check_tool_results(stored, new)
    return Reconciled(new=new)


def _check_tool_results(stored: Sequence[Message], new: Sequence[Message]) -> None:
    pending: set[str] = set()
    for message in stored:
        if message.role == "assistant":
            pending = {c.id for c in message.tool_calls}
        elif message.role == "tool" and message.tool_call_id:
            pending.discard(message.tool_call_id)
        elif message.role == "user":
            pending = set()
    for message in new:
        if message.role == "tool":
            if not message.tool_call_id:
                raise UserError("a tool message needs the tool_call_id of the call it answers")
            if message.tool_call_id not in pending:
                raise UserError(
                    f"tool message for tool_call_id {message.tool_call_id!r} does not answer a pending "
                    "tool call of this session"
                )
            pending.discard(message.tool_call_id)
        elif message.role == "user":
            pending = set()
