"""`edge-drift serve` for real: a uvicorn process on 127.0.0.1 with the embedded model, driven by the openai client."""
from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import openai
import pytest

from edge_drift.decoding import SamplingSettings
from edge_drift.profile import DEFAULT_BETA
from edge_drift.serving.process import ServerProcess
from edge_drift.strategies import DEFAULT_STRATEGY

KEY = "test-key"
EXAMPLES = Path(__file__).resolve().parent.parent / "profiles" / "examples"
ATTRIBUTES = ["concise", "storyteller", "vivid"]
QUESTION = [{"role": "user", "content": "How do I keep my houseplants alive?"}]
ESSAY = [{"role": "user", "content": "Write a very long, detailed essay about the history of bridges."}]
GREEDY = {"temperature": 0, "max_tokens": 24}


# What Open WebUI 0.12's chat page offers with every request (36 built-in tools, no tool_choice).
OPEN_WEBUI_TOOL_NAMES = ["get_current_timestamp", "calculate_timestamp", "ask_user", "search_memories", "add_memory",
                         "replace_memory_content", "delete_memory", "list_memories", "search_notes", "view_note",
                         "write_note", "replace_note_content", "search_chats", "view_chat", "search_channels",
                         "search_channel_messages", "view_channel_message", "view_channel_thread",
                         "search_knowledge_bases", "query_knowledge_bases", "search_knowledge_files",
                         "query_knowledge_files", "view_knowledge_file", "view_file", "search_web", "fetch_url",
                         "generate_image", "edit_image", "execute_code", "create_calendar_event",
                         "search_calendar_events", "update_calendar_event", "delete_calendar_event",
                         "list_automations", "create_automation", "get_weather"]
OPEN_WEBUI_TOOLS = [{"type": "function", "function": {
    "name": name, "description": f"Open WebUI's built-in {name.replace('_', ' ')}.",
    "parameters": {"type": "object", "properties": {"query": {"type": "string", "description": "what to look for"}},
                   "required": []}}} for name in OPEN_WEBUI_TOOL_NAMES]
OPEN_WEBUI_HEADERS = {"X-OpenWebUI-User-Name": "Tim%20T", "X-OpenWebUI-User-Email": "tim@example.com",
                      "X-OpenWebUI-User-Role": "user", "X-OpenWebUI-Chat-Id": "2b0a5c1e-chat",
                      "X-OpenWebUI-Auth-Type": "session"}


def example_pairs(user: str, n: int = 8) -> list[dict]:
    lines = (EXAMPLES / f"{user}.pairs.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines[:n]]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One server for the module; tim and wendy (opposite tastes) get profiles through the import endpoint."""
    folder = tmp_path_factory.mktemp("served")
    with ServerProcess("--profiles-dir", str(folder / "profiles"), "--api-key", KEY, "--queue-size", "16",
                       "--attributes", ",".join(ATTRIBUTES), log=folder / "serve.log") as process:
        for user, name in (("tim", "terse_tim"), ("wendy", "warm_wendy")):
            response = httpx.post(f"{process.url}/v1/profiles/{user}/import", timeout=300,
                                  headers={"Authorization": f"Bearer {KEY}"},
                                  json={"pairs": example_pairs(name), "attributes": ATTRIBUTES, "top_k": 3})
            assert response.status_code == 200, response.text
        process.profiles = folder / "profiles"
        yield process


@pytest.fixture
def client(server) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=KEY, max_retries=0, timeout=300)


def ask(client, user: str | None, model: str = "edge-drift", messages=QUESTION, **options):
    """A non-streaming answer (greedy unless told) and its headers; steering knobs travel in extra_body."""
    headers = {"X-Edge-Drift-User": user} if user else {}
    knobs = {k: options.pop(k) for k in ("beta", "strategy", "top_attributes", "lean") if k in options}
    raw = client.chat.completions.with_raw_response.create(model=model, messages=messages, extra_headers=headers,
                                                           extra_body=knobs, **{**GREEDY, **options})
    return raw.parse(), raw.headers


