"""The product on the embedded default model, as a new user runs it: the demo's pathway
moves and collects its values, and tool calls never leak into replies as text.

These load the real model (Qwen2.5-Coder-1.5B-Instruct, from the weights packages) and are
seeded (``PATHWEAVER_LOCAL_MODEL_SEED``): decisions and extraction are greedy and replies
sampled from a fixed seed, but llama.cpp's floating point still varies between runs (see
``pytestmark``), so they are opt-in.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pathweaver.config import Settings
from pathweaver.llm.base import ChatRequest, Message, ToolSpec, collect
from pathweaver.llm.local import LocalModel
from pathweaver.llm.weights import resolve_model_path

#: Not in the default run (CI): llama.cpp's results differ slightly from run to run (the
#: prompt is evaluated in different batches as the cache is reused), so a seeded run does not
#: repeat exactly, and the 1.5B model's routing is not reliable enough for one run to pass
#: every time (the demo's plain booking reached `booked` in 3 of 5 runs in the first session
#: of 2026-12-07; in the second, 3 of 4 before the stricter bar for global jumps and 2 of 5
#: after it. The failures after it were all at the last turn: "Yes, that's all correct"
#: jumped to the global node, whose statement the model held true with P(yes) 0.73, which
#: clears either bar; see bench/routing).
#: ``PATHWEAVER_TEST_MODEL_QUALITY=1 scripts/test.sh tests/e2e/test_embedded_routing.py``.
pytestmark = [
    pytest.mark.local_model,
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("PATHWEAVER_TEST_MODEL_QUALITY") != "1",
        reason="the embedded model's routing quality: set PATHWEAVER_TEST_MODEL_QUALITY=1",
    ),
]

CASES = Path(__file__).parent / "cases" / "restaurant-demo.tests.yaml"
SEED = "20261207"


@pytest.fixture(scope="module")
def data_dir(request: pytest.FixtureRequest) -> Path:
    directory = Path(request.config.cache.mkdir("pathweaver-models"))
    resolve_model_path(Settings(data_dir=directory))  # assembled once, shared with tests/llm
    return directory


@pytest.fixture(scope="module")
def demo(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """The demo's case file run once with ``pathweaver test``, as a builder would run it."""
    out = tmp_path_factory.mktemp("demo") / "result.json"
    env = {
        **os.environ,
        "PATHWEAVER_LOCAL_MODEL_SEED": SEED,
        "PATHWEAVER_LLM_BASE_URL": "",
        "PATHWEAVER_FAKE_MODEL": "false",
    }
    command = [str(Path(sys.executable).with_name("pathweaver")), "test", str(CASES)]
    command += ["--data-dir", str(data_dir), "--json", str(out), "--transcripts"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1800)
    assert out.exists(), done.stdout[-3000:] + done.stderr[-3000:]
    cases = {case["name"]: case for case in json.loads(out.read_text())["cases"]}
    for case in cases.values():
        case["output"] = done.stdout[-6000:]
    return cases


def test_the_demo_books_a_table_and_extracts_the_four_values(demo: dict[str, dict]) -> None:
    case = demo["a plain booking reaches booked with the four values"]
    assert case["status"] == "passed", case["output"]
    final = case["transcript"][-1]["variables"]
    assert set(final) >= {"customer_name", "party_size", "booking_date"}
    assert final["party_size"] == 4
    assert "dana" in final["customer_name"].lower()
    assert "7" in final["booking_date"]


def test_an_opening_hours_question_is_answered_and_the_booking_resumes(demo: dict[str, dict]) -> None:
    case = demo["a question about opening hours is answered, then the booking resumes"]
    assert case["status"] == "passed", case["output"]


@pytest.fixture(scope="module")
def model(data_dir: Path) -> Iterator[LocalModel]:
    local = LocalModel.from_path(resolve_model_path(Settings(data_dir=data_dir)), context_size=2048, seed=7)
    yield local
    asyncio.run(local.aclose())


WEATHER = ToolSpec(
    "get_weather",
    "The weather forecast for a city.",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
BOOK = ToolSpec(
    "book_room",
    "Book a hotel room.",
    {
        "type": "object",
        "properties": {"city": {"type": "string"}, "nights": {"type": "integer"}},
        "required": ["city", "nights"],
    },
)
PROMPTS = [
    "What's the weather like in Lisbon tomorrow?",
    "Hi! How are you today?",
    "Can you book me a room in Porto for two nights?",
    "What can you do for me?",
    "Thanks, that's all.",
    "Tell me a fun fact about hotels.",
]
_TALK_OF_TOOLS = ("get_weather", "book_room", "function", "tool_call", "call the", "<tool")


@pytest.mark.parametrize("said", PROMPTS)
async def test_the_model_calls_a_tool_or_answers_never_writes_about_calling_one(
    model: LocalModel, said: str
) -> None:
    system = Message("system", "You are a travel assistant. Be brief.")
    result = await collect(
        model.stream(ChatRequest(messages=(system, Message("user", said)), tools=(WEATHER, BOOK)))
    )
    if result.tool_calls:
        assert all(call.name in ("get_weather", "book_room") for call in result.tool_calls)
        assert not result.text.strip()
        return
    text = result.text.lower()
    assert text.strip(), "an answer"
    assert not any(marker in text for marker in _TALK_OF_TOOLS), result.text
