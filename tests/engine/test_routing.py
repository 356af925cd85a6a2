"""The decision-first modes (smart, balance) and expression edges, with the scripted model."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from pathweaver.agent.config import AgentConfig
from pathweaver.agent.expressions import ExpressionError, parse
from pathweaver.agent.validation import validate_pathway
from pathweaver.engine import routing
from pathweaver.engine.events import DecisionMade, ReplyDelta, TurnDone
from pathweaver.engine.prompt import TRANSITION_TOOL
from pathweaver.engine.turn import TurnInput, effective_mode, run_turn
from pathweaver.errors import ModelOutputError
from pathweaver.llm.base import ChatEvent, ChatRequest, Message, StructuredRequest, TextDelta
from pathweaver.llm.local import LocalModel
from pathweaver.llm.scripted import Reply, ScriptedModel
from tests.engine.test_turn import NOW, edge, node, pathway, session

SMART = AgentConfig(execution_mode="smart")
BALANCE = AgentConfig(execution_mode="balance")

BOOKING = pathway(
    [
        node("start", "start"),
        node("ask_size", variableKeys=["party_size"]),
        node("human", isGlobalNode=True, globalNodeReason="The user asks to talk to a human"),
        node("bye", "end"),
    ],
    [
        edge("start", "ask_size", "The user wants to book a table"),
        edge("ask_size", "bye", "The user gave the party size"),
        edge("human", "start", "The user wants to continue with the bot"),
    ],
)


def choose(statement_start: str | None):
    """A scripted decision: the option whose statement starts so (None: stay)."""

    def answer(request: StructuredRequest) -> dict[str, Any]:
        assert request.purpose == "decide"
        if statement_start is None:
            return {"choice": 0}
        index = next(i for i, text in enumerate(request.options) if text.startswith(statement_start))
        return {"choice": index}

    return answer


async def run(graph, state, text, model, agent=SMART, **fields):
    turn_input = TurnInput(
        agent=agent,
        pathway=graph,
        session=state,
        history=fields.pop("history", []),
        incoming=[Message(role="user", content=text)],
        now=NOW,
        **fields,
    )
    events = [event async for event in run_turn(turn_input, model)]
    assert isinstance(events[-1], TurnDone)
    return events[-1].outcome, events


async def test_smart_decides_first_then_replies_from_the_chosen_node_without_a_transition_tool() -> None:
    model = ScriptedModel([Reply("How many people?")], structured_answers=[choose("The user wants to book")])
    outcome, _ = await run(BOOKING, session("start"), "I'd like a table", model)
    assert outcome.node_after == "ask_size"
    decide, reply = model.calls[0], model.calls[1]
    assert isinstance(decide, StructuredRequest) and decide.purpose == "decide"
    assert decide.options == (
        "None of them",
        "The user wants to book a table",
        "The user asks to talk to a human",
    )
    assert "I'd like a table" in (decide.messages[-1].content or ""), "the last exchange is quoted"
    assert isinstance(reply, ChatRequest) and reply.tools == ()
    assert "You are at ask_size." in (reply.messages[0].content or "")
    assert all(t.name != TRANSITION_TOOL for t in reply.tools)
    decision = outcome.trace["decisions"][0]
    assert decision["decidedBy"] == "model" and decision["chosen"] == "ask_size"
    assert [o["target"] for o in decision["options"]] == [None, "ask_size", "human"]
    assert [o.get("via") for o in decision["options"]] == [None, "edge", "global"]
    assert outcome.trace["transitions"][0]["status"] == "chosen"


async def test_smart_stays_on_none_and_replies_at_the_current_node() -> None:
    model = ScriptedModel([Reply("Sure, what else?")], structured_answers=[choose(None)])
    outcome, _ = await run(BOOKING, session("start"), "hmm", model)
    assert outcome.node_after == "start" and outcome.text == "Sure, what else?"
    assert [c.purpose for c in model.calls] == ["decide", "reply"]


@pytest.mark.parametrize(
    "answer",
    [{"choice": 7}, {"choice": "x"}, {"choice": True}, {}, ModelOutputError("truncated JSON")],
)
async def test_a_bad_decision_never_moves_and_is_recorded(answer) -> None:
    model = ScriptedModel([Reply("Still here")], structured_answers=[answer])
    outcome, _ = await run(BOOKING, session("start"), "I want to book a table", model)
    assert outcome.node_after == "start" and outcome.text == "Still here"
    decision = outcome.trace["decisions"][0]
    assert decision["decidedBy"] == "error" and decision["chosen"] is None and decision["error"]


async def test_a_node_without_options_makes_no_decision_call() -> None:
    graph = pathway([node("start", "start")], [])
    model = ScriptedModel([Reply("hi")])
    await run(graph, session("start"), "hello", model)
    assert [c.purpose for c in model.calls] == ["reply"]


class SlowModel(ScriptedModel):
    """Replies stream slowly; the decision answers after ``decide_delay`` seconds."""

    def __init__(self, decision: dict[str, Any], decide_delay: float, reply_text: str = "one two three"):
        super().__init__()
        self.decision = decision
        self.decide_delay = decide_delay
        self.reply_text = reply_text
        self.started: list[str] = []
        self.cancelled = 0
        self.log: list[str] = []

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatEvent]:
        self.calls.append(request)
        self.started.append((request.messages[0].content or "").split("You are at ")[-1])
        self.log.append("reply started")
        try:
            for word in self.reply_text.split():
                await asyncio.sleep(0.01)
                yield TextDelta(word + " ")
        except (asyncio.CancelledError, GeneratorExit):
            self.cancelled += 1
            raise
        from pathweaver.llm.base import Finish

        yield Finish("stop")

    async def structured(self, request: StructuredRequest):
        self.calls.append(request)
        await asyncio.sleep(self.decide_delay)
        self.log.append("decided")
        from pathweaver.llm.base import StructuredResult

        return StructuredResult(self.decision)


async def test_balance_relays_the_reply_already_under_way_when_the_decision_stays() -> None:
    model = SlowModel({"choice": 0}, decide_delay=0.05)
    outcome, events = await run(BOOKING, session("start"), "hmm", model, BALANCE)
    assert outcome.node_after == "start" and outcome.text == "one two three "
    assert model.log == ["reply started", "decided"], "the reply starts beside the decision"
    assert model.count("reply") == 1
    deltas = [e.text for e in events if isinstance(e, ReplyDelta)]
    assert "".join(deltas) == "one two three "


async def test_balance_cancels_the_reply_from_the_wrong_node_and_none_of_it_reaches_the_client() -> None:
    model = SlowModel({"choice": 1}, decide_delay=0.02, reply_text="wrong node text that is long")
    outcome, events = await run(BOOKING, session("start"), "book a table", model, BALANCE)
    assert outcome.node_after == "ask_size"
    assert model.count("reply") == 2 and model.cancelled == 1
    assert model.started[0].startswith("start") and model.started[1].startswith("ask_size")
    # The second reply has the same words but comes from ask_size: nothing doubled, nothing early.
    deltas = "".join(e.text for e in events if isinstance(e, ReplyDelta))
    assert deltas == "wrong node text that is long "
    first_delta = next(i for i, e in enumerate(events) if isinstance(e, ReplyDelta))
    decided = next(i for i, e in enumerate(events) if isinstance(e, DecisionMade))
    assert decided < first_delta


def test_modes_left_unset_follow_the_model() -> None:
    local = LocalModel(lambda: None)  # type: ignore[arg-type, return-value]
    assert effective_mode(AgentConfig(), local) == "smart"
    assert effective_mode(AgentConfig(), ScriptedModel()) == "balance"
    assert effective_mode(BALANCE, local) == "smart", "one call at a time: balance is smart"
    assert effective_mode(AgentConfig(execution_mode="turbo"), local) == "turbo"


# Expression edges ------------------------------------------------------------------------

VARS = AgentConfig.model_validate(
    {
        "executionMode": "smart",
        "variableConfigs": [
            {"key": "party_size", "type": "number"},
            {"key": "phone", "type": "string"},
        ],
        "sessionVariables": ["customer_tier"],
    }
)


def expression_edge(source: str, target: str, expression: str, condition: str = "") -> dict[str, Any]:
    return {
        "id": f"{source}-{target}",
        "source": source,
        "target": target,
        "data": {"condition": condition, "expression": expression},
    }


SIZES = pathway(
    [
        node("ask_size", "start", variableKeys=["party_size"]),
        node("manager", prompt="A manager handles {{party_size}} people."),
        node("ask_date"),
        node("vip"),
    ],
    [
        expression_edge("ask_size", "manager", "party_size > 8", "Large group"),
        expression_edge("ask_size", "ask_date", "party_size is set", "Size given"),
        edge("ask_size", "vip", "The user asks about the VIP room"),
    ],
)


async def test_an_expression_edge_decides_without_a_model_call_once_the_values_are_in() -> None:
    model = ScriptedModel([Reply("The manager will call.")], structured_answers=[{"party_size": 12}])
    outcome, _ = await run(SIZES, session("ask_size"), "we are twelve", model, VARS)
    assert outcome.node_after == "manager"
    assert [c.purpose for c in model.calls] == ["extract", "reply"], "no decision call"
    assert "A manager handles 12 people." in (model.calls[-1].messages[0].content or "")
    decision = outcome.trace["decisions"][0]
    assert decision["decidedBy"] == "expression" and decision["expression"] == "party_size > 8"
    assert decision["edgeId"] == "ask_size-manager"


async def test_edges_are_tried_in_order_and_the_model_decides_when_no_expression_holds() -> None:
    model = ScriptedModel([Reply("ok")], structured_answers=[{"party_size": 4}])
    outcome, _ = await run(SIZES, session("ask_size"), "four of us", model, VARS)
    assert outcome.node_after == "ask_date"
    model = ScriptedModel(
        [Reply("The VIP room seats ten.")],
        structured_answers=[{"party_size": None}, choose("The user asks about the VIP")],
    )
    outcome, _ = await run(SIZES, session("ask_size"), "tell me about the vip room", model, VARS)
    assert outcome.node_after == "vip"
    decide = [c for c in model.calls if c.purpose == "decide"][0]
    assert decide.options == ("None of them", "The user asks about the VIP room"), (
        "expression edges are not options"
    )


async def test_an_expression_that_fails_at_run_time_counts_as_false_and_is_recorded() -> None:
    graph = pathway(
        [node("start", "start"), node("gold")],
        [expression_edge("start", "gold", "customer_tier > 3")],
    )
    model = ScriptedModel([Reply("hello")])
    outcome, _ = await run(graph, session("start", variables={"customer_tier": "gold"}), "hi", model, VARS)
    assert outcome.node_after == "start"
    decision = outcome.trace["decisions"][0]
    assert decision["decidedBy"] == "none"
    assert "both sides must be numbers" in decision["expressionErrors"][0]["error"]


async def test_expression_edges_that_hold_on_entry_are_followed_at_once() -> None:
    graph = pathway(
        [
            node("start", "start"),
            node("ask_size", variableKeys=["party_size"]),
            node("ask_phone", variableKeys=["phone"]),
        ],
        [
            edge("start", "ask_size", "The user wants to book a table"),
            expression_edge("ask_size", "ask_phone", "party_size is set"),
        ],
    )
    model = ScriptedModel(
        [Reply("And your phone?")],
        structured_answers=[choose("The user wants to book"), {"party_size": 3, "phone": None}],
    )
    outcome, _ = await run(graph, session("start"), "a table for three please", model, VARS)
    assert outcome.node_after == "ask_phone", "the size was given: its question is skipped"
    assert outcome.visited == ("start", "ask_size", "ask_phone")
    assert outcome.extracted == {"party_size": 3}


async def test_session_variables_and_membership_and_presence() -> None:
    graph = pathway(
        [node("start", "start"), node("gold"), node("other")],
        [
            expression_edge("start", "gold", 'customer_tier in ["gold", "platinum"] and phone is not set'),
            edge("start", "other", "The user says anything else"),
        ],
    )
    model = ScriptedModel([Reply("Welcome back")])
    outcome, _ = await run(graph, session("start", variables={"customer_tier": "Gold"}), "hi", model, VARS)
    assert outcome.node_after == "gold"


@pytest.mark.parametrize(
    ("text", "variables", "expected"),
    [
        ("party_size > 8", {"party_size": 9}, True),
        ("party_size > 8", {"party_size": "9"}, True),
        ("party_size > 8", {}, False),
        ("party_size <= 8 or vip == true", {"party_size": 10, "vip": True}, True),
        ('tier == "GOLD"', {"tier": "gold"}, True),
        ("tier != null", {"tier": "x"}, True),
        ("not (a is set)", {"a": ""}, True),
        ("a is set", {"a": 0}, True),
        ("x not in [1, 2]", {"x": 3}, True),
        ("customer.tier == 'gold'", {"customer": {"tier": "gold"}}, True),
        ('"care" in reason', {"reason": "Skin care question"}, True),
    ],
)
def test_the_expression_language(text: str, variables: dict[str, Any], expected: bool) -> None:
    assert parse(text).evaluate(variables) is expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("party_size >", "expected a value or a variable name at position 13"),
        ("x = 1", "unexpected character '='"),
        ("__import__('os')", "expected"),
        ("a is", 'expected "set"'),
        ("(" * 40 + "a" + ")" * 40, "nested more than"),
        ("x" * 2000, "longer than"),
    ],
)
def test_malformed_expressions_are_named(text: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=message.replace("(", r"\(")):
        parse(text)


def test_validation_names_a_malformed_expression_and_its_node() -> None:
    graph = pathway(
        [node("start", "start"), node("next")],
        [
            expression_edge("start", "next", "party_size >>= 3"),
            expression_edge("start", "start", "mystery > 1"),
        ],
    )
    report = validate_pathway(graph, VARS)
    assert [e.code for e in report.errors] == ["invalid_expression"]
    error = report.errors[0]
    assert error.node_id == "start" and error.field == "edges[0].data.expression"
    assert 'edge "start-next" from node "start"' in error.message
    unknown = [w for w in report.warnings if w.code == "unknown_expression_variable"]
    assert unknown and '"mystery"' in unknown[0].message


def test_the_step_can_follow_the_history_so_the_rest_stays_cached() -> None:
    from pathweaver.engine.prompt import context

    agent = AgentConfig(globalPrompt="You are Luna's host.", language="en")
    at = BOOKING.node("ask_size")
    assert at is not None
    earlier = [Message(role="user", content="hello"), Message(role="assistant", content="Hi! Booking?")]
    window = [*earlier, Message(role="user", content="hi")]
    one = context(agent, at, window, session_vars={}, extracted={}, now=NOW, offer_transition=False)
    assert [m.role for m in one] == ["system", "user", "assistant", "user"]
    assert one[0].content is not None and "You are Luna's host." in one[0].content
    assert "You are at ask_size." in one[0].content
    split = context(
        agent,
        at,
        window,
        session_vars={},
        extracted={"party_size": 4},
        now=NOW,
        offer_transition=False,
        step_last=True,
    )
    # The stable part and the earlier history first (the cached prefix), then the step,
    # then the user's last message: the last thing the model reads before it answers.
    assert [m.role for m in split] == ["system", "user", "assistant", "system", "user"]
    assert split[0].content is not None and "ask_size" not in split[0].content, "the stable part only"
    assert split[1:3] == earlier
    assert split[3].content is not None and "You are at ask_size." in split[3].content
    assert '"party_size": 4' in split[3].content
    assert split[4].content == "hi"


@pytest.mark.parametrize(
    ("said", "raw", "kept"),
    [
        ("Hi, I'd like to book a table", {"party_size": 2, "customer_name": "Dana"}, {}),
        (
            "It's for Dana Levi",
            {"party_size": 2, "customer_name": "Dana Levi"},
            {"customer_name": "Dana Levi"},
        ),
        ("We are four people", {"party_size": 4}, {"party_size": 4}),
        (
            "just the two of us, tomorrow at 7pm",
            {"party_size": 2, "booking_date": "tomorrow at 7pm"},
            {"party_size": 2, "booking_date": "tomorrow at 7pm"},
        ),
        ("a group of 30", {"party_size": 30}, {"party_size": 30}),
        ("my name is ann", {"customer_name": "Ann Lee"}, {"customer_name": "Ann Lee"}),
        ("2 adults and 2 kids", {"party_size": 4}, {"party_size": 4}),
        ("2 adults and 2 kids", {"party_size": 3}, {}),
        # Only "the" of the guess was said: words like it ground nothing.
        (
            "I'd like to book the ferry to Arran Isle",
            {"booking_date": "Saturday the 14th, the 9:30 sailing"},
            {},
        ),
        (
            "Saturday, the 9:30 one",
            {"booking_date": "Saturday the 9:30 sailing"},
            {"booking_date": "Saturday the 9:30 sailing"},
        ),
    ],
)
def test_extracted_values_must_be_something_the_user_said(said: str, raw: dict, kept: dict) -> None:
    from pathweaver.agent.config import VariableConfig
    from pathweaver.engine.extraction import apply

    configs = [
        VariableConfig(key="party_size", type="number"),
        VariableConfig(key="customer_name"),
        VariableConfig(key="booking_date"),
    ]
    result = apply(configs, raw, said)
    assert result.values == kept
    assert set(result.rejected) == set(raw) - set(kept)


def test_a_whole_earlier_message_copied_into_a_field_is_not_a_value() -> None:
    """The 1.5B model put the user's previous message into the booking date, which moved
    the conversation past the date question on an expression edge (``booking_date is set``)."""
    from pathweaver.agent.config import VariableConfig
    from pathweaver.engine.extraction import apply

    configs = [
        VariableConfig(key="party_size", type="number"),
        VariableConfig(key="booking_date"),
        VariableConfig(key="reason"),
    ]
    said = ("Under Jenkins please, Sarah Jenkins", "There'll be four of us")
    copied = apply(configs, {"party_size": 4, "booking_date": "Under Jenkins please, Sarah Jenkins"}, said)
    assert copied.values == {"party_size": 4}
    assert "earlier message" in copied.rejected["booking_date"]

    # The latest message whole is a fine value (a reason for calling), and so is a part of
    # an earlier one (a date given before its question).
    said = ("a table for four tomorrow at 7pm", "my notes are not syncing at all")
    kept = apply(
        configs, {"booking_date": "tomorrow at 7pm", "reason": "my notes are not syncing at all"}, said
    )
    assert kept.values == {"booking_date": "tomorrow at 7pm", "reason": "my notes are not syncing at all"}


@pytest.mark.parametrize(
    ("via", "check", "moves"),
    [
        ("edge", None, True),  # a model that gives no check: its pick stands
        ("edge", 0.55, True),
        ("edge", 0.45, False),
        ("global", 0.61, False),  # small talk jumped to the demo's global node at 0.61
        ("global", 0.73, True),  # "Can I speak to the manager please?"
        ("end", 0.67, False),  # "I need to move my appointment" to "book or cancel, not move"
        ("end", 0.81, True),  # "no thanks, bye"
    ],
)
def test_a_pick_moves_only_when_the_models_own_check_clears_the_bar_for_its_kind(
    via: str, check: float | None, moves: bool
) -> None:
    from pathweaver.engine import routing
    from pathweaver.llm.base import StructuredResult

    options = [
        routing.Option("ask_size", "The user gave their name", "edge"),
        routing.Option("human", "x", "edge" if via == "end" else via, ends=via == "end"),
    ]
    picked = options[1]
    option, why = routing.chosen(StructuredResult({"choice": 2}, check=check), options)
    assert why is None
    assert option == (picked if moves else None)


# A filled step: the node asked for its values, an edge says the user has given them -------

FORM = pathway(
    [
        node("start", "start"),
        node("ask_name", variableKeys=["customer_name", "phone"]),
        node("ask_size"),
        node("bye", "end"),
    ],
    [
        edge("start", "ask_name", "The user wants to book a table"),
        edge("ask_name", "ask_size", "The user has given their name and phone number"),
        edge("ask_name", "bye", "The user wants to stop"),
    ],
)
FORM_AGENT = AgentConfig.model_validate(
    {
        "executionMode": "smart",
        "variableConfigs": [{"key": "customer_name", "type": "string"}, {"key": "phone", "type": "string"}],
    }
)


class WordMatcher:
    """Close when the statement speaks of giving something, far otherwise."""

    def similarities(self, said: str, statements):
        return tuple(0.9 if "given" in s and "given" in said else 0.1 for s in statements)


def extracts(values: dict[str, Any]):
    def answer(request: StructuredRequest) -> dict[str, Any]:
        assert request.purpose == "extract"
        return values

    return answer


async def test_a_node_whose_values_are_all_given_takes_its_way_forward_without_a_choice() -> None:
    model = ScriptedModel(
        [Reply("How many people?")],
        structured_answers=[extracts({"customer_name": "Dana", "phone": "555-0134"})],
    )
    model.matcher = WordMatcher()  # type: ignore[attr-defined]  # as the embedded model has
    outcome, _ = await run(FORM, session("ask_name"), "Dana, 555-0134", model, agent=FORM_AGENT)
    assert outcome.node_after == "ask_size"
    assert [c.purpose for c in model.calls] == ["extract", "reply"]  # no routing choice asked
    [decision] = outcome.trace["decisions"]
    assert decision["decidedBy"] == "filled" and decision["chosen"] == "ask_size"
    assert decision["expression"] == "customer_name is set and phone is set"


async def test_a_step_still_missing_a_value_is_left_to_the_models_choice() -> None:
    model = ScriptedModel(
        [Reply("And your phone?")],
        structured_answers=[extracts({"customer_name": "Dana"}), choose(None)],
    )
    model.matcher = WordMatcher()  # type: ignore[attr-defined]
    outcome, _ = await run(FORM, session("ask_name"), "It's Dana", model, agent=FORM_AGENT)
    assert outcome.node_after == "ask_name"
    assert [c.purpose for c in model.calls] == ["extract", "decide", "reply"]


async def test_without_a_matcher_the_model_decides_as_before() -> None:
    model = ScriptedModel(
        [Reply("How many people?")],
        structured_answers=[choose("The user has given"), extracts({"customer_name": "Dana", "phone": "1"})],
    )
    outcome, _ = await run(FORM, session("ask_name"), "Dana, 1", model, agent=FORM_AGENT)
    assert outcome.node_after == "ask_size"
    assert outcome.trace["decisions"][0]["decidedBy"] == "model"


def test_a_filled_candidate_must_stand_out_among_the_nodes_edges() -> None:
    edges = [
        routing.Option("a", "x", "edge"),
        routing.Option("b", "y", "edge"),
        routing.Option("h", "z", "global"),
    ]
    assert routing.filled_candidate(edges, (0.8, 0.3)) == edges[0]
    assert routing.filled_candidate(edges, (0.72, 0.64)) is None  # both speak of the value
    assert routing.filled_candidate(edges, (0.5, 0.1)) is None  # neither says it was given
    assert routing.filled_candidate(edges[:1], (0.65,)) == edges[0]
    assert (
        routing.filled_statement(FORM.node("ask_name")) == "The user has given their customer name and phone"
    )


def test_options_into_an_end_node_are_marked_for_the_stricter_bar() -> None:
    offered = routing.model_options(BOOKING, BOOKING.node("ask_size"))
    assert [(o.target, o.via, o.ends) for o in offered] == [("bye", "edge", True), ("human", "global", False)]


@pytest.mark.parametrize("text", ["hi", "Hello!", "Morning", "hey there, how are you?", "Good evening"])
async def test_a_first_message_that_only_greets_stays_without_asking_the_model(text: str) -> None:
    model = ScriptedModel(
        [Reply("Hello! How can I help?")], structured_answers=[choose("The user wants to book")]
    )
    outcome, _ = await run(BOOKING, session("start"), text, model)
    assert outcome.node_after == "start"
    assert [call.purpose for call in model.calls if isinstance(call, StructuredRequest)] == []
    decision = outcome.trace["decisions"][0]
    assert decision["decidedBy"] == "greeting" and decision["chosen"] is None
    assert [o["target"] for o in decision["options"]] == [None, "ask_size", "human"]  # what was on offer


@pytest.mark.parametrize("text", ["hi, I'd like a table for 2", "good", "morning please", "hi 4"])
async def test_a_message_with_more_than_a_greeting_is_decided_by_the_model(text: str) -> None:
    model = ScriptedModel([Reply("How many people?")], structured_answers=[choose("The user wants to book")])
    outcome, _ = await run(BOOKING, session("start"), text, model)
    assert outcome.node_after == "ask_size"


async def test_a_greeting_moves_where_a_condition_speaks_of_greeting_and_later_in_a_conversation() -> None:
    greets = pathway(
        [node("start", "start"), node("welcome")],
        [edge("start", "welcome", "The user greets the assistant")],
    )
    model = ScriptedModel([Reply("Welcome!")], structured_answers=[choose("The user greets")])
    outcome, _ = await run(greets, session("start"), "hello", model)
    assert outcome.node_after == "welcome"
    # Not the first message: "morning" may answer "morning or afternoon?".
    later = ScriptedModel([Reply("How many people?")], structured_answers=[choose("The user wants to book")])
    outcome, _ = await run(
        BOOKING,
        session("start"),
        "morning",
        later,
        history=[Message("user", "Can I come in?"), Message("assistant", "Morning or afternoon?")],
    )
    assert outcome.node_after == "ask_size"