def sse_lines(server, body: dict, user: str | None = None) -> list[str]:
    headers = {"Authorization": f"Bearer {KEY}", **({"X-Edge-Drift-User": user} if user else {})}
    with httpx.stream("POST", f"{server.url}/v1/chat/completions", json=body, headers=headers, timeout=300) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        return [line for line in r.iter_lines() if line]


def test_models_list_one_entry_per_way_of_answering(client):
    ids = {model.id for model in client.models.list()}
    assert {"edge-drift", "edge-drift-plain", "edge-drift-drift", "edge-drift-panda", "edge-drift-pad",
            "edge-drift-args", "edge-drift-best-of-n", "edge-drift-prompt"} == ids


def test_wrong_key_is_401_with_an_openai_error_body(server):
    wrong = openai.OpenAI(base_url=f"{server.url}/v1", api_key="nope", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as info:
        wrong.chat.completions.create(model="edge-drift", messages=QUESTION)
    assert info.value.status_code == 401 and info.value.body["type"] == "authentication_error"
    assert httpx.get(f"{server.url}/health").status_code == 200  # health needs no key
    defaults = httpx.get(f"{server.url}/defaults").json()  # nor do the defaults the page starts from
    assert (defaults["strategy"], defaults["beta"]) == (DEFAULT_STRATEGY, DEFAULT_BETA)
    assert defaults["sampling"]["temperature"] == SamplingSettings().temperature


def test_non_streaming_answer_has_usage_and_says_who_answered(client):
    completion, headers = ask(client, "tim", max_tokens=8)
    choice = completion.choices[0]
    assert choice.message.role == "assistant" and choice.message.content
    assert choice.finish_reason == "length" and completion.usage.completion_tokens == 8
    assert completion.usage.prompt_tokens > 10
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + 8
    assert headers["x-edge-drift-user"] == "tim" and headers["x-edge-drift-strategy"] == "drift"
    assert headers["x-edge-drift-profile"].startswith("8 pairs")


def test_stream_chunks_come_in_openai_order(server, client):
    body = {"model": "edge-drift", "messages": QUESTION, "stream": True, "stream_options": {"include_usage": True},
            **GREEDY}
    lines = sse_lines(server, body, "tim")
    assert all(line.startswith("data: ") for line in lines) and lines[-1] == "data: [DONE]"
    chunks = [json.loads(line[6:]) for line in lines[:-1]]
    first, *content, final, usage = chunks
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert content and all(set(c["choices"][0]["delta"]) == {"content"} for c in content)
    assert all(c["choices"][0]["finish_reason"] is None and c["usage"] is None for c in [first, *content])
    assert final["choices"][0]["delta"] == {} and final["choices"][0]["finish_reason"] in ("stop", "length")
    assert usage["choices"] == [] and usage["usage"]["completion_tokens"] > 0
    assert len({(c["id"], c["created"], c["model"]) for c in chunks}) == 1
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    streamed = "".join(c["choices"][0]["delta"]["content"] for c in content)
    # the same greedy request without streaming writes the same text; without include_usage, no usage chunk
    completion, _ = ask(client, "tim")
    assert completion.choices[0].message.content == streamed
    plain_lines = sse_lines(server, {**body, "stream_options": None}, "tim")
    assert json.loads(plain_lines[-2][6:])["choices"][0]["finish_reason"] and "usage" not in plain_lines[-2]
    # and the official client reads the stream to the end
    stream = client.chat.completions.create(model="edge-drift", messages=QUESTION, stream=True,
                                            extra_headers={"X-Edge-Drift-User": "tim"}, **GREEDY)
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == streamed


def test_seed_repeats_a_sampled_answer_and_stop_ends_it(client):
    sampled = {"temperature": 1.0, "top_p": 1.0, "max_tokens": 20}
    texts = [ask(client, "tim", seed=seed, **sampled)[0].choices[0].message.content for seed in (7, 7, 8, 9)]
    assert texts[0] == texts[1]
    assert len(set(texts)) >= 2  # three seeds at temperature 1 do not all agree
    completion, _ = ask(client, None, "edge-drift-plain", stop=[".", "\n"], max_tokens=60)
    assert completion.choices[0].finish_reason == "stop"
    assert "." not in completion.choices[0].message.content and "\n" not in completion.choices[0].message.content


def test_bad_requests_get_400_bodies_and_unknown_fields_are_ignored(server, client):
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="edge-drift", messages=QUESTION, n=2)
    assert info.value.body["param"] == "n"
    for forced in ("required", {"type": "function", "function": {"name": "get_current_timestamp"}}):
        with pytest.raises(openai.BadRequestError) as info:
            client.chat.completions.create(model="edge-drift", messages=QUESTION, tools=OPEN_WEBUI_TOOLS,
                                           tool_choice=forced)
        assert info.value.body["param"] == "tool_choice"
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="edge-drift", messages=QUESTION, functions=OPEN_WEBUI_TOOLS[0:1],
                                       function_call={"name": "get_current_timestamp"})
    assert info.value.body["param"] == "function_call"
    with pytest.raises(openai.BadRequestError) as info:
        ask(client, "../etc")
    assert info.value.body["code"] == "invalid_user"
    too_long = [{"role": "user", "content": "word " * 5000}]
    for stream in (False, True):
        with pytest.raises(openai.BadRequestError) as info:
            client.chat.completions.create(model="edge-drift", messages=too_long, stream=stream)
        assert info.value.body["code"] == "context_length_exceeded"
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="gpt-4o", messages=QUESTION)
    completion = client.chat.completions.create(
        model="edge-drift-plain", messages=[{"role": "system", "content": "Answer in one word."}, *QUESTION],
        max_tokens=4, user="tim", logit_bias={}, extra_body={"frobnicate": True, "user": {"id": "object-form"}})
    assert completion.choices[0].message.content


