"""Open WebUI in front of `edge-drift serve`, for real: both on loopback, Open WebUI's own page in Chromium.

What it checks, in order (each step prints a line; any failure exits 1):
 1. Open WebUI starts offline; an admin and a second user sign up; its model list shows edge-drift's models.
 2. Each user gets an edge-drift profile under the id Open WebUI forwards (terse_tim's and warm_wendy's pairs).
 3. From the chat page, each user asks the same prompt of `edge-drift` and `edge-drift-plain` side by side
    (greedy, via their Open WebUI settings): both answers stream to the end; the two users' steered answers
    differ, their plain answers are the same.
 4. The admin rates the plain answer "Good Response" in the page; `edge-drift import openwebui --url` pulls
    the export and refits; the admin's next steered answer changes, and edge-drift's page shows the vote
    in the profile's pair count and chart.
 5. A long answer stopped in Open WebUI's page (Escape) frees edge-drift's worker.
Screenshots go to docs/ (openwebui-side-by-side.png, openwebui-edge-drift-page.png).

Open WebUI lives in a virtualenv of its own (never a dependency of edge-drift); `make test-openwebui`
creates it. Usage: .venv/bin/python scripts/openwebui_run.py [--open-webui PATH] [--docs DIR]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import sync_playwright

from edge_drift.serving.process import ServerProcess, free_port, wait_for_health

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OPEN_WEBUI = Path.home() / ".cache" / "edge-drift" / "openwebui" / "bin" / "open-webui"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
PROMPT = "How do I keep my houseplants alive?"
ATTRIBUTES = ["concise", "storyteller", "vivid"]
GREEDY = {"temperature": 0, "seed": 1, "max_tokens": 48}  # Open WebUI sends its users' params with every chat


def check(ok: bool, what: str) -> None:
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        raise SystemExit(1)


def open_webui_env(data_dir: Path, backend: str) -> dict:
    """Offline, pointed at edge-drift, forwarding who the user is; background tasks off (docs/openwebui.md)."""
    return {**os.environ, "DATA_DIR": str(data_dir), "WEBUI_SECRET_KEY": "edge-drift-run", "OFFLINE_MODE": "true",
            "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "ENABLE_OLLAMA_API": "false",
            "OPENAI_API_BASE_URL": backend, "OPENAI_API_KEY": "none", "ENABLE_FORWARD_USER_INFO_HEADERS": "true",
            "RAG_EMBEDDING_MODEL_AUTO_UPDATE": "false", "DEFAULT_USER_ROLE": "user",
            "BYPASS_MODEL_ACCESS_CONTROL": "true",  # else a backend's models are the admin's alone
            "ENABLE_TITLE_GENERATION": "false", "ENABLE_TAGS_GENERATION": "false",
            "ENABLE_FOLLOW_UP_GENERATION": "false", "ENABLE_AUTOCOMPLETE_GENERATION": "false"}


class OpenWebUI:
    """Open WebUI's HTTP API, as its own page calls it."""

    def __init__(self, url: str):
        self.url = url

    def sign_up(self, name: str, email: str) -> dict:
        response = httpx.post(f"{self.url}/api/v1/auths/signup", timeout=60,
                              json={"name": name, "email": email, "password": "edge-drift-run"})
        response.raise_for_status()
        return response.json()

    def call(self, method: str, path: str, token: str, **kwargs):
        response = httpx.request(method, f"{self.url}{path}", headers={"Authorization": f"Bearer {token}"},
                                 timeout=120, **kwargs)
        response.raise_for_status()
        return response.json()


def import_profile(backend: str, user_id: str, example: str) -> None:
    lines = (ROOT / "profiles" / "examples" / f"{example}.pairs.jsonl").read_text().splitlines()[:8]
    response = httpx.post(f"{backend}/profiles/{user_id}/import", timeout=600,
                          json={"pairs": [json.loads(line) for line in lines], "attributes": ATTRIBUTES, "top_k": 3})
    response.raise_for_status()


def finished_answers(page, count: int, quiet_s: float = 5, timeout_s: float = 600) -> list[str]:
    """The answers once `count` are non-empty and none has changed for `quiet_s` (edge-drift answers one
    request at a time, so the second streams after the first)."""
    deadline, last, since = time.monotonic() + timeout_s, None, time.monotonic()
    while time.monotonic() < deadline:
        answers = page.locator("#response-content-container").all_inner_texts()
        if answers != last:
            last, since = answers, time.monotonic()
        elif len(answers) >= count and all(a.strip() for a in answers[-count:]) and time.monotonic() - since > quiet_s:
            return answers[-count:]
        time.sleep(0.5)
    shot = Path(tempfile.gettempdir()) / "openwebui-failure.png"
    page.screenshot(path=str(shot))
    raise SystemExit(f"FAIL Open WebUI's page did not show {count} finished answers in {timeout_s:.0f}s: {last} "
                     f"(screenshot: {shot})")


