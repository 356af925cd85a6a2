"""The embedded model through Pathweaver's LocalModel against llama-cpp-python called directly.

Both sides run the same prompts (rendered by pathweaver.llm.chatml), the same grammars and
the same greedy sampling. Reported: load time, peak resident memory, and tokens per second
(completion tokens over wall time, prompt evaluation included) for a plain reply, a reply
with a choice tool (grammar-constrained) and a structured extraction. Goal: LocalModel at
>= 0.95 of direct.

    python bench/local_model.py [--model PATH_OR_NAME] [--rounds 2] [--max-tokens 96]

Load time and peak memory come from one fresh process per side; tokens per second from one
process holding both, calls interleaved (alternating which side goes first), so that other
load on the machine slows both sides alike.

Nothing here is timed by the test suite; run it by hand and record the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pathweaver.config import Settings
from pathweaver.llm.base import ChatRequest, Message, StructuredRequest, ToolSpec, collect
from pathweaver.llm.chatml import END_MARKERS, render
from pathweaver.llm.grammar import json_grammar, tool_call_grammar
from pathweaver.llm.local import GREEDY, LocalModel, Sampling, schema_instructions
from pathweaver.llm.weights import resolve_model_path

SYSTEM = Message("system", "You are the front desk of Lumen Bank. Be friendly and concise.")
ROUTE = ToolSpec(
    "go_to",
    "Move the conversation to the step that fits what the customer wants.",
    {
        "type": "object",
        "properties": {
            "choice": {
                "oneOf": [
                    {"const": "cards", "description": "lost, stolen or blocked cards"},
                    {"const": "loans", "description": "mortgages and personal loans"},
                    {"const": "stay", "description": "anything else: keep talking"},
                ]
            }
        },
        "required": ["choice"],
    },
)
CONTACT = {
    "type": "object",
    "properties": {
        "name": {"type": ["string", "null"], "maxLength": 80},
        "phone": {"type": ["string", "null"], "maxLength": 30},
    },
    "required": ["name", "phone"],
}


@dataclass(frozen=True)
class Case:
    label: str
    messages: tuple[Message, ...]
    tools: tuple[ToolSpec, ...] = ()
    schema: dict[str, Any] | None = None


CASES = (
    Case(
        "reply", (SYSTEM, Message("user", "Tell me in a few sentences what a savings account is good for."))
    ),
    Case(
        "tools", (SYSTEM, Message("user", "Hello, I think my credit card was stolen this morning.")), (ROUTE,)
    ),
    Case(
        "structured",
        (SYSTEM, Message("user", "Hi, this is Maria Lopez, you can reach me at +34 612 345 678.")),
        schema=CONTACT,
    ),
)
CHAT_GREEDY = Sampling(temperature=0.0)  # what LocalModel uses for a request with temperature 0


Sample = tuple[int, float]  # completion tokens, seconds


def load_direct(path: Path, threads: int) -> Any:
    from llama_cpp import Llama

    return Llama(model_path=str(path), n_ctx=4096, n_threads=threads, n_threads_batch=threads, verbose=False)


def direct_call(llm: Any, case: Case, max_tokens: int) -> Sample:
    """llama-cpp-python's own API on the prompt and grammar LocalModel would use."""
    from llama_cpp.llama_grammar import LlamaGrammar

    grammar: str | None
    if case.schema is not None:
        prompt = render(case.messages, instructions=schema_instructions(case.schema))
        grammar, sampling = json_grammar(case.schema), GREEDY
    else:
        prompt = render(case.messages, case.tools)
        grammar = tool_call_grammar(case.tools) if case.tools else None
        sampling = CHAT_GREEDY
    started = time.perf_counter()
    answer = llm.create_completion(
        prompt,
        max_tokens=max_tokens,
        temperature=sampling.temperature,
        top_p=sampling.top_p,
        top_k=sampling.top_k,
        min_p=0.0,
        repeat_penalty=sampling.repeat_penalty,
        grammar=LlamaGrammar.from_string(grammar, verbose=False) if grammar else None,
        stop=list(END_MARKERS),
    )
    return answer["usage"]["completion_tokens"], time.perf_counter() - started


async def pathweaver_call(model: LocalModel, case: Case, max_tokens: int) -> Sample:
    started = time.perf_counter()
    if case.schema is not None:
        request = StructuredRequest(messages=case.messages, schema=case.schema, max_tokens=max_tokens)
        usage = (await model.structured(request)).usage
    else:
        chat = ChatRequest(messages=case.messages, tools=case.tools, max_tokens=max_tokens, temperature=0.0)
        usage = (await collect(model.stream(chat))).usage
    assert usage is not None
    return usage.completion_tokens, time.perf_counter() - started


