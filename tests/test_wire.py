"""The server's request parsing without a model: chat bodies, import bodies, and which errors become which status."""
from __future__ import annotations

import json

import pytest

from edge_drift.errors import ProfileError, ProfileNotFoundError
from edge_drift.serving.app import import_body
from edge_drift.serving.wire import ApiError, as_api_error, parse_chat

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


def import_request(**body) -> bytes:
    pair = {"prompt": "Hi?", "chosen": "Hello.", "rejected": "Greetings, dear friend, and welcome."}
    return json.dumps({"pairs": [pair], **body}).encode()


@pytest.mark.parametrize("field, value", [("top_k", "abc"), ("top_k", 0), ("top_k", 2.5), ("solver", "nope"),
                                          ("beta", -1), ("attributes", "concise"), ("attributes", ["no_such"]),
                                          ("replace", "yes"), ("pairs", {"prompt": "x"})])
def test_an_import_option_the_cli_would_refuse_is_a_400_naming_it_before_any_scoring(field, value):
    with pytest.raises(ApiError) as info:
        import_body(import_request(**{field: value}), "application/json")
    assert info.value.status == 400 and info.value.param == field


def test_import_options_reach_the_fit_as_profile_fit_takes_them():
    pairs, options = import_body(import_request(top_k=3, solver="bt", beta=0.5, attributes=["concise", "humor"],
                                                replace=True), "application/json")
    assert len(pairs) == 1 and options["top_k_attributes"] == 3 and options["solver"] == "bt"
    assert options["beta"] == 0.5 and options["replace"] is True
    assert [a.name for a in options["attributes"].attributes] == ["concise", "humor"]


def test_a_missing_profile_is_a_404_by_its_type_not_by_its_words():
    assert as_api_error(ProfileNotFoundError("no profile for 'x' in /p")).status == 404
    assert as_api_error(ProfileError("no profile could be read: the file is damaged")).status == 400


def test_a_lean_tilts_a_steering_model_and_is_refused_elsewhere():
    call = parse_chat({"model": "edge-drift", "messages": QUESTION, "lean": "-concise"})
    assert call.knobs == {"lean": "-concise"} and call.strategy == "drift"
    for body in ({"model": "edge-drift-plain", "lean": "+concise"}, {"model": "edge-drift", "lean": "concise"},
                 {"model": "edge-drift", "lean": 3}):
        with pytest.raises(ApiError) as refused:
            parse_chat({**body, "messages": QUESTION})
        assert refused.value.status == 400 and refused.value.param == "lean"
