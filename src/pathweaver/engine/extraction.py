"""Variable extraction: typed values the model reads out of the conversation.

Which keys (pathors-api.md section 3.5): in ``smart`` and ``balance`` the ``variableKeys``
of every node visited so far (they accumulate); in ``turbo`` every ``variableConfigs`` key.

One structured model call per turn that has keys to extract and a new user message; it
runs beside the reply (never in front of its first token) and the turn waits for it before
committing, so the next turn always reads its result. The model returns ``null`` for what
the user did not say; a value replaces the stored one (later corrections win); ``null``
never erases. Values are validated against their declared type before they are stored: a
``number`` must be a number (numeric text is converted), an ``email`` must look like one.
Anything else is rejected and reported in the trace, never stored.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pathweaver.agent.config import AgentConfig, VariableConfig
from pathweaver.agent.pathway import Pathway
from pathweaver.llm.base import Message, StructuredRequest, ToolSpec

MAX_STRING = 500
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[A-Za-z]{2,}$")
#: Answers a model writes for "not given" instead of null: never stored as values.
_NOTHING = frozenset(
    {"null", "none", "n/a", "na", "unknown", "not given", "not provided", "not specified", "-"}
)
#: How much of the conversation the extractor reads (most recent messages).
EXTRACTION_WINDOW = 20


@dataclass(frozen=True, slots=True)
class Extraction:
    values: dict[str, Any]
    rejected: dict[str, str]


def keys_to_extract(agent: AgentConfig, pathway: Pathway, visited: Iterable[str]) -> list[VariableConfig]:
    configs = agent.variable_configs or []
    if agent.mode == "turbo":
        return list(configs)
    wanted: set[str] = set()
    for node_id in visited:
        node = pathway.node(node_id)
        if node is not None:
            wanted.update(node.data.variable_keys)
    return [c for c in configs if c.key in wanted]


def schema_for(configs: Sequence[VariableConfig]) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for config in configs:
        match config.type:
            case "number":
                prop: dict[str, Any] = {"type": ["number", "null"]}
            case "email":
                prop = {"type": ["string", "null"], "format": "email", "maxLength": 254}
            case "string":
                prop = {"type": ["string", "null"], "maxLength": MAX_STRING}
        if config.description:
            prop["description"] = config.description
        properties[config.key] = prop
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def request_for(
    configs: Sequence[VariableConfig],
    conversation: Sequence[Message],
    *,
    context: Sequence[Message] | None = None,
    context_tools: Sequence[ToolSpec] = (),
) -> StructuredRequest:
    """The extraction call.

    With ``context`` (during a turn: the same system prompt and history as the turn's
    other calls), the request is that context followed by the question, so that the
    embedded model reuses its cached prefix and pays only for the question. Without it
    (the end of a session), the recent conversation is given as a transcript.
    """
    fields = "\n".join(f"- {c.key} ({c.type}): {c.description or c.key}" for c in configs)
    rules = (
        "Use only what the user said, never what the assistant said or assumed. Use null for a field "
        "the user has not given. If the user corrected a value, use the latest one."
    )
    if context is not None:
        question = (
            "Extraction check: this message is not from the user; do not reply to the user.\n"
            f"Fill in these fields from the conversation so far. {rules}\nFields:\n{fields}"
        )
        messages: tuple[Message, ...] = (*context, Message(role="user", content=question))
    else:
        lines = []
        for message in conversation[-EXTRACTION_WINDOW:]:
            if message.role in ("user", "assistant") and message.content:
                speaker = "User" if message.role == "user" else "Agent"
                lines.append(f"{speaker}: {message.content}")
        # What changes least comes first (the rules, then the conversation, which only grows),
        # the fields last: the embedded model reuses the evaluated prefix from the turn before
        # and reads only the new messages and the fields.
        messages = (
            Message(role="system", content=f"You extract fields from a conversation. {rules}"),
            Message(
                role="user",
                content="Conversation:\n" + "\n".join(lines) + f"\n\nExtract these fields:\n{fields}",
            ),
        )
    return StructuredRequest(
        messages=messages,
        schema=schema_for(configs),
        name="extracted_variables",
        max_tokens=64 + 48 * len(configs),
        purpose="extract",
        context_tools=tuple(context_tools),
    )


def coerce(config: VariableConfig, value: Any) -> tuple[Any, str | None]:
    """(typed value, None) or (None, reason it was refused)."""
    match config.type:
        case "number":
            if isinstance(value, bool):
                return None, "not a number"
            if isinstance(value, int | float):
                return value, None
            if isinstance(value, str):
                text = value.strip().replace(",", "")
                try:
                    number = float(text)
                except ValueError:
                    return None, f"{value!r} is not a number"
                return (int(number) if number.is_integer() and "." not in text else number), None
            return None, "not a number"
        case "email":
            if isinstance(value, str) and _EMAIL.match(value.strip()):
                return value.strip(), None
            return None, f"{value!r} is not an email address"
        case "string":
            if isinstance(value, str | int | float) and not isinstance(value, bool):
                text = str(value).strip()
                if text.lower() in _NOTHING:
                    return None, f"{value!r} means no value"
                return (text[:MAX_STRING], None) if text else (None, "empty")
            return None, "not text"


def apply(
    configs: Sequence[VariableConfig], raw: Mapping[str, Any], said: str | Sequence[str] | None = None
) -> Extraction:
    """The typed values of ``raw``; with ``said`` (everything the user wrote: one text, or
    the user's messages in order), a value must also be grounded in it. A small model fills
    fields with guesses ("Hi, I'd like a table" gave a name and a party size), so these are
    refused as ungrounded: a text none of whose words the user wrote; a number up to twenty
    the user gave neither in digits nor in English words (larger numbers, and numbers spelt in
    other languages, are let through); and, given the messages, a text of three words or more
    that is a whole earlier message of the user's, copied into a field it does not answer
    (the 1.5B model put "Under Jenkins please, Sarah Jenkins" into a booking date)."""
    values: dict[str, Any] = {}
    rejected: dict[str, str] = {}
    earlier: set[str] = set()
    if said is not None and not isinstance(said, str):
        messages = list(said)
        earlier = {_flat(message) for message in messages[:-1] if len(_WORDS.findall(message)) >= 3}
        earlier.discard(_flat(messages[-1]) if messages else "")
        said = "\n".join(messages)
    heard = _stems(said) if said is not None else None
    for config in configs:
        if config.key not in raw or raw[config.key] is None:
            continue
        value, reason = coerce(config, raw[config.key])
        if reason is None and heard is not None and not _grounded(value, heard, said):
            reason = f"{value!r} is not something the user said"
        elif reason is None and isinstance(value, str) and _flat(value) in earlier:
            reason = f"{value!r} is a whole earlier message of the user's, not a value for {config.key}"
        if reason is None:
            values[config.key] = value
        else:
            rejected[config.key] = reason
    return Extraction(values=values, rejected=rejected)


_WORDS = re.compile(r"[^\W_]+", re.UNICODE)


def _flat(text: str) -> str:
    return " ".join(_WORDS.findall(text.casefold()))


def _stems(text: str | None) -> set[str]:
    return {word[:5] for word in _WORDS.findall((text or "").casefold()) if len(word) >= 2}


_NUMBER_WORDS = {
    word: number
    for number, words in enumerate(
        [
            "zero none",
            "one single alone myself",
            "two couple pair both",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve dozen",
            "thirteen",
            "fourteen",
            "fifteen",
            "sixteen",
            "seventeen",
            "eighteen",
            "nineteen",
            "twenty",
        ]
    )
    for word in words.split()
}


def _grounded(value: Any, heard: set[str], said: str | None) -> bool:
    """Whether the user could have said ``value``: a word of it that is not a function word,
    its digits, or (for a small number) its English word ("couple" and "both" count for
    two), or the sum of the small numbers of one message."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        text = (said or "").casefold()
        if f"{value:g}" in text.replace(",", "") or value > 20:
            return True
        # Small numbers the user gave, in digits or words, and their sum in one message:
        # "2 adults and 2 kids" is 4 passengers, "me, my wife and our three kids" is 5.
        for line in text.splitlines() or [text]:
            numbers = [int(n) for n in re.findall(r"\d+", line) if len(n) <= 2]
            numbers += [_NUMBER_WORDS[w] for w in _WORDS.findall(line) if w in _NUMBER_WORDS]
            if value in numbers or (len(numbers) >= 2 and value == sum(numbers)):
                return True
        return False
    if not isinstance(value, str):
        return True
    if said is not None and value.casefold() in said.casefold():
        return True
    words = [
        word[:5]
        for word in _WORDS.findall(value.casefold())
        if len(word) >= 2 and word not in _FUNCTION_WORDS
    ]
    return not words or any(word in heard for word in words)


#: Words that ground nothing: "Saturday the 14th, the 9:30 sailing" is not something a user
#: said who wrote "I'd like to book the ferry" (the 1.5B model's guess on a first turn).
_FUNCTION_WORDS = frozenset(
    [
        "the",
        "an",
        "and",
        "or",
        "of",
        "to",
        "in",
        "on",
        "at",
        "by",
        "for",
        "from",
        "with",
        "as",
        "is",
        "are",
        "be",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "my",
        "me",
        "we",
        "our",
        "us",
        "you",
        "your",
        "he",
        "she",
        "his",
        "her",
        "they",
        "them",
        "their",
        "am",
        "pm",
        "please",
    ]
)
