"""Our Qwen2.5 ChatML rendering."""

from __future__ import annotations

from pathweaver.llm.base import Message, ToolCall, ToolSpec
from pathweaver.llm.chatml import render


def test_plain_conversation() -> None:
    prompt = render(
        [Message("system", "Be brief."), Message("system", "Speak French."), Message("user", "Hi")]
    )

    assert prompt == (
        "<|im_start|>system\nBe brief.\n\nSpeak French.<|im_end|>\n"
        "<|im_start|>user\nHi<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


def test_default_system_and_instructions() -> None:
    prompt = render([Message("user", "Hi")], instructions="Answer in JSON.")

    assert prompt.startswith(
        "<|im_start|>system\nYou are a helpful assistant.\n\nAnswer in JSON.<|im_end|>\n"
    )


def test_tools_calls_and_results_follow_qwens_template() -> None:
    tool = ToolSpec("lookup", "Find things.", {"type": "object", "properties": {"q": {"type": "string"}}})
    call = ToolCall(id="call_1", name="lookup", arguments='{"q":"tea"}')
    messages = [
        Message("user", "Find tea"),
        Message("assistant", None, tool_calls=(call,)),
        Message("tool", '{"found": 2}', tool_call_id="call_1"),
        Message("tool", '{"more": 0}', tool_call_id="call_2"),
    ]

    prompt = render(messages, [tool])

    assert prompt == (
        "<|im_start|>system\nYou are a helpful assistant.\n\n# Tools\n\n"
        "You may call one or more functions to assist with the user query.\n\n"
        "You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n"
        '{"type": "function", "function": {"name": "lookup", "description": "Find things.", '
        '"parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}}\n</tools>\n\n'
        "For each function call, return a json object with function name and arguments within "
        "<tool_call></tool_call> XML tags:\n<tool_call>\n"
        '{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>\n\n'
        "Either call a function as shown, or answer the user directly. Never write about functions, "
        "tools or calls in an answer to the user.<|im_end|>\n"
        "<|im_start|>user\nFind tea<|im_end|>\n"
        '<|im_start|>assistant\n<tool_call>\n{"name": "lookup", "arguments": {"q": "tea"}}\n</tool_call><|im_end|>\n'
        '<|im_start|>user\n<tool_response>\n{"found": 2}\n</tool_response>\n'
        '<tool_response>\n{"more": 0}\n</tool_response><|im_end|>\n'
        "<|im_start|>assistant\n"
    )