class Page:
    """One Open WebUI user's browser tab."""

    def __init__(self, browser, url: str, token: str):
        self.context = browser.new_context(viewport={"width": 1280, "height": 1000})
        self.context.add_init_script(f"localStorage.setItem('token', {json.dumps(token)})")
        self.page = self.context.new_page()
        self.url = url

    def ask(self, models: str, prompt: str, count: int) -> list[str]:
        page = self.page
        page.goto(f"{self.url}/?models={models}", timeout=120_000)
        box = page.locator("#chat-input")
        box.wait_for(timeout=120_000)
        time.sleep(2)  # the page settles its model selection after the input appears
        welcome = page.get_by_text("Okay, Let's Go!")  # the release notes shown at a user's first visit
        if welcome.count():
            welcome.click()
            welcome.wait_for(state="hidden", timeout=30_000)
        sent = page.locator(".user-message")
        before = sent.count()
        for _ in range(3):  # a keystroke that lands while the page still settles is lost: type again
            box.click()
            page.keyboard.type(prompt)
            page.keyboard.press("Enter")
            try:
                page.wait_for_function(f"document.querySelectorAll('.user-message').length > {before}",
                                       timeout=15_000)
                break
            except PlaywrightTimeout:
                box.fill("")
        return finished_answers(page, count)

    def screenshot(self, path: Path) -> None:
        self.page.evaluate("document.querySelectorAll('*').forEach(e => { if (e.scrollTop) e.scrollTop = 0; })")
        self.page.screenshot(path=str(path))


def run(open_webui: Path, docs: Path, work: Path) -> None:
    with ServerProcess("--profiles-dir", str(work / "profiles"), "--attributes", ",".join(ATTRIBUTES),
                       log=work / "serve.log") as edge:
        backend = f"{edge.url}/v1"
        url = f"http://127.0.0.1:{free_port()}"
        with open(work / "openwebui.log", "w") as log:
            webui = subprocess.Popen([str(open_webui), "serve", "--host", "127.0.0.1", "--port", url.rsplit(":", 1)[1]],
                                     env=open_webui_env(work / "openwebui", backend), cwd=work, stdout=log,
                                     stderr=subprocess.STDOUT)
            try:
                wait_for_health(url, webui, 300, "open-webui")
                steps(OpenWebUI(url), edge, backend, docs, work)
            finally:
                webui.terminate()
                webui.wait(30)


def steps(owui: OpenWebUI, edge: ServerProcess, backend: str, docs: Path, work: Path) -> None:
    tim = owui.sign_up("Tim", "tim@example.com")
    # Open WebUI closes sign-ups after its first (admin) account; the admin opens them again, as in
    # Admin Panel > Settings > General > Enable New Sign Ups
    config = owui.call("GET", "/api/v1/auths/admin/config", tim["token"])
    owui.call("POST", "/api/v1/auths/admin/config", tim["token"], json={**config, "ENABLE_SIGNUP": True})
    wendy = owui.sign_up("Wendy", "wendy@example.com")
    check(tim["role"] == "admin" and wendy["role"] == "user", "an admin and a second user signed up")
    models = {m["id"] for m in owui.call("GET", "/api/models", tim["token"])["data"]}
    check({"edge-drift", "edge-drift-plain", "edge-drift-panda"} <= models,
          f"Open WebUI lists edge-drift's models: {', '.join(sorted(models))}")
    for user, example in ((tim, "terse_tim"), (wendy, "warm_wendy")):
        import_profile(backend, user["id"], example)
        owui.call("POST", "/api/v1/users/user/settings/update", user["token"], json={"ui": {"params": GREEDY}})
    check(True, "each user has an edge-drift profile under their Open WebUI id, and greedy chat settings")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        pages = {name: Page(browser, owui.url, user["token"]) for name, user in (("tim", tim), ("wendy", wendy))}
        answers = {name: page.ask("edge-drift,edge-drift-plain", PROMPT, 2) for name, page in pages.items()}
        for name, (steered, plain) in answers.items():
            print(f"     {name}: [edge-drift] {steered[:90]!r}\n     {name}: [edge-drift-plain] {plain[:90]!r}")
        check(all(a.strip() for pair in answers.values() for a in pair), "both answers streamed to the end")
        check(answers["tim"][0] != answers["wendy"][0], "two users get different steered answers")
        check(answers["tim"][1] == answers["wendy"][1], "and the same plain answer")
        pages["tim"].screenshot(docs / "openwebui-side-by-side.png")

        # a vote in Open WebUI's page: the admin prefers the plain answer, opposite to his terse profile
        page = pages["tim"].page
        page.locator("button[aria-label='Good Response']").nth(1).click()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not owui.call("GET", "/api/v1/evaluations/feedbacks/all/export",
                                                             tim["token"]):
            time.sleep(1)
        before = httpx.get(f"{backend}/profiles/{tim['id']}").json()
        imported = subprocess.run([str(Path(sys.executable).with_name("edge-drift")), "import", "openwebui",
                                   "--url", owui.url, "--api-key", tim["token"], "--profiles-dir",
                                   str(work / "profiles")], capture_output=True, text=True, timeout=600)
        print("     " + imported.stdout.strip().replace("\n", "\n     "))
        after = httpx.get(f"{backend}/profiles/{tim['id']}").json()
        check(imported.returncode == 0 and after["n_pairs"] == before["n_pairs"] + 1,
              "a rating in Open WebUI's page, imported, is one more pair in the rater's profile")
        again = pages["tim"].ask("edge-drift", PROMPT, 1)[0]
        check(again != answers["tim"][0], f"the rater's next steered answer changed: {again[:90]!r}")

        edge_page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
        edge_page.add_init_script(f"localStorage.setItem('edge-drift.user', {json.dumps(tim['id'])})")
        edge_page.goto(edge.url + "/")
        edge_page.wait_for_function("document.querySelector('#profile-stats').textContent.includes("
                                    f"'{after['n_pairs']} pair')", timeout=60_000)
        check(edge_page.locator("#chart text").count() >= len(ATTRIBUTES),
              f"edge-drift's page shows the profile with the vote: {edge_page.inner_text('#profile-stats')!r}")
        edge_page.screenshot(path=str(docs / "openwebui-edge-drift-page.png"), full_page=True)

        tasks_cost(owui, edge, pages["tim"], tim["token"])

        # a stopped generation frees edge-drift's worker
        owui.call("POST", "/api/v1/users/user/settings/update", wendy["token"],
                  json={"ui": {"params": {**GREEDY, "max_tokens": 2000}}})
        cancelled = edge.health()["queue"]["cancelled"]
        page = pages["wendy"].page
        page.goto(f"{owui.url}/?models=edge-drift-plain", timeout=120_000)
        page.locator("#chat-input").wait_for(timeout=120_000)
        time.sleep(2)
        page.locator("#chat-input").click()
        page.keyboard.type("Write a very long, detailed essay about the history of bridges.")
        page.keyboard.press("Enter")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not edge.health()["queue"]["busy"]:
            time.sleep(0.2)
        time.sleep(2)
        page.locator("#chat-input").click()
        page.keyboard.press("Escape")  # Open WebUI's stop
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and edge.health()["queue"]["busy"]:
            time.sleep(0.2)
        queue = edge.health()["queue"]
        check(not queue["busy"] and queue["cancelled"] == cancelled + 1,
              f"a generation stopped in Open WebUI's page freed edge-drift's worker ({queue})")
        browser.close()