def test_a_request_shaped_like_open_webuis_page_gets_the_same_text_as_without_tools(server):
    """Open WebUI's page offers 36 tools and no tool_choice: offered is not forced, so the answer is text,
    steered as usual, and the schemas never reach the prompt (the text equals the tool-less request's)."""
    for model in ("edge-drift", "edge-drift-plain"):
        body = {"model": model, "messages": QUESTION, "stream": True, **GREEDY}
        headers = {"Authorization": f"Bearer {KEY}", "X-OpenWebUI-User-Id": "tim", **OPEN_WEBUI_HEADERS}
        texts, heads = [], []
        # the first answer warms the sequences (a cold prompt is evaluated in other batches, which can flip a
        # greedy near-tie); the tool-less answer after it is the reference
        for extra in ({}, {}, {"tools": OPEN_WEBUI_TOOLS}, {"tools": OPEN_WEBUI_TOOLS, "tool_choice": "auto",
                                                            "parallel_tool_calls": True}):
            with httpx.stream("POST", f"{server.url}/v1/chat/completions", json={**body, **extra}, headers=headers,
                              timeout=300) as response:
                assert response.status_code == 200, response.read()
                lines = [line for line in response.iter_lines() if line]
                heads.append(response.headers)
            chunks = [json.loads(line[6:]) for line in lines[:-1]]
            assert lines[-1] == "data: [DONE]" and chunks[-1]["choices"][0]["finish_reason"] in ("stop", "length")
            assert not any("tool_calls" in c["choices"][0]["delta"] for c in chunks)
            texts.append("".join(c["choices"][0]["delta"].get("content", "") for c in chunks))
        assert texts[1] and texts[1] == texts[2] == texts[3], model
        assert all(h["x-edge-drift-user"] == "tim" for h in heads)
        assert heads[0]["x-edge-drift-strategy"] == ("drift" if model == "edge-drift" else "plain")


def test_two_users_get_different_steered_answers_and_the_same_plain_one(client):
    tim, tim_headers = ask(client, "tim", beta=0.25)
    wendy, _ = ask(client, "wendy", beta=0.25)
    assert tim.choices[0].message.content != wendy.choices[0].message.content
    plain = {ask(client, user, "edge-drift-plain")[0].choices[0].message.content for user in ("tim", "wendy")}
    assert len(plain) == 1
    stranger, headers = ask(client, "stranger")  # no profile: plain decoding, said in a header, not an error
    assert headers["x-edge-drift-strategy"] == "plain" and "no profile" in headers["x-edge-drift-notice"]
    assert stranger.choices[0].message.content in plain
    assert tim_headers["x-edge-drift-strategy"] == "drift"


