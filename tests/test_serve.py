"""`build-deck serve` end to end: a real server process, a real Chromium tab, real file saves."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from deckbuilder.model import Diagnostic, Location
from deckbuilder.serve import error_page, live_page

from .conftest import run
from .test_preview import CHROMIUM, Browser, card_text, needs_chromium


class Server:
    """`python -m deckbuilder serve --port 0` in a project, its output collected as it comes."""

    def __init__(self, root: Path) -> None:
        env = {**os.environ, "NO_COLOR": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "deckbuilder", "serve", "--port", "0"],
            cwd=root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        assert self.proc.stdout is not None and self.proc.stderr is not None
        threading.Thread(target=self._collect, args=(self.proc.stdout, self.stdout), daemon=True).start()
        threading.Thread(target=self._collect, args=(self.proc.stderr, self.stderr), daemon=True).start()
        self.url = self.wait_for_line(self.stdout, r"Serving on (http://127\.0\.0\.1:\d+/)").group(1)

    @staticmethod
    def _collect(stream: object, lines: list[str]) -> None:
        for line in stream:  # type: ignore[attr-defined]
            lines.append(line.rstrip("\n"))

    def wait_for_line(self, lines: list[str], pattern: str, timeout: float = 30) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(lines):
                if match := re.search(pattern, line):
                    return match
            if self.proc.poll() is not None and not any(re.search(pattern, x) for x in lines):
                break
            time.sleep(0.02)
        raise AssertionError(f"no line matching {pattern!r}: {self.stdout} {self.stderr}")

    def interrupt(self) -> int:
        """Ctrl-C, as a terminal sends it."""
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(timeout=10)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "live"
    assert run("init", root, "--name", "Live Deck").exit_code == 0
    for built in (root / "dist").iterdir():  # what init built: serve must not write here
        built.unlink()
    (root / "dist").rmdir()
    return root


@pytest.fixture
def server(project: Path) -> Iterator[Server]:
    running = Server(project)
    yield running
    running.close()


def eventually(browser: Browser, expression: str, timeout: float = 10) -> float:
    """Seconds until `expression` is true in the tab (surviving the reloads in between)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        try:
            if browser.js(expression):
                return time.monotonic() - start
        except (AssertionError, RuntimeError):  # the page was reloading
            pass
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {expression}")


READY = "document.readyState === 'complete' && document.documentElement.dataset.ready === 'true'"


def shown_front(note_id: str) -> str:
    return (
        "(() => { const t = [...document.querySelectorAll('.tile')].find(t => "
        f"t.querySelector('.note-id').textContent === '{note_id}'); "
        "const f = t && t.querySelector('.card-host iframe'); "
        "const qa = f && f.contentDocument && f.contentDocument.querySelector('#qa'); "
        "return qa ? qa.innerText : ''; })()"
    )


@needs_chromium
def test_a_saved_edit_shows_in_the_open_page(project: Path, server: Server) -> None:
    assert CHROMIUM is not None
    browser = Browser(CHROMIUM)
    try:
        browser.call("Page.navigate", url=server.url)
        eventually(browser, READY)
        assert card_text(browser, "example-reversed") == "latency"
        cards = project / "cards" / "example.yaml"
        text = cards.read_text(encoding="utf-8")

        cards.write_text(text.replace("front: latency", "front: tail latency"), encoding="utf-8")
        seconds = eventually(browser, f"{shown_front('example-reversed')} === 'tail latency'")
        assert seconds < 2.5, f"the edit took {seconds:.2f} s to show"
        print(f"saved edit shown in {seconds:.2f} s")

        # A broken file: the errors in the terminal and on the page, the cards that load still shown.
        cards.write_text(text.replace("front: latency", "front: latency: of what"), encoding="utf-8")
        eventually(
            browser,
            "(document.querySelector('#diagnostics') || {innerText: ''}).innerText"
            ".includes('YAML syntax error')",
        )
        server.wait_for_line(server.stderr, r"^cards/example\.yaml:\d+:\d+: YAML syntax error")
        # A broken deck file: no deck to preview, the page of errors instead.
        deck = project / "decks" / "live-deck.yaml"
        deck_text = deck.read_text(encoding="utf-8")
        deck.write_text(deck_text + "cards: [\n", encoding="utf-8")
        eventually(browser, "document.title.includes('error')")
        assert "decks/live-deck.yaml:" in browser.js("document.body.innerText")

        deck.write_text(deck_text, encoding="utf-8")
        cards.write_text(text, encoding="utf-8")
        eventually(browser, f"{shown_front('example-reversed')} === 'latency'")
    finally:
        browser.close()
    assert server.interrupt() == 0
    assert server.stdout[-1] == "Stopped."
    assert not any("Traceback" in line for line in server.stderr)
    assert not (project / "dist").exists()  # drafts in a temporary folder
    assert not list((project / "decks").glob("*.lock.json"))  # never the lock


def test_the_server_serves_its_own_origin_only(server: Server) -> None:
    with urllib.request.urlopen(server.url) as page:
        assert page.headers["Content-Type"] == "text/html; charset=utf-8"
        body = page.read().decode("utf-8")
    assert "<title>Live Deck — preview</title>" in body
    assert '<script src="/_reload.js"' in body
    request = urllib.request.Request(server.url, headers={"Host": "attacker.example:80"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request)
    assert refused.value.code == 403
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(server.url + "../../etc/passwd")
    assert missing.value.code == 404
    with urllib.request.urlopen(server.url + "live-deck.apkg") as package:
        assert package.read(2) == b"PK"  # the draft package, to import and try
    assert server.interrupt() == 0


def test_the_page_lets_exactly_the_reload_script_run() -> None:
    page = (
        b'<html><head><meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        b"script-src 'sha256-abc'\"></head><body></body></html>"
    )
    live = live_page(page, 7).decode("utf-8")
    assert "script-src 'sha256-abc' 'self'; connect-src 'self'\"" in live
    assert '<script src="/_reload.js" data-generation="7" defer></script>\n</head>' in live
    errors = error_page([Diagnostic(Location("decks/d.yaml", 1, 1), "<b>bad</b>")], 2).decode("utf-8")
    assert "<code>decks/d.yaml:1:1</code> &lt;b&gt;bad&lt;/b&gt;" in errors
    assert "script-src 'self'; connect-src 'self'" in errors
