"""The chat-completions wire format without a model: what parse_chat accepts, ignores and refuses."""
from __future__ import annotations

import pytest

from edge_drift.serving.wire import ApiError, parse_chat

QUESTION = [{"role": "user", "content": "How do I keep my houseplants alive?"}]
TOOL = {"type": "function", "function": {"name": "get_current_timestamp", "parameters": {"type": "object"}}}


def refused(body: dict) -> ApiError:
    with pytest.raises(ApiError) as info:
        parse_chat(body)
    assert info.value.status == 400
    return info.value


@pytest.mark.parametrize("offer", [
    {"tools": [TOOL] * 36},
    {"tools": [TOOL], "tool_choice": "auto"},
    {"tools": [TOOL], "tool_choice": "none", "parallel_tool_calls": False},
    {"tools": [TOOL], "tool_choice": {"type": "allowed_tools", "allowed_tools": {"mode": "auto", "tools": []}}},
    {"functions": [TOOL["function"]], "function_call": "auto"},
    {"functions": [TOOL["function"]], "function_call": "none"},
    {"tools": []},
])
def test_offered_tools_are_accepted_and_leave_the_call_as_without_them(offer):
    plain = parse_chat({"model": "edge-drift", "messages": QUESTION, "stream": True})
    offered = parse_chat({"model": "edge-drift", "messages": QUESTION, "stream": True, **offer})
    assert offered == plain  # the schemas go nowhere: same messages, system, settings and knobs


@pytest.mark.parametrize("body, param", [
    ({"tools": [TOOL], "tool_choice": "required"}, "tool_choice"),
    ({"tools": [TOOL], "tool_choice": {"type": "function", "function": {"name": "get_current_timestamp"}}},
     "tool_choice"),
    ({"tools": [TOOL], "tool_choice": {"type": "allowed_tools", "allowed_tools": {"mode": "required"}}},
     "tool_choice"),
    ({"tool_choice": "something-else"}, "tool_choice"),
    ({"functions": [TOOL["function"]], "function_call": {"name": "get_current_timestamp"}}, "function_call"),
    ({"tools": {"get_current_timestamp": TOOL}}, "tools"),
    ({"functions": "get_current_timestamp"}, "functions"),
])
def test_a_forced_tool_call_or_a_malformed_tool_list_is_a_400_naming_the_field(body, param):
    error = refused({"model": "edge-drift", "messages": QUESTION, **body})
    assert error.param == param and param in error.message


def test_n_other_than_one_and_a_json_response_format_are_refused():
    assert refused({"messages": QUESTION, "n": 2}).param == "n"
    assert refused({"messages": QUESTION, "response_format": {"type": "json_object"}}).param == "response_format"
    assert parse_chat({"messages": QUESTION, "n": 1, "response_format": {"type": "text"}}).strategy == "drift"