def test_a_vote_by_completion_ids_starts_a_profile_and_changes_the_next_answer(server, client):
    before, _ = ask(client, "newbie")
    a, _ = ask(client, "newbie", temperature=1.0, seed=1)
    b, _ = ask(client, "newbie", temperature=1.0, seed=2)
    assert a.choices[0].message.content != b.choices[0].message.content
    vote = httpx.post(f"{server.url}/v1/feedback", headers={"Authorization": f"Bearer {KEY}"},
                      json={"user": "newbie", "a": a.id, "b": b.id, "winner": "b"}, timeout=300).json()
    assert vote["fitted"] and vote["n_pairs"] == 1 and len(vote["moved"]) == 3
    pairs = httpx.get(f"{server.url}/v1/profiles/newbie/export?format=jsonl",
                      headers={"Authorization": f"Bearer {KEY}"}).text.splitlines()
    assert json.loads(pairs[0])["chosen"] == b.choices[0].message.content
    after, headers = ask(client, "newbie")
    assert headers["x-edge-drift-strategy"] == "drift" and headers["x-edge-drift-profile"].startswith("1 pairs")
    assert after.choices[0].message.content != before.choices[0].message.content
    tie = httpx.post(f"{server.url}/v1/feedback", headers={"Authorization": f"Bearer {KEY}"},
                     json={"user": "newbie", "a": a.id, "b": b.id, "winner": "tie"}).json()
    assert tie["fitted"] is False and (server.profiles / "newbie" / "votes.jsonl").is_file()
    wrong_user = httpx.post(f"{server.url}/v1/feedback", headers={"Authorization": f"Bearer {KEY}"},
                            json={"user": "tim", "a": a.id, "b": b.id, "winner": "a"})
    assert wrong_user.status_code == 400 and "another user" in wrong_user.json()["error"]["message"]


def test_an_informative_round_leans_two_answers_on_what_the_profile_is_least_sure_of(server, client):
    """Any client can ask the question (GET .../question) and get its two sides by `lean` in extra_body."""
    auth = {"Authorization": f"Bearer {KEY}"}
    question = httpx.get(f"{server.url}/v1/profiles/tim/question", headers=auth, timeout=60).json()
    attribute = question["attribute"]
    assert attribute in ATTRIBUTES and question["lean"] == [f"+{attribute}", f"-{attribute}"]
    assert question["about"] == f"more {attribute} vs less {attribute}" and question["information_bits"] > 0
    more, headers = ask(client, "tim", lean=f"+{attribute}")
    less, _ = ask(client, "tim", lean=f"-{attribute}")
    assert headers["x-edge-drift-strategy"] == "drift"
    assert more.choices[0].message.content != less.choices[0].message.content  # greedy both: only the lean differs
    vote = httpx.post(f"{server.url}/v1/feedback", headers=auth, timeout=300,
                      json={"user": "tim", "a": more.id, "b": less.id, "winner": "a"}).json()
    assert vote["fitted"] and vote["n_pairs"] == 9
    bad = httpx.post(f"{server.url}/v1/chat/completions", headers={**auth, "X-Edge-Drift-User": "tim"}, timeout=60,
                     json={"model": "edge-drift", "messages": QUESTION, "lean": "+not_an_attribute"})
    assert bad.status_code == 400 and "lean" in bad.json()["error"]["message"]