def idle_after(edge: ServerProcess, start: float, quiet_s: float = 4.0, timeout_s: float = 600) -> float:
    """Seconds from `start` until edge-drift's queue has been empty for `quiet_s` (the last answer's end)."""
    deadline, last_busy = time.monotonic() + timeout_s, time.monotonic()
    while time.monotonic() < deadline:
        queue = edge.health()["queue"]
        if queue["busy"] or queue["waiting"]:
            last_busy = time.monotonic()
        elif time.monotonic() - last_busy > quiet_s:
            return last_busy - start
        time.sleep(0.2)
    raise SystemExit("FAIL edge-drift did not go idle")


def tasks_cost(owui: OpenWebUI, edge: ServerProcess, page: Page, token: str) -> None:
    """What Open WebUI's background tasks (title, tags, follow-ups) cost edge-drift's one worker after an answer,
    sent to the chat's own model (steered), to edge-drift-plain, or turned off."""
    config = owui.call("GET", "/api/v1/tasks/config", token)
    for label, task_model, enabled in (("on, chat model", "", True), ("on, edge-drift-plain", "edge-drift-plain", True),
                                       ("off", "", False)):
        owui.call("POST", "/api/v1/tasks/config/update", token, json={
            **config, "TASK_MODEL_EXTERNAL": task_model, "ENABLE_TITLE_GENERATION": enabled,
            "ENABLE_TAGS_GENERATION": enabled, "ENABLE_FOLLOW_UP_GENERATION": enabled})
        before = edge.health()["queue"]["completed"]
        start = time.monotonic()
        page.ask("edge-drift", f"Give me one tip for a calm morning ({label}).", 1)
        idle = idle_after(edge, start)
        requests = edge.health()["queue"]["completed"] - before
        print(f"     background tasks {label}: {requests} request(s) to edge-drift, idle {idle:.1f} s after sending")
    check(True, "measured what Open WebUI's background tasks cost (numbers above)")
    owui.call("POST", "/api/v1/tasks/config/update", token, json=config)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--open-webui", type=Path, default=Path(os.environ.get("OPEN_WEBUI", DEFAULT_OPEN_WEBUI)))
    parser.add_argument("--docs", type=Path, default=ROOT / "docs", help="where the screenshots go")
    args = parser.parse_args()
    if not args.open_webui.is_file():
        raise SystemExit(f"{args.open_webui} not found; `make test-openwebui` installs Open WebUI in its own venv")
    args.docs.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            run(args.open_webui, args.docs, Path(tmp))
        except BaseException:
            for log in ("serve.log", "openwebui.log"):
                lines = (Path(tmp) / log).read_text(errors="replace").splitlines() if (Path(tmp) / log).exists() else []
                print(f"--- last lines of {log}:", *lines[-15:], sep="\n  ")
            raise
    print("all Open WebUI checks passed")


if __name__ == "__main__":
    main()
