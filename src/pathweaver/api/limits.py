"""Request caps that depend on settings (sizes a schema alone cannot know): 413 with a clear message."""

from __future__ import annotations

import json
from typing import Any

from pathweaver.api.wire import ChatCompletionBody
from pathweaver.config import Settings
from pathweaver.errors import PayloadTooLarge


def check_variables(settings: Settings, variables: dict[str, Any]) -> None:
    if len(variables) > settings.max_variables:
        raise PayloadTooLarge(
            f"variables has {len(variables)} keys; at most {settings.max_variables} are allowed"
        )
    size = len(json.dumps(variables, ensure_ascii=False))
    if size > settings.max_variables_bytes:
        raise PayloadTooLarge(
            f"variables is {size} bytes as JSON; at most {settings.max_variables_bytes} are allowed"
        )


def check_chat(settings: Settings, body: ChatCompletionBody) -> None:
    if len(body.messages) > settings.max_messages:
        raise PayloadTooLarge(
            f"messages has {len(body.messages)} items; at most {settings.max_messages} are allowed"
        )
    for index, message in enumerate(body.messages):
        text = message.text() or ""
        if len(text) > settings.max_message_chars:
            raise PayloadTooLarge(
                f"messages[{index}].content has {len(text)} characters; at most {settings.max_message_chars}"
            )
    if body.tools and len(body.tools) > settings.max_tools:
        raise PayloadTooLarge(f"tools has {len(body.tools)} items; at most {settings.max_tools} are allowed")


def check_message(settings: Settings, text: str) -> None:
    if len(text) > settings.max_message_chars:
        raise PayloadTooLarge(f"message has {len(text)} characters; at most {settings.max_message_chars}")
