"""How big a run is: the full plan, and the smoke plan CI runs to keep the harness working."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Plan:
    name: str
    warmup: int
    rounds: int
    """M1/M4: interleaved rounds, ``per_round`` non-streaming requests per arm each."""
    per_round: int
    concurrent_rounds: int
    """M1 at c=8: rounds of 8 concurrent requests per arm."""
    stream_rounds: int
    """M2/M3: streams per arm with the realistic gap."""
    stream_gap: float
    stream_chunks: int
    tool_rounds: int
    chunk_rounds: int
    """M4: rounds of short and long zero-gap streams (CPU per relayed chunk)."""
    long_stream_chunks: int
    graph_sizes: tuple[int, ...]
    graph_rounds: int
    history_lengths: tuple[int, ...]
    history_rounds: int
    kind_turns: int
    """M10: turns of each kind."""
    flood: int
    """M13: requests with invalid keys."""
    rates: tuple[int, ...]
    """M5: open-loop rates swept, requests per second."""
    rate_seconds: float
    stream_levels: tuple[int, ...]
    """M6: concurrent streams tried."""
    stream_open_rate: float
    """M6: streams opened per second, below every arm's M5 knee (M6 measures streams held at
    once; the rate at which new turns can start is M5's)."""
    slow_gap: float
    slow_chunks: int
    idle_sessions: int
    """M7: sessions created and left idle."""
    hol_rounds: int
    """M12: rounds of ``hol_streams`` streams, alone and beside big requests."""
    hol_streams: int
    hol_messages: int
    """M12: messages in each big request (at most ``PATHWEAVER_MAX_MESSAGES``)."""


FULL = Plan(
    name="full",
    warmup=20,
    rounds=300,
    per_round=3,
    concurrent_rounds=60,
    stream_rounds=60,
    stream_gap=0.02,
    stream_chunks=16,
    tool_rounds=10,
    chunk_rounds=40,
    long_stream_chunks=256,
    graph_sizes=(10, 100, 1000, 10_000),
    graph_rounds=60,
    history_lengths=(1, 10, 100, 1000),
    history_rounds=40,
    kind_turns=20,
    flood=2000,
    rates=(25, 50, 100, 200, 400, 800),
    rate_seconds=4.0,
    stream_levels=(100, 250, 500, 1000),
    stream_open_rate=200,
    slow_gap=0.25,
    slow_chunks=40,
    idle_sessions=1000,
    hol_rounds=20,
    hol_streams=20,
    hol_messages=500,
)

SMOKE = Plan(
    name="smoke",
    warmup=2,
    rounds=5,
    per_round=2,
    concurrent_rounds=2,
    stream_rounds=3,
    stream_gap=0.02,
    stream_chunks=8,
    tool_rounds=2,
    chunk_rounds=3,
    long_stream_chunks=64,
    graph_sizes=(10, 100),
    graph_rounds=3,
    history_lengths=(1, 10),
    history_rounds=3,
    kind_turns=2,
    flood=50,
    rates=(20,),
    rate_seconds=1.0,
    stream_levels=(10,),
    stream_open_rate=50,
    slow_gap=0.1,
    slow_chunks=5,
    idle_sessions=20,
    hol_rounds=2,
    hol_streams=4,
    hol_messages=50,
)