def test_a_pair_vote_moves_the_weights_of_an_existing_profile(server):
    auth = {"Authorization": f"Bearer {KEY}"}
    before = httpx.get(f"{server.url}/v1/profiles/wendy", headers=auth).json()
    vote = httpx.post(f"{server.url}/v1/feedback", headers={**auth, "X-Edge-Drift-User": "wendy"}, timeout=300,
                      json={"prompt": "How long do I boil an egg?", "chosen": "Nine minutes.",
                            "rejected": "Ah, the humble egg! Let me tell you a little story about breakfast..."}).json()
    after = httpx.get(f"{server.url}/v1/profiles/wendy", headers=auth).json()
    assert vote["n_pairs"] == before["n_pairs"] + 1 == after["n_pairs"]
    weights = lambda p: {a["name"]: a["weight"] for a in p["attributes"]}  # noqa: E731
    change = {name: abs(weights(after)[name] - weights(before)[name]) for name in weights(after)}
    assert max(change.values()) > 1e-3
    moved = vote["moved"][0]  # the reply names the attribute that moved most, with its old and new weight
    assert moved["attribute"] == max(change, key=change.get)
    assert (moved["before"], moved["after"]) == (weights(before)[moved["attribute"]], weights(after)[moved["attribute"]])


def test_profile_list_export_and_delete_remove_every_file(server):
    auth = {"Authorization": f"Bearer {KEY}"}
    refused = httpx.post(f"{server.url}/v1/profiles/gone/import", headers=auth, timeout=300,
                         json={"pairs": example_pairs("terse_tim", 2), "beta": -1})
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "beta"
    imported = httpx.post(f"{server.url}/v1/profiles/gone/import", headers=auth, timeout=300,
                          json={"pairs": example_pairs("terse_tim", 2), "attributes": ["concise"], "top_k": 1,
                                "beta": 0.5})
    assert imported.json()["profile"]["beta"] == 0.5  # kept in the profile, as `profile fit --beta`
    users = {p["user"] for p in httpx.get(f"{server.url}/v1/profiles", headers=auth).json()["data"]}
    assert {"tim", "wendy", "gone"} <= users
    exported = httpx.get(f"{server.url}/v1/profiles/gone/export", headers=auth).json()
    assert exported["profile"]["user"] == "gone" and len(exported["pairs"]) == 2
    assert set(exported["pairs"][0]) >= {"prompt", "chosen", "rejected"}
    assert httpx.delete(f"{server.url}/v1/profiles/gone", headers=auth).json()["deleted"] is True
    assert not (server.profiles / "gone").exists() and not list(server.profiles.rglob("gone*"))
    missing = httpx.get(f"{server.url}/v1/profiles/gone", headers=auth)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "profile_not_found"


def test_a_client_that_disconnects_frees_the_worker(server):
    cancelled = server.health()["queue"]["cancelled"]
    body = {"model": "edge-drift-plain", "messages": ESSAY, "stream": True, "max_tokens": 2000, "temperature": 0}
    with httpx.stream("POST", f"{server.url}/v1/chat/completions", json=body, timeout=60,
                      headers={"Authorization": f"Bearer {KEY}"}) as response:
        lines = response.iter_lines()
        assert next(lines).startswith("data: ") and next(lines) == ""
    deadline = time.monotonic() + 30
    while server.health()["queue"]["busy"] and time.monotonic() < deadline:
        time.sleep(0.2)
    health = server.health()["queue"]
    assert not health["busy"] and health["cancelled"] == cancelled + 1
    # a client that gives up on a non-streamed answer frees it too (it used to run the whole answer out)
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{server.url}/v1/chat/completions", json={**body, "stream": False}, timeout=3,
                   headers={"Authorization": f"Bearer {KEY}"})
    deadline = time.monotonic() + 30
    while server.health()["queue"]["busy"] and time.monotonic() < deadline:
        time.sleep(0.2)
    health = server.health()["queue"]
    assert not health["busy"] and health["cancelled"] == cancelled + 2


