"""Single routing decisions, asked exactly as the engine asks them: the framing check.

``python -m bench.routing.decisions [--local-model NAME]`` runs the 34 single
decisions of ``decisions.yaml`` (the examples' nodes, one exchange each, the expected target
or ``null`` to stay; written before any framing was tried, and a tuning set) through
:func:`pathweaver.engine.routing.request` and the embedded model, and prints each answer with
the model's scores, the accuracy (moves and stays apart) and the time per decision. It is
how the decision's framing was chosen (``bench/routing/README.md``, "Choosing the framing").
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from pathweaver.agent.files import read_agent_file
from pathweaver.config import Settings
from pathweaver.engine import prompt, routing
from pathweaver.llm.base import Message
from pathweaver.llm.local import LocalModel
from pathweaver.llm.weights import resolve_model_path

HERE = Path(__file__).parent
EXAMPLES = HERE.parent.parent / "examples"
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


async def run(local_model: str, data_dir: Path | None) -> int:
    items: list[dict[str, Any]] = yaml.safe_load((HERE / "decisions.yaml").read_text())
    settings = Settings(local_model=local_model, **({"data_dir": data_dir} if data_dir else {}))
    model = LocalModel.from_path(resolve_model_path(settings))
    agents: dict[str, Any] = {}
    right = {"move": [0, 0], "stay": [0, 0]}
    seconds = []
    try:
        for item in items:
            if item["agent"] not in agents:
                agents[item["agent"]] = read_agent_file(EXAMPLES / f"{item['agent']}.yaml")
            agent, pathway = agents[item["agent"]]
            # Every edge as a plain-language one: this measures the model's choice (the
            # restaurant's form edges became expression edges after this set was written).
            pathway = pathway.model_validate(
                {
                    **pathway.to_json(),
                    "edges": [{**e.to_json(), "data": {"condition": e.condition}} for e in pathway.edges],
                }
            )
            node = pathway.node(item["node"])
            options = routing.model_options(pathway, node)
            said = [Message("assistant", item["agent_said"]), Message("user", item["user"])]
            context = prompt.context(
                agent,
                node,
                said,
                session_vars={},
                extracted={},
                now=NOW,
                offer_transition=False,
                step_last=True,
            )
            began = time.perf_counter()
            result = await model.structured(routing.request(context, options, said))
            seconds.append(time.perf_counter() - began)
            chosen, _ = routing.chosen(result, options)
            got = chosen.target if chosen else None
            kind = "stay" if item["target"] is None else "move"
            right[kind][0] += got == item["target"]
            right[kind][1] += 1
            scores = [round(s, 2) for s in result.scores or ()]
            mark = "ok " if got == item["target"] else "BAD"
            print(
                f"{mark} {item['node']:15} {item['user'][:40]:40} expected {item['target']}, got {got} {scores}"
            )
    finally:
        await model.aclose()
    total = right["move"][0] + right["stay"][0]
    print(
        f"\n{local_model}: {total}/{len(items)} right (moves {right['move'][0]}/{right['move'][1]}, "
        f"stays {right['stay'][0]}/{right['stay'][1]}); median {statistics.median(seconds):.2f} s per decision"
    )
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--local-model", default="qwen2.5-coder-1.5b")
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args()
    raise SystemExit(asyncio.run(run(args.local_model, args.data_dir)))


if __name__ == "__main__":
    main()