async def footprint(mode: str, path: Path, threads: int, max_tokens: int) -> dict[str, float]:
    """Load time and peak memory of one side, alone in this process, after one call of each case."""
    started = time.perf_counter()
    if mode == "direct":
        llm = load_direct(path, threads)
        load = time.perf_counter() - started
        for case in CASES:
            direct_call(llm, case, max_tokens)
        llm.close()
    else:
        model = LocalModel.from_path(path, context_size=4096, threads=threads)
        await model.load()
        load = time.perf_counter() - started
        for case in CASES:
            await pathweaver_call(model, case, max_tokens)
        await model.aclose()
    return {"load": load, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


async def throughput(
    path: Path, threads: int, rounds: int, max_tokens: int
) -> dict[str, dict[str, list[Sample]]]:
    """Both sides in one process, warmed up, calls interleaved, so a busy machine slows both alike."""
    llm = load_direct(path, threads)
    model = LocalModel.from_path(path, context_size=4096, threads=threads)
    await model.load()
    for case in CASES:  # warm-up, not recorded: the first calls page the weights in
        direct_call(llm, case, max_tokens)
        await pathweaver_call(model, case, max_tokens)
    samples: dict[str, dict[str, list[Sample]]] = {"direct": {}, "pathweaver": {}}
    for round_number in range(rounds):
        for case in CASES:
            order = ("direct", "pathweaver") if round_number % 2 == 0 else ("pathweaver", "direct")
            for side in order:
                if side == "direct":
                    sample = direct_call(llm, case, max_tokens)
                else:
                    sample = await pathweaver_call(model, case, max_tokens)
                samples[side].setdefault(case.label, []).append(sample)
    llm.close()
    await model.aclose()
    return samples


def rate(samples: list[Sample]) -> float:
    return sum(tokens for tokens, _ in samples) / sum(seconds for _, seconds in samples)


def main() -> None:
    parser = argparse.ArgumentParser(description="LocalModel against llama-cpp-python called directly.")
    parser.add_argument("--model", default=None, help="a named choice or a GGUF path (default: settings)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--footprint", choices=["direct", "pathweaver"], help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    settings = Settings()
    if arguments.model:
        settings = settings.model_copy(update={"local_model": arguments.model})
    path = resolve_model_path(settings)
    if arguments.footprint:
        print(
            json.dumps(
                asyncio.run(footprint(arguments.footprint, path, arguments.threads, arguments.max_tokens))
            )
        )
        return
    footprints = {}
    for side in ("direct", "pathweaver"):
        command = [sys.executable, __file__, "--footprint", side, "--model", str(path)]
        command += ["--threads", str(arguments.threads), "--max-tokens", str(arguments.max_tokens)]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        footprints[side] = json.loads(output.strip().splitlines()[-1])
    load_before = os.getloadavg()
    samples = asyncio.run(throughput(path, arguments.threads, arguments.rounds, arguments.max_tokens))
    labels = [case.label for case in CASES]
    print(f"Embedded model benchmark, {datetime.date.today()}, {platform.machine()}, {os.cpu_count()} cores")
    print(
        f"model {path.name}, {arguments.threads} threads, {arguments.rounds} rounds, "
        f"max {arguments.max_tokens} tokens"
    )
    print()
    print(f"{'':26}{'load s':>8}{'peak MB':>9}" + "".join(f"{'tok/s ' + label:>18}" for label in labels))
    for side, name in (("direct", "llama-cpp-python direct"), ("pathweaver", "pathweaver LocalModel")):
        row = f"{name:26}{footprints[side]['load']:8.2f}{footprints[side]['peak_rss_mb']:9.0f}"
        row += "".join(f"{rate(samples[side][label]):18.2f}" for label in labels)
        print(row)
    ratios = [rate(samples["pathweaver"][label]) / rate(samples["direct"][label]) for label in labels]
    print(f"{'ratio pathweaver/direct':26}{'':17}" + "".join(f"{ratio:18.3f}" for ratio in ratios))
    paired = [
        statistics.median(
            rate([ours]) / rate([theirs])
            for ours, theirs in zip(samples["pathweaver"][label], samples["direct"][label], strict=True)
        )
        for label in labels
    ]
    print(f"{'median of paired ratios':26}{'':17}" + "".join(f"{ratio:18.3f}" for ratio in paired))
    print(f"load average (1, 5, 15 min) before: {load_before}, after: {os.getloadavg()}")
    for side in ("direct", "pathweaver"):
        print(
            f"{side}: completion tokens per call {[[t for t, _ in samples[side][label]] for label in labels]}"
        )


if __name__ == "__main__":
    main()