def test_load_on_loopback_loses_nothing(server):
    """6 clients x 5 requests (mixed streaming), while 3 users post votes: nothing fails, every vote is kept."""
    auth = {"Authorization": f"Bearer {KEY}"}
    errors: list[str] = []

    def chat_client(i: int) -> int:
        client = openai.OpenAI(base_url=f"{server.url}/v1", api_key=KEY, max_retries=0, timeout=300)
        done = 0
        for j in range(5):
            user, model = ("tim", "wendy", None)[(i + j) % 3], ("edge-drift", "edge-drift-plain")[j % 2]
            messages = [{"role": "user", "content": f"Give me tip number {i * 5 + j} for a calm morning."}]
            headers = {"X-Edge-Drift-User": user} if user else {}
            if (i + j) % 2:
                chunks = list(client.chat.completions.create(model=model, messages=messages, stream=True,
                                                             max_tokens=12, extra_headers=headers))
                finished = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
                ok = finished in (["stop"], ["length"]) and chunks[0].choices[0].delta.role == "assistant"
            else:
                completion = client.chat.completions.create(model=model, messages=messages, max_tokens=12,
                                                            extra_headers=headers)
                ok = completion.choices[0].finish_reason in ("stop", "length") and completion.usage.completion_tokens
            done += bool(ok)
            if not ok:
                errors.append(f"client {i} request {j} incomplete")
        return done

    def voter(user: str) -> list[str]:
        prompts = []
        for k in range(2):
            prompt = f"Load-test question {k} from {user}?"
            response = httpx.post(f"{server.url}/v1/feedback", headers={**auth, "X-Edge-Drift-User": user},
                                  json={"prompt": prompt, "chosen": f"Short answer {k}.",
                                        "rejected": f"A much longer and more winding answer number {k}, told slowly."},
                                  timeout=300)
            if response.status_code != 200:
                errors.append(f"vote {user} {k}: {response.status_code} {response.text}")
            prompts.append(prompt)
        return prompts

    with ThreadPoolExecutor(9) as pool:
        chats = [pool.submit(chat_client, i) for i in range(6)]
        votes = {user: pool.submit(voter, user) for user in ("tim", "wendy", "lou")}
        completed = sum(f.result() for f in chats)
        voted = {user: f.result() for user, f in votes.items()}
    assert not errors and completed == 30
    for user, prompts in voted.items():
        exported = httpx.get(f"{server.url}/v1/profiles/{user}/export", headers=auth).json()
        assert set(prompts) <= {p["prompt"] for p in exported["pairs"]}, user


@pytest.mark.real  # loads the embedded model through the CLI or a server
def test_a_full_queue_answers_503_at_once_and_never_cuts_a_running_stream(tmp_path):
    with ServerProcess("--profiles-dir", str(tmp_path), "--queue-size", "1", log=tmp_path / "serve.log") as small:
        body = {"model": "edge-drift-plain", "messages": ESSAY, "stream": True, "max_tokens": 120, "temperature": 0}
        results: dict[str, list[str]] = {}

        def stream(name: str) -> None:
            with httpx.stream("POST", f"{small.url}/v1/chat/completions", json=body, timeout=120) as response:
                results[name] = [line for line in response.iter_lines() if line]

        running = threading.Thread(target=stream, args=("running",))
        running.start()
        while not small.health()["queue"]["busy"]:
            time.sleep(0.05)
        waiting = threading.Thread(target=stream, args=("waiting",))
        waiting.start()
        while small.health()["queue"]["waiting"] < 1:
            time.sleep(0.05)
        start = time.monotonic()
        full = httpx.post(f"{small.url}/v1/chat/completions", json={**body, "stream": False}, timeout=60)
        assert full.status_code == 503 and full.headers["retry-after"]
        assert full.json()["error"]["code"] == "queue_full" and time.monotonic() - start < 5
        running.join()
        waiting.join()
        for name in ("running", "waiting"):  # both complete: the queued one waited, the running one was not cut
            lines = results[name]
            assert lines[-1] == "data: [DONE]", name
            assert json.loads(lines[-2][6:])["choices"][0]["finish_reason"] in ("stop", "length"), name
        texts = {name: "".join(json.loads(line[6:])["choices"][0]["delta"].get("content", "")
                               for line in lines[1:-2]) for name, lines in results.items()}
        assert texts["running"] == texts["waiting"] and texts["running"]  # same greedy request, same full answer


def test_a_non_loopback_host_without_a_key_is_refused_before_loading_anything(monkeypatch):
    from click.testing import CliRunner

    from edge_drift.cli import main

    monkeypatch.delenv("EDGE_DRIFT_API_KEY", raising=False)
    result = CliRunner().invoke(main, ["serve", "--host", "0.0.0.0", "--model", "/nonexistent.gguf"])
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert "--api-key" in result.output and "--allow-remote" in result.output  # not a model error: nothing loaded
