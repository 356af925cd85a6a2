"""The null relay: the least a Python proxy can do, as the floor of the benchmarks.

A Starlette app that forwards ``POST /v1/chat/completions`` to the upstream unchanged and
relays the answer, streamed or not, chunk by chunk. Served by uvicorn with the same
defaults as ``pathweaver serve``::

    python -m bench.null_relay --upstream http://127.0.0.1:9000/v1 --port 8100
"""

from __future__ import annotations

import argparse
import contextlib

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route


def create_relay(upstream: str) -> Starlette:
    # No cap on connections (httpx's default pool of 100 made the 101st stream of M6 wait
    # for one): the floor is what proxying costs, not a pool's default.
    client = httpx.AsyncClient(
        base_url=upstream.rstrip("/") + "/",
        timeout=None,
        limits=httpx.Limits(max_connections=None, max_keepalive_connections=100),
    )

    async def relay(request: Request) -> Response:
        outbound = client.build_request(
            "POST",
            "chat/completions",
            content=await request.body(),
            headers={"content-type": "application/json"},
        )
        answer = await client.send(outbound, stream=True)
        if "text/event-stream" not in answer.headers.get("content-type", ""):
            body = await answer.aread()
            return Response(body, answer.status_code, media_type=answer.headers.get("content-type"))
        return StreamingResponse(
            answer.aiter_raw(),
            answer.status_code,
            media_type="text/event-stream",
            background=BackgroundTask(answer.aclose),
        )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):  # type: ignore[no-untyped-def]
        yield
        await client.aclose()

    return Starlette(routes=[Route("/v1/chat/completions", relay, methods=["POST"])], lifespan=lifespan)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(create_relay(args.upstream), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
