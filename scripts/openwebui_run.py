"""Open WebUI in front of `edge-drift serve`, for real: both on loopback, Open WebUI's own page in Chromium.

Signs up an admin, gives that Open WebUI user an edge-drift profile (terse_tim's pairs, under the user id Open
WebUI forwards), opens a chat with `edge-drift` and `edge-drift-plain` side by side from the page, waits for both
streamed answers and saves a screenshot (docs/openwebui-side-by-side.png by default).

Needs Open WebUI installed in its own virtualenv (never a dependency of edge-drift):
    python3 -m venv ~/.cache/edge-drift/openwebui && ~/.cache/edge-drift/openwebui/bin/pip install open-webui==0.12.4
Usage:
    .venv/bin/python scripts/openwebui_run.py [--open-webui PATH/TO/open-webui] [--screenshot FILE]
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
from playwright.sync_api import sync_playwright

from edge_drift.serving.process import ServerProcess, free_port

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OPEN_WEBUI = Path.home() / ".cache" / "edge-drift" / "openwebui" / "bin" / "open-webui"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
PROMPT = "How do I keep my houseplants alive?"
ATTRIBUTES = ["concise", "storyteller", "vivid"]


def open_webui_env(data_dir: Path, backend: str) -> dict:
    """Offline, pointed at edge-drift, forwarding who the user is; its background tasks off (see docs/serving.md)."""
    return {**os.environ, "DATA_DIR": str(data_dir), "WEBUI_SECRET_KEY": "edge-drift-run", "OFFLINE_MODE": "true",
            "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "ENABLE_OLLAMA_API": "false",
            "OPENAI_API_BASE_URL": backend, "OPENAI_API_KEY": "none", "ENABLE_FORWARD_USER_INFO_HEADERS": "true",
            "RAG_EMBEDDING_MODEL_AUTO_UPDATE": "false", "DEFAULT_USER_ROLE": "user",
            "ENABLE_TITLE_GENERATION": "false", "ENABLE_TAGS_GENERATION": "false",
            "ENABLE_FOLLOW_UP_GENERATION": "false", "ENABLE_AUTOCOMPLETE_GENERATION": "false"}


def wait_until_up(url: str, process: subprocess.Popen, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"open-webui exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise SystemExit(f"open-webui did not answer {url}/health within {timeout:.0f}s")


def sign_up(url: str, name: str, email: str) -> dict:
    response = httpx.post(f"{url}/api/v1/auths/signup", timeout=60,
                          json={"name": name, "email": email, "password": "edge-drift-run"})
    response.raise_for_status()
    return response.json()


def import_profile(backend: str, user_id: str, example: str) -> None:
    lines = (ROOT / "profiles" / "examples" / f"{example}.pairs.jsonl").read_text().splitlines()[:8]
    response = httpx.post(f"{backend}/profiles/{user_id}/import", timeout=600,
                          json={"pairs": [json.loads(line) for line in lines], "attributes": ATTRIBUTES, "top_k": 3})
    response.raise_for_status()


def finished_answers(page, count: int = 2, quiet_s: float = 6, timeout_s: float = 600) -> list[str]:
    """The answers once `count` of them are non-empty and none has changed for `quiet_s` (edge-drift answers one
    request at a time, so the second streams after the first)."""
    deadline, last, since = time.monotonic() + timeout_s, None, time.monotonic()
    while time.monotonic() < deadline:
        answers = page.locator("#response-content-container").all_inner_texts()
        if answers != last:
            last, since = answers, time.monotonic()
        elif len(answers) >= count and all(a.strip() for a in answers) and time.monotonic() - since > quiet_s:
            return answers
        time.sleep(0.5)
    raise SystemExit(f"Open WebUI's page did not show {count} finished answers in {timeout_s:.0f}s: {last}")


def side_by_side(url: str, token: str, screenshot: Path) -> list[str]:
    """Open a chat with both models from Open WebUI's page, send the prompt, return both finished answers."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.add_init_script(f"localStorage.setItem('token', {json.dumps(token)})")
        page.goto(f"{url}/?models=edge-drift,edge-drift-plain", timeout=120_000)
        box = page.locator("#chat-input")
        box.wait_for(timeout=120_000)
        time.sleep(2)  # the page settles its model selection after the input appears
        welcome = page.get_by_text("Okay, Let's Go!")  # the release notes shown at a user's first visit
        if welcome.count():
            welcome.click()
        box.click()
        page.keyboard.type(PROMPT)
        page.keyboard.press("Enter")
        answers = finished_answers(page)
        page.evaluate("document.querySelectorAll('*').forEach(e => { if (e.scrollTop) e.scrollTop = 0; })")
        page.screenshot(path=str(screenshot))
        browser.close()
    return answers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--open-webui", type=Path, default=Path(os.environ.get("OPEN_WEBUI", DEFAULT_OPEN_WEBUI)))
    parser.add_argument("--screenshot", type=Path, default=ROOT / "docs" / "openwebui-side-by-side.png")
    args = parser.parse_args()
    if not args.open_webui.is_file():
        raise SystemExit(f"{args.open_webui} not found; install Open WebUI in its own venv (see this script's help)")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        with ServerProcess("--profiles-dir", str(work / "profiles"), log=work / "serve.log") as edge:
            backend = f"{edge.url}/v1"
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            with open(work / "openwebui.log", "w") as log:
                webui = subprocess.Popen([str(args.open_webui), "serve", "--host", "127.0.0.1", "--port", str(port)],
                                         env=open_webui_env(work / "openwebui", backend), cwd=work,
                                         stdout=log, stderr=subprocess.STDOUT)
                try:
                    wait_until_up(url, webui)
                    admin = sign_up(url, "Tim", "tim@example.com")
                    import_profile(backend, admin["id"], "terse_tim")
                    models = httpx.get(f"{url}/api/models", headers={"Authorization": f"Bearer {admin['token']}"},
                                       timeout=60).json()["data"]
                    print("Open WebUI lists:", ", ".join(sorted(m["id"] for m in models)))
                    answers = side_by_side(url, admin["token"], args.screenshot)
                finally:
                    webui.terminate()
                    webui.wait(30)
            served = [line for line in (work / "serve.log").read_text().splitlines() if line.strip()]
    print(f"{len(answers)} answers side by side, screenshot {args.screenshot}:")
    for answer in answers:
        print("  -", answer.replace("\n", " ")[:160])
    if len(answers) < 2 or not all(a.strip() for a in answers) or any("not supported" in a for a in answers):
        print("edge-drift serve's log:", *served[-10:], sep="\n  ")
        sys.exit(1)


if __name__ == "__main__":
    main()
