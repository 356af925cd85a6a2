"""Tool calls recorded into the cassette and replayed with no tool run."""

from __future__ import annotations

from pathlib import Path

import pytest

from pathweaver.llm.base import ToolCall
from pathweaver.llm.cassette import Cassette, CassetteMismatch, scope
from pathweaver.tools.config import RestfulTool
from pathweaver.tools.recorded import RecordingTools, ReplayTools
from pathweaver.tools.scripted import ScriptedTools

LOOKUP = RestfulTool.model_validate(
    {
        "id": "tool_1",
        "name": "lookup_booking",
        "description": "Find a booking by name",
        "inputSchema": {"type": "object", "properties": {"name": {"type": "string"}}},
        "metadata": {
            "url": "https://bookings.example/find",
            "headers": {"Authorization": "Bearer s3cret-value"},
        },
    }
)
CALL = ToolCall(id="call_1", name="lookup_booking", arguments='{"name": "Ann"}')


async def test_offers_and_runs_replay_exactly_with_no_tool_run(tmp_path: Path) -> None:
    tools = ScriptedTools(answers={"lookup_booking": "Ann: table for 4 on Friday"})
    cassette = Cassette()
    recording = RecordingTools(tools, cassette)
    with scope("case/turn 1"):
        offer = await recording.offer([LOOKUP], builtins=["end_call"])
        result = await recording.run(offer, CALL, {"tier": "gold"})
    assert len(tools.calls) == 1
    cassette.save(tmp_path / "c.json")
    text = (tmp_path / "c.json").read_text(encoding="utf-8")
    assert "s3cret-value" not in text  # tool configs are fingerprinted, never written out

    replay = ReplayTools(Cassette.load(tmp_path / "c.json"))
    with scope("case/turn 1"):
        again_offer = await replay.offer([LOOKUP], builtins=["end_call"])
        again = await replay.run(again_offer, CALL, {"tier": "gold"})
    assert len(tools.calls) == 1 and replay.runs == 1
    assert again_offer.specs == offer.specs
    assert again_offer.get("lookup_booking") is not None
    assert again_offer.get("lookup_booking").config is LOOKUP  # type: ignore[union-attr]
    assert (again.content, again.is_error, again.record, again.action) == (
        result.content,
        result.is_error,
        result.record,
        result.action,
    )


async def test_a_changed_tool_call_is_a_mismatch_with_the_difference() -> None:
    cassette = Cassette()
    recording = RecordingTools(ScriptedTools(answers={"lookup_booking": "ok"}), cassette)
    with scope("case/turn 2"):
        offer = await recording.offer([LOOKUP])
        await recording.run(offer, CALL, {})
    replay = ReplayTools(cassette)
    changed = ToolCall(id="call_9", name="lookup_booking", arguments='{"name": "Bob"}')
    with scope("case/turn 2"):
        offer = await replay.offer([LOOKUP])
        with pytest.raises(CassetteMismatch) as caught:
            await replay.run(offer, changed, {})
    assert caught.value.message.startswith(
        "cassette mismatch: tool call 1 for 'tool-run' at 'case/turn 2' differs from the recorded request:"
    )
    assert '-arguments: "{\\"name\\": \\"Ann\\"}"' in caught.value.diff
    assert '+arguments: "{\\"name\\": \\"Bob\\"}"' in caught.value.diff


async def test_an_edited_tool_config_is_a_mismatch_at_the_offer() -> None:
    cassette = Cassette()
    recording = RecordingTools(ScriptedTools(), cassette)
    with scope("t"):
        await recording.offer([LOOKUP])
    edited = LOOKUP.model_copy(update={"description": "Find a booking"})
    with scope("t"), pytest.raises(CassetteMismatch, match="'tool-offer' at 't' differs"):
        await ReplayTools(cassette).offer([edited])


async def test_the_diff_of_an_edited_config_names_the_part_and_shows_no_value() -> None:
    cassette = Cassette()
    with scope("case/turn 3"):
        await RecordingTools(ScriptedTools(), cassette).offer([LOOKUP])
    metadata = {**LOOKUP.metadata.to_json(), "url": "https://bookings.example/v2/find?key=other-s3cret"}
    edited = RestfulTool.model_validate({**LOOKUP.to_json(), "metadata": metadata})
    with scope("case/turn 3"), pytest.raises(CassetteMismatch) as caught:
        await ReplayTools(cassette).offer([edited])
    changed = [
        line
        for line in caught.value.diff.splitlines()
        if line[:1] in "-+" and not line.startswith(("---", "+++"))
    ]
    assert [line.split(":")[0].strip("-+ ") for line in changed] == [
        '"metadata.url"',
        '"metadata.url"',
        '"sha256"',
        '"sha256"',
    ]
    assert "s3cret" not in caught.value.message and "bookings.example" not in caught.value.message


async def test_a_step_without_tool_configs_is_not_recorded_and_replays_its_builtins() -> None:
    cassette = Cassette()
    recording = RecordingTools(ScriptedTools(), cassette)
    descriptions = {"transfer_to_human": "When they ask for Bob"}
    with scope("t"):
        offered = await recording.offer(
            [], builtins=["end_call", "transfer_to_human"], descriptions=descriptions
        )
        assert (await recording.offer([])).specs == ()
    assert cassette.entries == []  # computed locally on both sides: nothing to record
    replay = ReplayTools(cassette)
    with scope("t"):
        again = await replay.offer([], builtins=["end_call", "transfer_to_human"], descriptions=descriptions)
        result = await replay.offer([])
    assert again.specs == offered.specs and result.specs == ()
    assert [tool.kind for tool in again.tools] == ["builtin", "builtin"]
    assert again.specs[1].description == "When they ask for Bob"
