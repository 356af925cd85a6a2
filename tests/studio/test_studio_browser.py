"""The studio in a real browser: headless Chromium drives a real ``pathweaver serve --fake``.

One journey, as a person would take it: sign in, pick a project, change the agent, build a
three-node pathway with the mouse (a refused save on the way), save, talk to it in the
playground and watch the current node move, find the conversation in the sessions list,
open it on the canvas, roll back, check the layout at two window sizes, lose the key (the
unsaved edit survives), and save over a version someone else saved meanwhile (refused: the
studio says who saved what). Then two teammates on one pathway, each in their own browser:
the later save is refused and the second one reloads theirs or overwrites it knowingly.
Each step leaves a screenshot in a folder printed at the start.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

if TYPE_CHECKING:  # playwright is imported in the tests, so a machine without it skips them
    from playwright.sync_api import Browser, Dialog, Locator, Page, Route

pytestmark = [pytest.mark.slow, pytest.mark.studio]

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent / "pathweaver"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WAIT_MS = 15_000


@dataclass(frozen=True)
class Served:
    base: str
    data_dir: Path
    project_id: str
    demo_id: str
    key: str
    key_id: str

    def get(self, path: str, key: str | None = None) -> dict[str, Any]:
        """``GET`` an API path with the test's key (or ``key``); the answer's ``data``."""
        headers = {"Authorization": f"Bearer {key or self.key}"}
        answer = httpx.get(f"{self.base}{path}", headers=headers, timeout=10)
        answer.raise_for_status()
        data: dict[str, Any] = answer.json()["data"]
        return data


def cli(data_dir: Path, *args: str) -> str:
    done = subprocess.run(
        [str(BIN), *args, "--data-dir", str(data_dir)], capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")
    pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")
    if shutil.which("npm") is None:
        pytest.skip("npm is needed to build the studio")
    subprocess.run([str(ROOT / "scripts" / "build-studio.sh")], check=True, timeout=600)

    data_dir = tmp_path_factory.mktemp("studio-serve")
    created = json.loads(cli(data_dir, "project", "create", "Studio e2e", "--json"))
    demo = json.loads(
        cli(
            data_dir,
            "project",
            "create",
            "Luna Bistro",
            "--from",
            str(ROOT / "examples" / "restaurant-booking.yaml"),
            "--json",
        )
    )
    key = json.loads(
        cli(
            data_dir, "key", "create", "--developer", "--project", created["projectId"],
            "--project", demo["projectId"], "--name", "studio e2e", "--json",
        )
    )  # fmt: skip
    port = free_port()
    log_path = data_dir / "serve.log"
    command = [
        str(BIN),
        "serve",
        "--fake",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        "--log-level",
        "warning",
    ]
    # The key is revoked with the CLI mid-test: the server must see it on the next request,
    # not after its key cache's few seconds (PATHWEAVER_KEY_CACHE_SECONDS).
    env = {**os.environ, "PATHWEAVER_KEY_CACHE_SECONDS": "0"}
    # The server's output goes to a file: a pipe nobody reads could fill up and stall it.
    with log_path.open("w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"pathweaver serve did not start:\n{log_path.read_text()}")
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        studio = httpx.get(f"{base}/studio/", timeout=5)
        assert studio.status_code == 200, (
            f"GET /studio/ answered {studio.status_code}: is mount_studio(app) called in create_app?"
        )
        yield Served(base, data_dir, created["projectId"], demo["projectId"], key["apiKey"], key["keyId"])
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = Path(
        os.environ.get("PATHWEAVER_STUDIO_SCREENSHOTS") or tmp_path_factory.mktemp("studio-screenshots")
    )
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@dataclass
class Watched:
    """A page in its own browser context (its own storage: one person), with what went wrong."""

    page: Page
    errors: list[str]
    elsewhere: list[str]

    def check(self) -> None:
        assert self.errors == [], f"errors in the page: {self.errors}"
        assert self.elsewhere == [], f"the studio fetched from elsewhere: {self.elsewhere}"


def open_page(browser: Browser, served: Served) -> Watched:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    # Refused requests (400, 401, 409) are part of the journey; anything else logged as an error is not.
    page.on(
        "console",
        lambda message: (
            errors.append(message.text)
            if message.type == "error" and "Failed to load resource" not in message.text
            else None
        ),
    )
    # Nothing may be fetched from anywhere but the server under test.
    elsewhere: list[str] = []

    def only_the_server(route: Route) -> None:
        if route.request.url.startswith(served.base):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    context.route("**/*", only_the_server)
    return Watched(page, errors, elsewhere)


@pytest.fixture
def page(served: Served, shots: Path, capsys: pytest.CaptureFixture[str]) -> Iterator[Page]:
    from playwright.sync_api import sync_playwright

    with capsys.disabled():
        print(f"\nstudio screenshots: {shots}")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            watched = open_page(browser, served)
            yield watched.page
            watched.check()
        finally:
            browser.close()


@pytest.fixture
def two_pages(served: Served, shots: Path, capsys: pytest.CaptureFixture[str]) -> Iterator[tuple[Page, Page]]:
    """Two people: a page each, in separate browser contexts (separate sign-in and storage)."""
    from playwright.sync_api import sync_playwright

    with capsys.disabled():
        print(f"\nstudio screenshots: {shots}")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            first, second = open_page(browser, served), open_page(browser, served)
            yield first.page, second.page
            first.check()
            second.check()
        finally:
            browser.close()


class Steps:
    """Numbered screenshots, one per step."""

    def __init__(self, page: Page, folder: Path):
        self.page = page
        self.folder = folder
        self.count = 0

    def shot(self, name: str, *, full_page: bool = False) -> None:
        self.count += 1
        self.page.screenshot(path=str(self.folder / f"{self.count:02d}-{name}.png"), full_page=full_page)


def drag(page: Page, source: Locator, target: Locator) -> None:
    """Press on the centre of ``source``, move in steps, release on the centre of ``target``."""
    start = source.bounding_box()
    end = target.bounding_box()
    assert start and end
    mouse = page.mouse
    mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] / 2)
    mouse.down()
    mouse.move(end["x"] + end["width"] / 2, end["y"] + end["height"] / 2, steps=12)
    mouse.up()


def no_sideways_scroll(page: Page) -> None:
    width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"the page scrolls sideways: {width[0]}px wide in a {width[1]}px window"


def test_build_talk_and_trace_in_the_browser(page: Page, served: Served, shots: Path) -> None:
    from playwright.sync_api import expect

    steps = Steps(page, shots)

    # Sign in; the key reaches two projects.
    page.goto(f"{served.base}/studio")
    expect(page.get_by_role("heading", name="Pathweaver Studio")).to_be_visible()
    steps.shot("sign-in")
    page.get_by_test_id("api-key").fill("sk_not-a-real-key")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("The server does not accept this key")).to_be_visible()
    page.get_by_test_id("api-key").fill(served.key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id(f"project-{served.demo_id}")).to_be_visible()
    expect(page.get_by_test_id(f"project-{served.project_id}")).to_contain_text("Studio e2e")
    steps.shot("projects")

    # The agent: a global prompt and a variable, saved with PATCH.
    page.get_by_test_id(f"project-{served.project_id}").click()
    expect(page.get_by_test_id("node-start")).to_be_visible()
    page.get_by_role("button", name="Agent", exact=True).click()
    page.get_by_label("Global prompt", exact=False).first.fill(
        "You are the booking assistant of a small restaurant."
    )
    page.get_by_role("button", name="+ Variable").click()
    page.get_by_label("Key").fill("booking_time")
    page.get_by_label("Description").fill("When the table is wanted")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_text("Agent settings saved.")).to_be_visible()
    steps.shot("agent-settings")
    agent = served.get(f"/v1/projects/{served.project_id}/agent")
    assert agent["globalPrompt"] == "You are the booking assistant of a small restaurant."
    assert agent["variableConfigs"] == [
        {"key": "booking_time", "type": "string", "description": "When the table is wanted"}
    ]

    # The canvas starts from the default pathway: start -> end.
    page.get_by_role("button", name="Canvas").click()
    expect(page.get_by_test_id("save-state")).to_have_text("Saved · v1")
    steps.shot("canvas")

    # Add a prompt node, fill it in the side panel, move it with the mouse.
    page.get_by_role("button", name="+ Prompt").click()
    node = page.get_by_test_id("node-prompt_1")
    expect(node).to_be_visible()
    inspector = page.get_by_test_id("node-inspector")
    inspector.get_by_label("Title").fill("Book a table")
    inspector.get_by_label("Prompt", exact=True).fill("Ask for the day and time of the booking.")
    inspector.get_by_label("booking_time").check()
    start_box = page.get_by_test_id("node-start").bounding_box()
    node_box = node.bounding_box()
    assert start_box and node_box
    page.mouse.move(node_box["x"] + 60, node_box["y"] + 20)
    page.mouse.down()
    page.mouse.move(
        start_box["x"] + start_box["width"] + 100, start_box["y"] + start_box["height"] + 60, steps=10
    )
    page.mouse.up()
    expect(page.get_by_test_id("save-state")).to_have_text("Unsaved changes")
    page.get_by_role("button", name="Fit View").click()  # everything in sight, clear of the minimap

    # Replace start -> end by start -> prompt_1 -> end, connecting handles with the mouse.
    page.get_by_test_id("edge-label-edge-start-end").click()
    expect(page.get_by_test_id("edge-inspector")).to_be_visible()
    page.keyboard.press("Delete")
    expect(page.get_by_test_id("edge-label-edge-start-end")).to_have_count(0)
    drag(page, page.get_by_test_id("handle-out-start"), page.get_by_test_id("handle-in-prompt_1"))
    expect(page.locator(".pw-edge-label")).to_have_count(1)
    expect(page.get_by_test_id("edge-inspector")).to_contain_text("Start → Book a table")

    # The new edge's condition is still empty: the canvas says so before any save (the server
    # takes an edge without a condition, with a warning, as Pathors does; a refused save is below).
    expect(page.locator(".pw-edge-label")).to_contain_text("needs a condition")
    steps.shot("empty-condition")

    page.get_by_test_id("edge-inspector").get_by_label("Condition").fill("The user wants to book a table")
    drag(page, page.get_by_test_id("handle-out-prompt_1"), page.get_by_test_id("handle-in-end"))
    expect(page.locator(".pw-edge-label")).to_have_count(2)
    expect(page.get_by_test_id("edge-inspector")).to_contain_text("Book a table → End")
    page.get_by_test_id("edge-inspector").get_by_label("Condition").fill(
        "The user has given the day and time"
    )
    steps.shot("built")

    # An expression on the edge: a malformed one is refused at save, the server's message shown
    # under the field; a valid one turns the edge into a variables-decided one ("ƒ").
    edge_inspector = page.get_by_test_id("edge-inspector")
    edge_inspector.get_by_test_id("edge-expression").fill("booking_time ==")
    expect(edge_inspector.get_by_label("Label (optional)")).to_have_value(
        "The user has given the day and time"
    )
    page.keyboard.press("Control+s")
    expect(page.get_by_text("The server refused the save")).to_be_visible()
    expect(edge_inspector.locator(".pw-issues li.error")).to_contain_text("is not valid")
    expect(page.locator(".pw-edge-label.has-error")).to_have_count(1)
    edge_inspector.get_by_test_id("edge-expression").fill('booking_time == "never"')
    expression_label = page.locator(".pw-edge-label.expression")
    expect(expression_label).to_have_count(1)
    expect(expression_label).to_contain_text("ƒ The user has given the day and time")
    steps.shot("expression-edge")

    page.get_by_test_id("save").click()
    expect(page.get_by_test_id("saved-note")).to_contain_text("Saved as version 2")
    expect(page.get_by_test_id("save-state")).to_have_text("Saved · v2")
    expect(page.locator(".pw-edge-label.has-error")).to_have_count(0)
    steps.shot("saved")
    pathway = served.get(f"/v1/projects/{served.project_id}/pathway")
    assert pathway["version"] == 2
    assert sorted(n["id"] for n in pathway["nodes"]) == ["end", "prompt_1", "start"]
    added = next(n for n in pathway["nodes"] if n["id"] == "prompt_1")
    assert added["data"]["title"] == "Book a table"
    assert added["data"]["variableKeys"] == ["booking_time"]
    assert added["position"]["x"] > 150, "the node was dragged to the right of the end node"
    assert sorted((e["source"], e["target"], e["data"]) for e in pathway["edges"]) == [
        (
            "prompt_1",
            "end",
            {"condition": "The user has given the day and time", "expression": 'booking_time == "never"'},
        ),
        ("start", "prompt_1", {"condition": "The user wants to book a table"}),
    ]

    # The playground: the current node lights up and moves with the conversation.
    page.get_by_role("tab", name="Playground").click()
    message = page.get_by_label("Message")
    message.fill("Hello there")
    message.press("Enter")
    expect(page.get_by_text("You said: Hello there")).to_be_visible()
    expect(page.get_by_test_id("node-start")).to_have_attribute("data-current", "true")
    message.fill("I want to book a table")
    message.press("Enter")
    expect(page.get_by_text("You said: I want to book a table")).to_be_visible()
    expect(page.get_by_test_id("node-prompt_1")).to_have_attribute("data-current", "true")
    expect(page.get_by_test_id("node-start")).not_to_have_attribute("data-current", "true")
    expect(page.get_by_test_id("playground-current-node")).to_have_text("Book a table")
    trace = page.get_by_test_id("trace-2")
    expect(trace).to_contain_text("Start → Book a table")
    expect(trace.locator("tr.chosen")).to_contain_text("The user wants to book a table")
    expect(trace.get_by_test_id("trace-decision")).to_contain_text("Decision at Start: Moved to Book a table")
    expect(page.locator(".pw-edge.taken")).to_have_count(1)
    steps.shot("playground")
    session_link = page.get_by_test_id("playground").locator(".pw-play-status button")
    first_session = session_link.inner_text()

    # Replay sends the same user messages again, in a new session.
    page.get_by_role("button", name="Replay").click()
    expect(session_link).not_to_have_text(first_session)
    expect(page.get_by_test_id("playground-current-node")).to_have_text("Book a table")
    expect(page.locator(".pw-msg.user")).to_have_text(["Hello there", "I want to book a table"])
    session_id = session_link.inner_text()

    # The sessions list finds it; its transcript has the same trace; "open in canvas" shows its path.
    page.get_by_role("button", name="Sessions").click()
    row = page.get_by_test_id(f"session-row-{session_id}")
    expect(row).to_contain_text("Hello there")
    page.get_by_label("Search").fill("book a table")
    page.get_by_role("button", name="Search").click()
    expect(row).to_be_visible()
    steps.shot("sessions")
    row.click()
    expect(page.get_by_role("heading", name=f"Session {session_id}")).to_be_visible()
    expect(page.get_by_test_id("trace-2")).to_contain_text("Start → Book a table")
    steps.shot("session")
    page.get_by_test_id("open-in-canvas").click()
    expect(page.get_by_test_id("overlay-note")).to_contain_text(session_id)
    expect(page.get_by_test_id("node-prompt_1")).to_have_attribute("data-current", "true")
    steps.shot("open-in-canvas")

    # Leaving the project with unsaved edits asks first; saying no stays.
    page.get_by_test_id("node-prompt_1").click()
    page.get_by_test_id("node-inspector").get_by_label("Title").fill("Book a table for tonight")
    asked: list[str] = []

    def say_no(dialog: Dialog) -> None:
        asked.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", say_no)
    page.get_by_role("button", name="Pathweaver Studio").click()
    expect(page.get_by_test_id("node-prompt_1")).to_contain_text("Book a table for tonight")
    assert asked and "unsaved changes" in asked[0]

    # Versions: who saved what when; roll back to v1 after a confirmation.
    page.get_by_role("tab", name="Versions").click()
    expect(page.get_by_test_id("version-2")).to_contain_text("current")
    expect(page.get_by_test_id("version-1")).to_contain_text("created")
    page.get_by_test_id("version-1").get_by_role("button", name="Roll back to v1").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Your unsaved changes on the canvas will be lost.")
    steps.shot("rollback-confirm")
    dialog.get_by_role("button", name="Roll back to v1").click()
    expect(page.get_by_test_id("version-3")).to_contain_text("rollback to version 1")
    expect(page.get_by_test_id("node-prompt_1")).to_have_count(0)
    expect(page.get_by_test_id("save-state")).to_have_text("Saved · v3")

    # No layout break at 1280x800, nor in a narrow window.
    no_sideways_scroll(page)
    page.set_viewport_size({"width": 480, "height": 800})
    expect(page.get_by_test_id("node-start")).to_be_visible()
    no_sideways_scroll(page)
    steps.shot("narrow", full_page=True)
    page.get_by_role("button", name="Sessions").click()
    no_sideways_scroll(page)
    page.set_viewport_size({"width": 1280, "height": 800})

    # A key that stops working sends the person back to sign in, with a message; an unsaved
    # edit made before is still there after signing in with another key.
    page.get_by_role("button", name="Canvas").click()
    page.get_by_role("button", name="+ Global").click()
    expect(page.get_by_test_id("node-global_1")).to_be_visible()
    cli(served.data_dir, "key", "revoke", served.key_id)
    page.get_by_role("button", name="Sessions").click()
    expect(page.get_by_text("The server stopped accepting your API key")).to_be_visible()
    expect(page.get_by_test_id("api-key")).to_be_visible()
    steps.shot("key-revoked")
    new_key = json.loads(cli(served.data_dir, "key", "create", "--project", served.project_id, "--json"))[
        "apiKey"
    ]
    page.get_by_test_id("api-key").fill(new_key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Sessions")).to_be_visible()
    page.get_by_role("button", name="Canvas").click()
    expect(page.get_by_text("Your unsaved edits to version 3 were restored.")).to_be_visible()
    expect(page.get_by_test_id("node-global_1")).to_be_visible()
    expect(page.get_by_test_id("save-state")).to_have_text("Unsaved changes")
    steps.shot("edits-restored")

    # Someone else saves meanwhile: the server refuses the save (it was based on version 3),
    # the studio says who saved which version; Cancel keeps the edit, unsaved.
    changed = httpx.patch(
        f"{served.base}/v1/projects/{served.project_id}/pathway/nodes/end",
        json={"data": {"prompt": "Thank the user warmly."}},
        headers={"Authorization": f"Bearer {new_key}"},
        timeout=10,
    )
    assert changed.status_code == 200, changed.text
    page.keyboard.press("Control+s")
    conflict = page.get_by_role("dialog")
    expect(conflict).to_contain_text("Version 4 was saved")
    expect(conflict).to_contain_text("after version 3 that your edits are based on")
    steps.shot("save-conflict")
    conflict.get_by_role("button", name="Cancel").click()
    expect(conflict).to_have_count(0)
    expect(page.get_by_test_id("node-global_1")).to_be_visible()
    expect(page.get_by_test_id("save-state")).to_have_text("Unsaved changes")
    assert served.get(f"/v1/projects/{served.project_id}/pathway/version", key=new_key)["version"] == 4
    assert len(list(shots.glob("*.png"))) >= steps.count


def sign_in_to_canvas(page: Page, served: Served, project_id: str, key: str) -> None:
    from playwright.sync_api import expect

    page.goto(f"{served.base}/studio/p/{project_id}/canvas")
    page.get_by_test_id("api-key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_test_id("node-end")).to_be_visible()


def retitle(page: Page, node_id: str, title: str) -> None:
    page.get_by_test_id(f"node-{node_id}").click()
    page.get_by_test_id("node-inspector").get_by_label("Title").fill(title)


@pytest.mark.parametrize("choice", ["reload", "overwrite"])
def test_two_tabs_save_the_same_pathway(
    two_pages: tuple[Page, Page], served: Served, shots: Path, choice: str
) -> None:
    """Ana and Ben open the same pathway (version 1); Ana saves an edit (version 2); Ben's save,
    based on version 1, is refused and the studio names Ana's version. Ben either reloads it
    (his edit is dropped: he chose so) or keeps his edit and overwrites it (a new version)."""
    from playwright.sync_api import expect

    ana, ben = two_pages
    steps = Steps(ben, shots / f"two-tabs-{choice}")
    steps.folder.mkdir(exist_ok=True)
    project_id = json.loads(cli(served.data_dir, "project", "create", f"Two tabs {choice}", "--json"))[
        "projectId"
    ]
    keys = {
        name: json.loads(
            cli(served.data_dir, "key", "create", "--project", project_id, "--name", name, "--json")
        )["apiKey"]
        for name in ("Ana", "Ben")
    }
    sign_in_to_canvas(ana, served, project_id, keys["Ana"])
    sign_in_to_canvas(ben, served, project_id, keys["Ben"])
    for page in (ana, ben):
        expect(page.get_by_test_id("save-state")).to_have_text("Saved · v1")

    retitle(ana, "end", "Goodbye from Ana")
    ana.get_by_test_id("save").click()
    expect(ana.get_by_test_id("saved-note")).to_contain_text("Saved as version 2")

    retitle(ben, "end", "Farewell from Ben")
    ben.get_by_test_id("save").click()
    conflict = ben.get_by_role("dialog")
    expect(conflict).to_contain_text("Someone saved a newer version")
    expect(conflict).to_contain_text("Version 2 was saved by Ana")
    expect(conflict).to_contain_text("after version 1 that your edits are based on")
    steps.shot("conflict")
    pathway = f"/v1/projects/{project_id}/pathway"
    assert served.get(pathway, key=keys["Ana"])["version"] == 2, "the refused save stored nothing"

    def end_title() -> str:
        stored = served.get(pathway, key=keys["Ana"])
        title: str = next(n for n in stored["nodes"] if n["id"] == "end")["data"]["title"]
        return title

    if choice == "reload":
        conflict.get_by_role("button", name="Reload their version").click()
        expect(conflict).to_have_count(0)
        expect(ben.get_by_test_id("node-end")).to_contain_text("Goodbye from Ana")
        expect(ben.get_by_test_id("save-state")).to_have_text("Saved · v2")
        steps.shot("reloaded")
        # Saving what is already stored makes no version, and the studio says so.
        ben.get_by_test_id("save").click()
        expect(ben.get_by_test_id("saved-note")).to_have_text("No changes to save: version 2 is current.")
        expect(ben.get_by_test_id("save-state")).to_have_text("Saved · v2")
        assert served.get(pathway, key=keys["Ana"])["version"] == 2
        assert end_title() == "Goodbye from Ana"
    else:
        conflict.get_by_role("button", name="Keep my edits and overwrite").click()
        expect(conflict).to_have_count(0)
        expect(ben.get_by_test_id("saved-note")).to_contain_text("Saved as version 3")
        expect(ben.get_by_test_id("save-state")).to_have_text("Saved · v3")
        expect(ben.get_by_test_id("node-end")).to_contain_text("Farewell from Ben")
        steps.shot("overwritten")
        assert served.get(pathway, key=keys["Ana"])["version"] == 3
        assert end_title() == "Farewell from Ben"
        versions = httpx.get(
            f"{served.base}{pathway}/versions", headers={"Authorization": f"Bearer {keys['Ana']}"}, timeout=10
        ).json()["data"]
        assert [(v["version"], v["author"].split(" ")[0]) for v in versions][:2] == [(3, "Ben"), (2, "Ana")]
