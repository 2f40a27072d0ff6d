"""The web page in a real headless Chromium (Debian's, driven by Playwright) against a real `edge-drift serve`."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from edge_drift.serving.process import ServerProcess
from edge_drift.store import ProfileStore

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "out" / "web"
CHROMIUM = os.environ.get("EDGE_DRIFT_CHROMIUM", "/usr/bin/chromium")
# Offline: without these Chromium keeps trying to reach Google's services, which this machine refuses.
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
ATTRIBUTES = "concise,storyteller,vivid"
WAIT_MS = 120_000


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        message = f"{CHROMIUM} not found: `make test` installs Debian's chromium (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI must run the browser tests, never skip them
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("web")
    with ServerProcess("--profiles-dir", str(folder / "profiles"), "--attributes", ATTRIBUTES,
                       log=folder / "serve.log") as process:
        process.profiles = folder / "profiles"
        yield process


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.goto(server.url + "/")
    yield opened
    context.close()
    assert not errors, errors  # no uncaught JavaScript error on any page


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def wait_text(page, selector: str, text: str) -> None:
    page.wait_for_function("([s, t]) => document.querySelector(s).textContent.includes(t)", arg=[selector, text],
                           timeout=WAIT_MS)


def is_chat_request(request) -> bool:
    return request.method == "POST" and request.url.endswith("/v1/chat/completions")


def compare_round(page, prompt: str) -> tuple[str, str]:
    """Ask for two answers; they arrive unlabelled, and keyboard focus lands on the first vote button."""
    page.fill("#compare-input", prompt)
    page.click("#compare")
    page.wait_for_function("!document.querySelector('#vote-a').disabled", timeout=WAIT_MS)
    assert page.inner_text("#label-a") == "" and page.inner_text("#label-b") == ""  # blind until the vote
    return page.inner_text("#text-a"), page.inner_text("#text-b")


def test_create_chat_compare_vote_undo_export_import_delete(page, server, tmp_path):
    page.fill("#new-user", "pat")
    page.click("text=Add")
    wait_text(page, "#profile-user", "pat")
    page.reload()  # the choice persists in the browser
    assert page.input_value("#user-select") == "pat"

    page.fill("#chat-input", "How do I fix a flat bike tire?")
    with page.expect_request(is_chat_request) as request:
        page.keyboard.press("Enter")
    assert "beta" not in json.loads(request.value.post_data)  # an untouched slider leaves beta to the profile
    page.wait_for_function("document.querySelectorAll('#messages li').length === 2 && "
                           "!document.querySelector('#send').disabled", timeout=WAIT_MS)
    answer = page.inner_text("#messages li.assistant .body")
    assert len(answer) > 20 and answer != "…"
    page.fill("#chat-input", "Write a very long essay about the history of bridges.")
    page.click("#send")
    page.wait_for_function("document.querySelectorAll('#messages li.assistant .body')[1].textContent.length > 5",
                           timeout=WAIT_MS)
    page.click("#stop")  # the stop button ends a stream mid-way and keeps what came
    wait_text(page, "#messages", "[stopped]")
    shot(page, "chat")

    page.click("#tab-compare")
    assert page.input_value("#round") == "informative"  # the default round asks what the profile is least sure of
    with page.expect_request(lambda r: "/question" in r.url):
        first = compare_round(page, "How do I start journaling?")
    assert first[0] and first[1] and first[0] != first[1]
    page.keyboard.press("a")  # keyboard-only voting
    wait_text(page, "#vote-result", "Learned: 1 pair(s)")
    labels = sorted([page.inner_text("#label-a"), page.inner_text("#label-b")])
    asked = labels[0].removeprefix("(less ").removesuffix(")")
    assert asked in ATTRIBUTES.split(",") and labels == [f"(less {asked})", f"(more {asked})"]
    assert f"This one was about: more {asked} vs less {asked}." in page.inner_text("#vote-result")
    wait_text(page, "#profile-stats", "1 pair(s)")
    shot(page, "compare-informative")
    chart_after_one = page.get_attribute("#chart", "aria-label")
    assert page.locator("#chart rect").count() == 3 and "concise" in chart_after_one

    page.select_option("#round", "plain")  # the other round: the profile's answer against plain
    compare_round(page, "What should I cook tonight?")
    page.keyboard.press("b")
    wait_text(page, "#vote-result", "Learned: 2 pair(s)")
    labels = sorted([page.inner_text("#label-a"), page.inner_text("#label-b")])
    assert labels == ["(drift, steered by your profile)", "(plain)"]  # now the first vote steers
    wait_text(page, "#profile-stats", "2 pair(s)")
    assert page.get_attribute("#chart", "aria-label") != chart_after_one  # the chart moved with the vote
    assert page.inner_text("#moved").startswith("What moved:")
    shot(page, "compare")

    page.keyboard.press("u")  # undo the last vote
    wait_text(page, "#profile-stats", "1 pair(s)")
    assert page.get_attribute("#chart", "aria-label") == chart_after_one

    with page.expect_download() as download:
        page.click("#export-json")
    exported = json.loads(Path(download.value.path()).read_text())
    assert exported["profile"]["user"] == "pat" and len(exported["pairs"]) == 1
    with page.expect_download() as download:
        page.click("#export-pairs")
    assert download.value.suggested_filename == "pat.pairs.jsonl"
    assert len(Path(download.value.path()).read_text().splitlines()) == 1

    pairs = tmp_path / "more.jsonl"
    pairs.write_text("".join((ROOT / "profiles" / "examples" / "terse_tim.pairs.jsonl").read_text()
                             .splitlines(keepends=True)[:3]))
    page.set_input_files("#import-file", str(pairs))
    page.click("#import")
    wait_text(page, "#import-status", "fitted 4 pair(s) (3 new)")
    assert page.get_attribute("#import-progress", "value") == page.get_attribute("#import-progress", "max")
    wait_text(page, "#profile-stats", "4 pair(s)")
    shot(page, "profile")

    # the beta slider shows the profile's own strength until it is moved; then the moved value is sent
    assert page.inner_text("#beta-value") == "beta 0.125"  # a new profile's default, off the slider's 0.05 marks
    path = ProfileStore(server.profiles).path("pat")
    path.write_text(json.dumps({**json.loads(path.read_text()), "beta": 0.6}))
    page.reload()
    wait_text(page, "#beta-value", "beta 0.60")
    page.eval_on_selector("#beta", "slider => { slider.value = '1'; slider.dispatchEvent(new Event('input')); }")
    page.reload()  # a moved slider is remembered in the browser
    wait_text(page, "#profile-stats", "4 pair(s)")
    assert page.inner_text("#beta-value") == "beta 1.00"
    page.click("#tab-chat")
    page.fill("#chat-input", "Hi")
    with page.expect_request(is_chat_request) as request:
        page.keyboard.press("Enter")
    assert json.loads(request.value.post_data)["beta"] == 1
    page.wait_for_function("!document.querySelector('#send').disabled", timeout=WAIT_MS)
    # the moved strength is pat's own: another user starts at their profile's (none here: the default)
    page.fill("#new-user", "quinn")
    page.click("text=Add")
    wait_text(page, "#profile-user", "quinn")
    assert page.inner_text("#beta-value") == "beta 0.125"
    page.select_option("#user-select", "pat")
    wait_text(page, "#profile-stats", "4 pair(s)")
    assert page.inner_text("#beta-value") == "beta 1.00"

    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#delete")
    wait_text(page, "#profile-stats", "no profile yet")
    assert not (server.profiles / "pat").exists() and not list(server.profiles.rglob("pat*"))


def test_errors_show_in_the_page_and_old_turns_are_dropped_with_a_notice(page):
    page.fill("#new-user", "../etc")
    page.click("text=Add")
    wait_text(page, "#alert", "invalid user name")
    assert page.is_visible("#alert")

    page.select_option("#strategy", "plain")
    page.fill("#chat-input", "word " * 5000)  # alone larger than the model's context
    page.click("#send")
    wait_text(page, "#alert", "does not fit")

    for _ in range(3):  # three long turns: the third request cannot carry the first two
        page.fill("#chat-input", "Summarize this: " + "lorem ipsum " * 400)
        page.click("#send")
        page.wait_for_function("!document.querySelector('#send').disabled", timeout=WAIT_MS)
    wait_text(page, "#notice", "dropped the")
    assert page.is_visible("#notice")


def test_phone_width_keyboard_and_screen_reader_names(browser, server):
    context = browser.new_context(viewport={"width": 375, "height": 800})
    page = context.new_page()
    page.goto(server.url + "/")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375  # nothing sticks out sideways
    for control in ("#send", "#compare-input", "#chat-input", "#beta", "#strategy", "#user-select", "#tab-compare"):
        box = page.locator(control).bounding_box() if page.is_visible(control) else None
        assert box is None or box["x"] + box["width"] <= 375, control
    unnamed = page.evaluate("""() => [...document.querySelectorAll('button, input, select, textarea')].filter(el => {
        const labelled = el.id && document.querySelector(`label[for="${el.id}"]`);
        return !(labelled || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby')
                 || el.textContent.trim());
    }).map(el => el.outerHTML)""")
    assert unnamed == []
    page.keyboard.press("Tab")  # the first control takes the keyboard focus, visibly
    assert page.evaluate("document.activeElement.id") == "user-select"
    shot(page, "phone")
    context.close()


def test_a_server_with_a_key_asks_for_it_and_then_works(browser, tmp_path):
    with ServerProcess("--profiles-dir", str(tmp_path / "profiles"), "--api-key", "sesame",
                       log=tmp_path / "serve.log") as locked:
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        page = context.new_page()
        page.goto(locked.url + "/")  # the page itself is public; the API behind it is not
        wait_text(page, "#alert", "invalid API key")
        assert page.is_visible("#key-box")
        page.fill("#api-key", "sesame")
        page.keyboard.press("Enter")
        page.wait_for_function("document.querySelector('#key-box').hidden", timeout=WAIT_MS)
        page.select_option("#strategy", "plain")
        page.fill("#chat-input", "Say hello.")
        page.click("#send")
        page.wait_for_function("document.querySelectorAll('#messages li').length === 2 && "
                               "!document.querySelector('#send').disabled", timeout=WAIT_MS)
        assert page.is_hidden("#alert") and len(page.inner_text("#messages li.assistant .body")) > 1
        # the key is a secret: kept for this tab's session only, never in the browser's lasting storage
        assert page.evaluate("sessionStorage.getItem('edge-drift.key')") == "sesame"
        assert page.evaluate("Object.values(localStorage)").count("sesame") == 0
        context.close()


def test_a_sentence_in_the_profile_box_starts_a_profile_that_steers(page, server):
    """The empty profile offers the box; the sentence becomes the attribute `statement` and answers steer with it."""
    page.fill("#new-user", "rosa")
    page.click("text=Add")
    wait_text(page, "#profile-user", "rosa")
    wait_text(page, "#profile-stats", "say how you like answers")
    page.fill("#statement", "Answer like a pirate, with pirate words in every sentence.")
    page.click("#say")
    wait_text(page, "#say-status", "saved")
    wait_text(page, "#profile-stats", "0 pair(s)")
    assert "statement" in page.get_attribute("#chart", "aria-label")
    page.fill("#chat-input", "How do I start journaling?")
    with page.expect_response(lambda r: is_chat_request(r.request)) as response:
        page.keyboard.press("Enter")
    assert response.value.headers["x-edge-drift-strategy"] == "drift"  # steered before any vote
    page.reload()
    page.wait_for_function("document.querySelector('#statement').value.startsWith('Answer like a pirate')",
                           timeout=WAIT_MS)  # the box shows the profile's sentence once the profile is loaded
    saved = ProfileStore(server.profiles).load("rosa")
    assert saved.n_pairs == 0 and saved.statement.startswith("Answer like a pirate")
