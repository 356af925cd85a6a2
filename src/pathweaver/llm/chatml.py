"""Our rendering of a conversation for the embedded Qwen2.5 models (ChatML, hermes-style tools).

Pathweaver renders prompts itself instead of running the Jinja template shipped inside a
GGUF file: the weights come from packages without provenance metadata, and a template is
code. This follows Qwen2.5's published template:

* ``<|im_start|>{role}\\n{content}<|im_end|>\\n`` per message, leading system messages merged
  into one system block (a default one when there is none);
* offered tools are described in that system block, one JSON object per line inside
  ``<tools></tools>``, with the instruction to answer calls as
  ``<tool_call>\\n{"name": ..., "arguments": ...}\\n</tool_call>``, and (our addition)
  never to write about functions in an answer;
* an assistant turn's tool calls are rendered in that same form, and tool results go back as
  a user turn of ``<tool_response>`` blocks;
* the prompt ends with ``<|im_start|>assistant\\n`` for the model to continue.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from pathweaver.llm.base import Message, ToolSpec

DEFAULT_SYSTEM = "You are a helpful assistant."
#: Texts that end the assistant's turn (also when they come as plain text, not special tokens).
END_MARKERS = ("<|im_end|>", "<|im_start|>", "<|endoftext|>")

_TOOLS_INTRO = (
    "\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n<tools>"
)
#: Small models otherwise *describe* a call in their reply ("Call the lookup function with
#: ...") instead of making it: a reply is either a call or an answer for the user.
_NO_NARRATION = (
    "\n\nEither call a function as shown, or answer the user directly. Never write about functions, "
    "tools or calls in an answer to the user."
)
_TOOLS_OUTRO = (
    "\n</tools>\n\nFor each function call, return a json object with function name and arguments "
    "within <tool_call></tool_call> XML tags:\n<tool_call>\n"
    '{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>' + _NO_NARRATION
)


def render(messages: Sequence[Message], tools: Sequence[ToolSpec] = (), *, instructions: str = "") -> str:
    """The prompt text for ``messages``; ``instructions`` are appended to the system block."""
    leading = 0
    while leading < len(messages) and messages[leading].role == "system":
        leading += 1
    system = "\n\n".join(m.content or "" for m in messages[:leading]) or DEFAULT_SYSTEM
    if instructions:
        system += "\n\n" + instructions
    if tools:
        described = "".join("\n" + json.dumps(_tool_json(tool), ensure_ascii=False) for tool in tools)
        system += _TOOLS_INTRO + described + _TOOLS_OUTRO
    parts = [_turn("system", system)]
    rest = messages[leading:]
    for index, message in enumerate(rest):
        match message.role:
            case "system" | "user":
                parts.append(_turn(message.role, message.content or ""))
            case "assistant":
                parts.append(_turn("assistant", _assistant_text(message)))
            case "tool":
                opens = index == 0 or rest[index - 1].role != "tool"
                closes = index == len(rest) - 1 or rest[index + 1].role != "tool"
                response = f"\n<tool_response>\n{message.content or ''}\n</tool_response>"
                parts.append(
                    ("<|im_start|>user" if opens else "") + response + ("<|im_end|>\n" if closes else "")
                )
    parts.append("<|im_start|>assistant\n")
    return "".join(parts)


def _turn(role: str, content: str) -> str:
    return f"<|im_start|>{role}\n{content}<|im_end|>\n"


def _assistant_text(message: Message) -> str:
    text = message.content or ""
    for call in message.tool_calls:
        try:
            arguments = json.dumps(json.loads(call.arguments or "{}"), ensure_ascii=False)
        except json.JSONDecodeError:
            arguments = json.dumps(call.arguments, ensure_ascii=False)  # shown as the model sent it
        text += f'\n<tool_call>\n{{"name": "{call.name}", "arguments": {arguments}}}\n</tool_call>'
    return text.removeprefix("\n") if not message.content else text


def _tool_json(tool: ToolSpec) -> dict[str, object]:
    function: dict[str, object] = {"name": tool.name}
    if tool.description:
        function["description"] = tool.description
    function["parameters"] = dict(tool.parameters)
    return {"type": "function", "function": function}
