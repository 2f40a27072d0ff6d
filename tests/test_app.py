"""The server's routes in-process, with a stand-in for the Assistant: request parsing, status codes and streaming
shape without a model (the real server with the real model: tests/test_server.py)."""
from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient

from edge_drift.decoding import Event
from edge_drift.errors import ProfileNotFoundError
from edge_drift.serving.app import create_app

QUESTION = [{"role": "user", "content": "How do I keep my houseplants alive?"}]
TOOLS = [{"type": "function", "function": {"name": f"tool_{i}", "parameters": {"type": "object"}}} for i in range(36)]
PAIR = {"prompt": "Hi?", "chosen": "Hello.", "rejected": "Greetings, dear friend, and welcome."}


class StandInAssistant:
    """Answers every prompt with the same three tokens and records what it was asked; has no profiles."""

    def __init__(self):
        self.llm = self.slm = SimpleNamespace(path=Path(__file__))
        self.store = SimpleNamespace(load=self._no_profile, exists=lambda user: False, list=lambda: [])
        self.prepared: list[dict] = []
        self.runs: list[dict] = []
        self.fits = 0

    @staticmethod
    def _no_profile(user):
        raise ProfileNotFoundError(f"no profile for {user!r}")

    def prepare(self, messages, **options):
        self.prepared.append({"messages": messages, **options})
        steering = SimpleNamespace(notice=None, describe=lambda: {"user": options.get("user"), "strategy": "plain",
                                                                  "profile": None})
        return SimpleNamespace(steering=steering, dropped=0)

    def run(self, prepared, cancel=None, max_seconds=None):
        self.runs.append({"cancel": cancel, "max_seconds": max_seconds})
        yield from (Event("Water "), Event("them "), Event("weekly."))
        yield Event("", done=True, n_tokens=3, n_prompt_tokens=12, finish_reason="stop")

    def fit(self, *args, **kwargs):
        self.fits += 1
        raise AssertionError("a refused import must never reach the fit")


@pytest.fixture
def served():
    assistant = StandInAssistant()
    with TestClient(create_app(assistant)) as client:
        yield client, assistant


def test_open_webuis_request_with_offered_tools_streams_text(served):
    client, assistant = served
    headers = {"X-OpenWebUI-User-Id": "2b0a5c1e-user", "X-OpenWebUI-User-Name": "Tim", "X-OpenWebUI-Chat-Id": "c1"}
    with client.stream("POST", "/v1/chat/completions", headers=headers,
                       json={"model": "edge-drift", "messages": QUESTION, "stream": True, "tools": TOOLS}) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line]
    chunks = [json.loads(line[6:]) for line in lines[:-1]]
    assert lines[-1] == "data: [DONE]" and chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == "Water them weekly."
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    (asked,) = assistant.prepared
    assert asked["user"] == "2b0a5c1e-user" and asked["strategy"] == "drift" and asked["messages"] == QUESTION
    assert "tools" not in asked and asked["system"] is None  # the schemas reach neither the prompt nor the strategy


def test_a_forced_tool_call_is_a_400_before_anything_runs(served):
    client, assistant = served
    response = client.post("/v1/chat/completions", json={"messages": QUESTION, "tools": TOOLS,
                                                         "tool_choice": "required"})
    assert response.status_code == 400 and response.json()["error"]["param"] == "tool_choice"
    assert not assistant.prepared


@pytest.mark.parametrize("field, value", [("top_k", "abc"), ("top_k", 0), ("solver", "nope"), ("beta", 0)])
def test_a_bad_import_knob_is_a_400_naming_it_and_nothing_is_scored(served, field, value):
    client, assistant = served
    response = client.post("/v1/profiles/tim/import", json={"pairs": [PAIR], field: value})
    assert response.status_code == 400 and response.json()["error"]["param"] == field
    assert assistant.fits == 0


def test_a_missing_profile_is_a_404_and_the_defaults_need_no_key(served):
    client, _ = served
    missing = client.get("/v1/profiles/nobody")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "profile_not_found"
    defaults = client.get("/defaults").json()
    assert defaults["strategy"] == "drift" and defaults["compare"]["temperature"] > 0


def test_every_answer_runs_under_the_servers_time_limit():
    """`serve --max-seconds` reaches the generation of every chat request (None when 0 turns it off)."""
    for limit in (2.5, None):
        assistant = StandInAssistant()
        with TestClient(create_app(assistant, max_seconds=limit)) as client:
            for stream in (False, True):
                response = client.post("/v1/chat/completions",
                                       json={"model": "edge-drift-plain", "messages": QUESTION, "stream": stream})
                assert response.status_code == 200
        assert [run["max_seconds"] for run in assistant.runs] == [limit, limit]


def test_background_imports_take_at_most_half_the_queue():
    """A client that starts many background fits gets 429 once half the queue holds them, so chats still queue."""
    import threading

    release = threading.Event()

    class SlowFits(StandInAssistant):
        def fit(self, user, pairs, **options):
            self.fits += 1
            release.wait(30)
            profile = SimpleNamespace(n_pairs=len(pairs), attributes=[], selected=[], beta=0.125, solver="select", top_k=7,
                                      updated_at="now", cv_accuracy=None, user=user, preference_text=None,
                                      statement=None)
            return SimpleNamespace(profile=profile, n_new_pairs=len(pairs), n_duplicates=0,
                                   stats=SimpleNamespace(seconds=0.0), moves=lambda n=3: [])

    with TestClient(create_app(SlowFits(), queue_size=4)) as client:
        started = [client.post(f"/v1/profiles/u{i}/import?background=true", json={"pairs": [PAIR]}) for i in range(3)]
        assert [r.status_code for r in started] == [202, 202, 429]
        refused = started[2].json()["error"]
        assert refused["code"] == "too_many_tasks" and started[1].json()["id"] in refused["message"]
        answers = []
        chat = threading.Thread(target=lambda: answers.append(client.post(
            "/v1/chat/completions", json={"model": "edge-drift-plain", "messages": QUESTION})))
        chat.start()
        release.set()
        chat.join(30)
        assert answers[0].status_code == 200  # room was left for the chat: it waited behind the fits, then answered
        for task in started[:2]:
            for _ in range(100):
                state = client.get(f"/v1/tasks/{task.json()['id']}").json()
                if state["state"] not in ("queued", "running"):
                    break
                time.sleep(0.05)
            assert state["state"] == "done", state
        assert client.post("/v1/profiles/u9/import?background=true", json={"pairs": [PAIR]}).status_code == 202


@pytest.mark.parametrize("body", [{"text": ""}, {"text": "   "}, {"words": "Short answers."}, ["Short answers."]])
def test_a_statement_without_text_is_a_400_naming_it(served, body):
    client, assistant = served
    response = client.put("/v1/profiles/tim/statement", json=body)
    assert response.status_code == 400 and response.json()["error"]["param"] == "text"
    assert assistant.fits == 0
