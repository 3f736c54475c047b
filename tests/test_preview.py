"""`--preview`: every card rendered as real Anki renders it, and the page driven in Chromium.

The browser tests talk to headless Chromium over the DevTools protocol on a pipe
(`--remote-debugging-pipe`): nothing to install from pip, no port, no browser download.
They skip only when no Chromium binary exists (.ci/install-chromium.sh installs Debian's).

`python tests/test_preview.py docs` rewrites the README screenshots in docs/.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from anki.collection import Collection
from hypothesis import given, settings
from hypothesis import strategies as st

from deckbuilder import ankitemplate
from deckbuilder.ankitemplate import RenderedCard, card_fields, render, type_answer
from deckbuilder.build import DeckPlan, build
from deckbuilder.model import Diagnostic, Location
from deckbuilder.preview import FIELD_FONT, FIELD_SIZE, preview_cards, write_preview
from deckbuilder.previewmath import to_mathml

if __package__:
    from .conftest import DATA, REPO, import_package, new_collection, run
else:  # run as a script to refresh the README screenshots
    DATA = Path(__file__).parent / "data"
    REPO = Path(__file__).parent.parent

ARTIFACTS = REPO / "test-artifacts"
PROJECT_FOLDERS = ("decks", "cards", "templates", "images", "media", "assets")


def _space(html: str) -> str:
    return " ".join(html.split())


def page_data(html_path: Path) -> dict[str, Any]:
    """The cards as the page carries them (the HTML each side shows)."""
    text = html_path.read_text(encoding="utf-8")
    match = re.search(r'<script type="application/json" id="deck-data">(.*?)</script>', text, re.S)
    assert match is not None
    data: dict[str, Any] = json.loads(match.group(1))
    return data


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[DeckPlan, Path]:
    """The sample project built with --preview: (plan, preview page)."""
    root = tmp_path_factory.mktemp("preview") / "sample"
    shutil.copytree(DATA / "sample", root)
    result = build(root, root / "dist", preview=True)
    (plan,) = result.decks
    page = root / "dist" / "sample.html"
    assert page in result.written
    return plan, page


# The page shows what Anki shows
# ----------------------------------------------------------------------------------------


def anki_cards(apkg: Path, tmp: Path) -> tuple[Collection, dict[tuple[str, int], Any]]:
    col = new_collection(tmp / "collection.anki2")
    import_package(col, apkg)
    cards = {}
    for cid in col.find_cards(""):
        card = col.get_card(cid)
        cards[(card.note()["ID"], card.ord)] = card
    return col, cards


def assert_same_as_anki(plan: DeckPlan, page: Path, tmp: Path) -> None:
    col, cards = anki_cards(page.with_suffix(".apkg"), tmp)
    try:
        ours = preview_cards(plan)
        shown = page_data(page)["cards"]
        assert len(ours) == len(shown) == plan.card_count == col.card_count() == len(cards)
        for card, data in zip(ours, shown, strict=True):
            anki = cards[(card.note_id, card.ord)]
            out = anki.render_output()
            note = anki.note()
            # What the reviewer shows: Anki's [[type:Field]] marker becomes the answer box.
            expected = type_answer(
                RenderedCard(out.question_text, out.answer_text),
                dict(note.items()),
                anki.ord,
                font=FIELD_FONT,
                size=FIELD_SIZE,
            )
            # Math as MathML, the rest exactly as Anki renders it.
            expected = RenderedCard(to_mathml(expected.question), to_mathml(expected.answer))
            assert _space(data["q"]) == _space(expected.question), card.note_id
            assert _space(data["a"]) == _space(expected.answer), card.note_id
            assert card.question == expected.question and card.answer == expected.answer
            fonts = {(f["font"], f["size"]) for f in anki.note_type()["flds"]}
            assert fonts == {(FIELD_FONT, FIELD_SIZE)}  # what the type-in box is drawn with
            nt = plan.note_types[data["nt"]]
            assert nt.css == out.css == anki.note_type()["css"]  # the package's CSS, untouched
            assert card.deck == col.decks.name(anki.did)
            assert set(card.tags) == set(note.tags)
    finally:
        col.close()


def test_every_card_is_what_anki_renders(built: tuple[DeckPlan, Path], tmp_path: Path) -> None:
    plan, page = built
    assert_same_as_anki(plan, page, tmp_path)
    kinds = {(c.label, c.ord) for c in preview_cards(plan)}
    assert {("Front to back", 0), ("Back to front", 1), ("Cloze 1", 0), ("Cloze 2", 1)} <= kinds


def test_real_deck_is_what_anki_renders(tmp_path: Path) -> None:
    if not (REPO / "decks").is_dir():
        pytest.skip("no decks/ in this checkout")
    root = tmp_path / "project"
    for name in PROJECT_FOLDERS:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, root / name, ignore=shutil.ignore_patterns("*.lock.json"))
    result = build(root, root / "dist", preview=True)
    for plan in result.decks:
        assert_same_as_anki(plan, root / "dist" / f"{plan.spec.stem}.html", tmp_path / plan.spec.stem)


def test_type_in_box_and_comparison(built: tuple[DeckPlan, Path]) -> None:
    plan, _ = built
    (card,) = [c for c in preview_cards(plan) if c.note_id == "type-two-plus-two"]
    assert "[[type:" not in card.question + card.answer
    assert re.search(r"<input type=text id=typeans disabled\b", card.question)
    assert "<code id=typeans>4</code>" in card.answer  # Anki's comparison with nothing typed


@pytest.fixture(scope="module")
def collection(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collection]:
    col = new_collection(tmp_path_factory.mktemp("anki") / "collection.anki2")
    yield col
    col.close()


def anki_render(col: Collection, kind: str, fields: dict[str, str], ord_: int, tmpl: Any) -> Any:
    note = col.new_note(col.models.by_name(kind))
    for name, value in fields.items():
        note[name] = value
    note.tags = ["b", "a::x"]
    return note.ephemeral_card(ord_, custom_template=tmpl).render_output()


def ours(kind: str, fields: dict[str, str], ord_: int, tmpl: dict[str, Any]) -> RenderedCard:
    context = card_fields(
        fields,
        tags=["b", "a::x"],
        note_type=kind,
        deck="(Deck)",  # what Anki calls the deck of a card not yet added
        card_name=tmpl["name"],
        card_ord=ord_,
    )
    return render(tmpl["qfmt"], tmpl["afmt"], context, ord_, cloze=kind == "Cloze")


TEMPLATES = [
    "{{Front}}",
    "{{#Back}}has back: {{Back}}{{/Back}}{{^Back}}no back{{/Back}}",
    "{{ Front }} {{text:Front}} {{{Front}}} {{unknown:Front}} {{text:unknown:Front}}",
    "<!-- {{Back}} --> {{Front}} {{Tags}}|{{Type}}|{{Deck}}|{{Subdeck}}|{{Card}}|{{CardFlag}}",
    "{{#c1}}card one{{/c1}}{{^c2}} not two{{/c2}} {{Front}} {{type:Back}}",
    "{{=<% %>=}}<% Front %> {{Back}} <%#Back%>b<%/Back%>",
    "{{kana:Front}} {{kanji:Front}} {{furigana:Front}} {{cloze-only:Front}} {{:}}",
    "{{Front}}{{#Front}}{{#Back}}both{{/Back}}{{/Front}}",
]
FIELDS = [
    {"Front": "Q <b>one</b> 日本[にほん] &amp; x", "Back": "A"},
    {"Front": "front", "Back": " <br> <div></div>\n"},
    {"Front": "f", "Back": ""},
]


@pytest.mark.parametrize("qfmt", TEMPLATES)
def test_template_language_matches_anki(collection: Collection, qfmt: str) -> None:
    afmt = "{{FrontSide}}<hr id=answer>" + qfmt
    if qfmt.startswith("{{=<% %>=}}"):
        afmt = qfmt.replace("{{=<% %>=}}", "{{=<% %>=}}<%FrontSide%><hr id=answer>")
    tmpl = {"name": "Card 1", "qfmt": qfmt, "afmt": afmt}
    for fields in FIELDS:
        anki = anki_render(collection, "Basic", fields, 0, tmpl)
        mine = ours("Basic", fields, 0, tmpl)
        assert (mine.question, mine.answer) == (anki.question_text, anki.answer_text), fields


def test_template_errors_like_anki(collection: Collection) -> None:
    for qfmt in ("{{#Front}}x", "{{/Front}}", "{{#Front}}{{/Back}}", "{{Nope}}", "{{#Nope}}{{/Nope}}"):
        tmpl = {"name": "Card 1", "qfmt": qfmt, "afmt": "{{Back}}"}
        anki = anki_render(collection, "Basic", FIELDS[0], 0, tmpl)
        assert "template" in anki.question_text.lower()  # Anki shows a template error…
        with pytest.raises(ankitemplate.TemplateError):  # …which we raise
            ours("Basic", FIELDS[0], 0, tmpl)


TEMPLATE_PARTS = [
    "{{", "}}", "{", "}", "#", "^", "/", "Front", "Back", "<!--", "-->", ":", "text", "cloze",
    "type", " ", "FrontSide", "Tags", "c1", "{{#Front}}", "{{/Front}}", "{{^Back}}", "{{/Back}}",
    "{{Front}}", "<%", "%>", "{{=<% %>=}}", "tts en_US", "kana", "cloze-only",
]  # fmt: skip
template_text = st.lists(st.sampled_from(TEMPLATE_PARTS), max_size=10).map("".join)


@settings(max_examples=200, deadline=None)
@given(template_text, template_text, st.sampled_from(FIELDS))
def test_any_template_renders_or_fails_like_anki(
    collection: Collection, qfmt: str, afmt: str, fields: dict[str, str]
) -> None:
    tmpl = {"name": "Card 1", "qfmt": qfmt, "afmt": afmt}
    anki = anki_render(collection, "Basic", fields, 0, tmpl)
    try:
        mine = ours("Basic", fields, 0, tmpl)
    except ankitemplate.TemplateError:
        assert "problem" in (anki.question_text + anki.answer_text).lower()  # Anki's error
    else:
        assert (mine.question, mine.answer) == (anki.question_text, anki.answer_text)


CLOZE_PARTS = [
    "{{c1::", "{{c2::", "{{c1,2::", "{{c0::", "{{c::", "}}", "::", "a", " b ", "<i>", "</i>",
    "\\(", "\\)", "\\[", "&amp;", "é€", "/\"'", "x::hint", "{{", "}",
]  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(CLOZE_PARTS), max_size=14).map("".join))
def test_cloze_matches_anki(collection: Collection, text: str) -> None:
    nt = collection.models.by_name("Cloze")
    tmpl = nt["tmpls"][0]
    fields = {"Text": text, "Back Extra": "extra"}
    numbers = ankitemplate.cloze_numbers([text])
    assert sorted(numbers) == sorted(
        collection._backend.cloze_numbers_in_note(_note(collection, "Cloze", fields)._to_backend_note())
    )
    for ord_ in (0, 1):
        typed = ankitemplate.extract_cloze_for_typing(text, ord_ + 1)
        assert typed == collection.extract_cloze_for_typing(text, ord_ + 1)
        anki = anki_render(collection, "Cloze", fields, ord_, tmpl)
        mine = ours("Cloze", fields, ord_, tmpl)
        assert (mine.question, mine.answer) == (anki.question_text, anki.answer_text)


def _note(col: Collection, kind: str, fields: dict[str, str]) -> Any:
    note = col.new_note(col.models.by_name(kind))
    for name, value in fields.items():
        note[name] = value
    return note


@pytest.mark.parametrize("expected", ["4", "a<b>&'\"x</b><br>y", "a&nbsp;b &amp; c", "x\n<div>y</div>"])
def test_typed_answer_comparison_matches_anki(collection: Collection, expected: str) -> None:
    card = RenderedCard("[[type:Back]]", "[[type:Back]]")
    shown = type_answer(card, {"Back": expected}, 0, font="F", size=9)
    compared = collection.compare_answer(expected, "")
    assert shown.answer == f"\n<div style=\"font-family: 'F'; font-size: 9px\">{compared}</div>"


def test_diagnostics_at_the_top(built: tuple[DeckPlan, Path], tmp_path: Path) -> None:
    plan, _ = built
    diagnostics = [
        Diagnostic(Location("cards/basics.yaml", 3), "card 'x': answer has <30> words", True),
        Diagnostic(Location("templates/basic.front.html", 1), "unknown field 'Nope'"),
        Diagnostic(Location("cards/other-deck.yaml", 1), "card 'y': not in this deck", True),
    ]
    page = write_preview(plan, diagnostics, tmp_path)
    assert page == tmp_path / "sample.html"
    text = page.read_text(encoding="utf-8")
    top = text.index('id="diagnostics"')
    assert top < text.index('id="filters"') < text.index('class="tile"')
    assert "1 error" in text and "1 lint warning" in text
    assert "<code>cards/basics.yaml:3</code> card &#39;x&#39;: answer has &lt;30&gt; words" in text
    assert "templates/basic.front.html:1" in text
    assert "other-deck" not in text  # lint warnings of other decks' cards stay out
    assert 'id="diagnostics"' not in write_preview(plan, [], tmp_path).read_text(encoding="utf-8")


def test_page_is_self_contained(built: tuple[DeckPlan, Path]) -> None:
    plan, page = built
    text = page.read_text(encoding="utf-8")
    assert not re.search(r"<(link|iframe)\b|<script[^>]*\bsrc=|@import|url\(http", text)
    assert "default-src 'none'" in text  # the browser itself refuses to load anything
    data = page_data(page)
    assert set(data["media"]) == set(plan.content.media)
    assert all(uri.startswith("data:image/png;base64,") for uri in data["media"].values())
    sources = {src for c in data["cards"] for src in re.findall(r'src="([^"]+)"', c["a"])}
    assert sources == set(plan.content.media)


def test_cli_writes_the_preview(sample: Path) -> None:
    result = run("--project", sample)
    assert result.exit_code == 0, result.output
    assert not (sample / "dist" / "sample.html").exists()
    result = run("--project", sample, "--preview")
    assert result.exit_code == 0, result.output
    page = sample / "dist" / "sample.html"
    assert len(page_data(page)["cards"]) == 11
    first = page.read_bytes()
    assert run("--project", sample, "--preview").exit_code == 0
    assert page.read_bytes() == first  # reproducible


# Headless Chromium over the DevTools protocol
# ----------------------------------------------------------------------------------------


def find_chromium() -> str | None:
    names = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
    for candidate in (os.environ.get("CHROMIUM"), *names):
        if candidate and (found := shutil.which(candidate)):
            return found
    return None


CHROMIUM = find_chromium()
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no Chromium binary (chromium, chromium-browser, google-chrome or $CHROMIUM): "
    "run .ci/install-chromium.sh (Debian's chromium package)",
)


class Browser:
    """Headless Chromium driven through the DevTools protocol over a pipe (fds 3 and 4)."""

    TIMEOUT = 20.0

    def __init__(self, binary: str) -> None:
        # On a busy host Chromium now and then gives no answer to its first messages: it is
        # started again once. A browser that failed is killed with its children, or its reader
        # threads would live on beside the rest of the suite (no Markdown worker is forked
        # beside a thread of someone else's).
        for attempt in (1, 2):
            try:
                self._start(binary)
                return
            except RuntimeError:
                self._kill()
                if attempt == 2:
                    raise

    def _start(self, binary: str) -> None:
        self.profile = tempfile.mkdtemp(prefix="deckbuilder-chromium-")
        to_browser_r, self._to_browser = _high_pipe()
        self._from_browser, from_browser_w = _high_pipe()

        def child_fds() -> None:
            os.dup2(to_browser_r, 3)
            os.dup2(from_browser_w, 4)

        self.proc = subprocess.Popen(
            [
                binary,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--disable-dev-shm-usage",
                "--hide-scrollbars",
                "--mute-audio",
                f"--user-data-dir={self.profile}",
                "--remote-debugging-pipe",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            pass_fds=(3, 4),
            preexec_fn=child_fds,  # before our reader threads start
            start_new_session=True,  # (its children are killed with it: see _kill)
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._next_id = 0
        self._lock = threading.Condition()
        self._replies: dict[int, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self._closed = False
        self.stderr: list[bytes] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Network", "Log"):
            self.call(f"{domain}.enable")
        # Every page starts in its default state (the preview remembers night mode).
        self.call("Page.addScriptToEvaluateOnNewDocument", source="localStorage.clear()")

    def _read(self) -> None:
        buffer = b""
        while chunk := os.read(self._from_browser, 1 << 16):
            buffer += chunk
            *messages, buffer = buffer.split(b"\0")
            with self._lock:
                for raw in messages:
                    message = json.loads(raw)
                    if "id" in message:
                        self._replies[message["id"]] = message
                    else:
                        self.events.append(message)
                self._lock.notify_all()
        with self._lock:
            self._closed = True
            self._lock.notify_all()

    def _drain_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)

    def send(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        with self._lock:
            self._next_id += 1
            mid = self._next_id
        message: dict[str, Any] = {"id": mid, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + self.TIMEOUT
        with self._lock:
            while mid not in self._replies:
                if self._closed or not self._lock.wait(deadline - time.monotonic()):
                    log = b"".join(self.stderr[-20:]).decode(errors="replace")
                    raise RuntimeError(f"Chromium did not answer {method}:\n{log}")
            reply = self._replies.pop(mid)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        result: dict[str, Any] = reply.get("result", {})
        return result

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """A command to the page."""
        return self.send(method, self.session, **params)

    def js(self, expression: str) -> Any:
        reply = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in reply:
            raise AssertionError(f"{expression}: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    def wait_for(self, expression: str) -> None:
        deadline = time.monotonic() + self.TIMEOUT
        while not self.js(expression):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {expression}")
            time.sleep(0.02)

    def open(self, page: Path, width: int = 1200, height: int = 900, mobile: bool = False) -> None:
        self.call(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=2 if mobile else 1,
            mobile=mobile,
        )
        with self._lock:
            self.events.clear()
        self.call("Page.navigate", url=page.resolve().as_uri())
        self.wait_for(
            "document.readyState === 'complete' && document.documentElement.dataset.ready === 'true'"
        )

    def click(self, selector: str) -> None:
        """A real mouse click in the middle of the element."""
        box = self.js(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
            " e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect();"
            " return [r.x + r.width / 2, r.y + r.height / 2]; })()"
        )
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left", clickCount=1)

    def type_text(self, selector: str, text: str) -> None:
        self.js(f"document.querySelector({json.dumps(selector)}).focus()")
        self.call("Input.insertText", text=text)

    def screenshot(self, path: Path, full_page: bool = False) -> bytes:
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            params["captureBeyondViewport"] = True
            size = self.call("Page.getLayoutMetrics")["cssContentSize"]
            params["clip"] = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
        png = base64.b64decode(self.call("Page.captureScreenshot", **params)["data"])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(png)
        return png

    def close(self) -> None:
        with contextlib.suppress(RuntimeError, OSError):
            self.send("Browser.close")
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._let_go(reader_timeout=5)

    def _kill(self) -> None:
        """End a browser that did not start: it, its children, and the threads reading it."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self._let_go(reader_timeout=10)

    def _let_go(self, reader_timeout: float) -> None:
        """Once the browser has ended: its pipes, its reading thread, its profile."""
        os.close(self._to_browser)
        self._reader.join(timeout=reader_timeout)
        if not self._reader.is_alive():
            os.close(self._from_browser)
        shutil.rmtree(self.profile, ignore_errors=True)


def _high_pipe() -> tuple[int, int]:
    """A pipe whose ends sit above fds 3 and 4, so that moving them there cannot clash."""
    ends = []
    for fd in os.pipe():
        ends.append(fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10))
        os.close(fd)
    return ends[0], ends[1]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert CHROMIUM is not None
    chromium = Browser(CHROMIUM)
    yield chromium
    chromium.close()


def card_text(b: Browser, note_id: str, nth: int = 0) -> str:
    value: str = b.js(
        "[...document.querySelectorAll('.tile')]"
        f".filter(t => t.querySelector('.note-id').textContent === {json.dumps(note_id)})"
        f"[{nth}].querySelector('.card-host iframe').contentDocument.querySelector('#qa').innerText"
    )
    return value


HOSTS = "document.querySelectorAll('.card-host')"
FIRST_CARD = "getComputedStyle(document.querySelector('.card-host iframe').contentDocument.body)"


def shown_count(b: Browser) -> int:
    return int(b.js("document.querySelectorAll('.tile:not([hidden])').length"))


@needs_chromium
def test_browser_shows_every_card(browser: Browser, built: tuple[DeckPlan, Path]) -> None:
    plan, page = built
    browser.open(page)
    assert shown_count(browser) == plan.card_count == 11
    assert browser.js("document.getElementById('count').textContent") == "11 cards"
    assert browser.js("+document.getElementById('total').dataset.total") == plan.card_count
    roots = browser.js(f"[...{HOSTS}].map(h => h.querySelector('iframe').contentDocument.body.className)")
    assert roots[:3] == ["card card1", "card card1", "card card2"]
    # The package's CSS applies inside each card: the note type sets the card's font size.
    assert browser.js(f"{FIRST_CARD}.fontSize") == "20px"
    browser.click("#answers")
    docs = f"[...{HOSTS}].map(h => h.querySelector('iframe').contentDocument)"
    images = f"{docs}.flatMap(d => [...d.querySelectorAll('img')])"
    browser.wait_for(
        f"{images}.every(i => i.complete && i.naturalWidth > 0 && i.src.startsWith('data:image/png'))"
    )
    assert browser.js(f"{images}.length") == 4  # two Markdown images and two raw <img>
    urls = [
        e["params"]["request"]["url"]
        for e in browser.events
        if e.get("method") == "Network.requestWillBeSent"
    ]
    assert urls and all(u.startswith(("file:", "data:")) for u in urls), urls
    problems = [
        e["params"]
        for e in browser.events
        if e.get("method") == "Runtime.exceptionThrown"
        or (e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")
    ]
    assert problems == []


@needs_chromium
def test_browser_flip_shows_the_answer(browser: Browser, built: tuple[DeckPlan, Path]) -> None:
    _, page = built
    browser.open(page)
    assert "capital of France" in card_text(browser, "capital-of-france")
    assert "Paris" not in card_text(browser, "capital-of-france")
    browser.click(".tile:first-child .flip")
    assert "Paris" in card_text(browser, "capital-of-france")
    assert browser.js("document.querySelector('.tile:first-child .flip').textContent") == "Show question"
    browser.click(".tile:first-child .card-host")  # a tap on the card flips it back
    assert "Paris" not in card_text(browser, "capital-of-france")
    # Cloze 2: the second deletion hidden on the question, shown on the answer.
    assert "[...]" in card_text(browser, "outline-cloze", 1)
    assert "propose" not in card_text(browser, "outline-cloze", 1)
    browser.click(".tile:nth-child(6) .flip")
    assert "propose a high-level design" in card_text(browser, "outline-cloze", 1)


CARD_BACKGROUND = f"{FIRST_CARD}.backgroundColor"


@needs_chromium
def test_browser_night_mode(browser: Browser, built: tuple[DeckPlan, Path]) -> None:
    _, page = built
    browser.open(page)
    assert browser.js(CARD_BACKGROUND) == "rgb(253, 253, 253)"  # the note type's light .card
    page_light = browser.js("getComputedStyle(document.body).backgroundColor")
    browser.click("#night")
    assert browser.js(CARD_BACKGROUND) == "rgb(28, 28, 30)"  # its .nightMode.card
    assert browser.js("getComputedStyle(document.body).backgroundColor") != page_light
    classes = browser.js(f"[...{HOSTS}].map(h => h.querySelector('iframe').contentDocument.body.className)")
    assert all(c.split()[2:] == ["nightMode", "night_mode"] for c in classes), classes
    browser.click("#night")
    assert browser.js(CARD_BACKGROUND) == "rgb(253, 253, 253)"


def choose(b: Browser, select: str, value: str) -> None:
    b.js(
        f"(() => {{ const s = document.querySelector({json.dumps(select)}); s.value = {json.dumps(value)};"
        " s.dispatchEvent(new Event('change', {bubbles: true})); })()"
    )


@needs_chromium
def test_browser_filters_and_search(browser: Browser, built: tuple[DeckPlan, Path]) -> None:
    _, page = built
    browser.open(page)
    count = "document.getElementById('count').textContent"
    choose(browser, "#subdeck", "Extras")
    assert shown_count(browser) == 2 and browser.js(count) == "2 of 11 cards"
    choose(browser, "#subdeck", "Extras::Nested")
    assert shown_count(browser) == 2
    choose(browser, "#subdeck", "")  # the top deck only
    assert shown_count(browser) == 9
    choose(browser, "#subdeck", "*")
    choose(browser, "#tag", "terms")
    assert shown_count(browser) == 2
    assert browser.js(count) == "2 of 11 cards"
    choose(browser, "#tag", "*")
    browser.type_text("#search", "PARIS")
    assert shown_count(browser) == 1
    assert browser.js("document.querySelector('.tile:not([hidden]) .note-id').textContent") == (
        "capital-of-france"
    )
    browser.type_text("#search", " nowhere")
    assert shown_count(browser) == 0
    assert browser.js("!document.getElementById('nothing').hidden")


@needs_chromium
def test_browser_phone_width(browser: Browser, built: tuple[DeckPlan, Path]) -> None:
    _, page = built
    browser.open(page, width=360, height=780, mobile=True)
    assert browser.js("document.documentElement.scrollWidth") <= 360  # no sideways scrolling
    assert browser.js(
        "[...document.querySelectorAll('.tile')].every(t => t.getBoundingClientRect().right <= 360)"
    )
    # The note type's own phone rule applies (its @media (max-width: 480px)).
    assert browser.js(f"{FIRST_CARD}.fontSize") == "18px"
    png = browser.screenshot(ARTIFACTS / "preview-phone.png")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert int.from_bytes(png[16:20], "big") == 720  # 360 CSS px at 2 device pixels each


# README screenshots
# ----------------------------------------------------------------------------------------


def write_docs_screenshots() -> None:
    """Preview the real deck (or the sample) and screenshot it for the README."""
    assert CHROMIUM is not None, "no Chromium"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "project"
        source = REPO if (REPO / "decks").is_dir() else DATA / "sample"
        for name in PROJECT_FOLDERS:
            if (source / name).is_dir():  # with the lock: the page shows the release members have
                shutil.copytree(source / name, root / name)
        result = build(root, root / "dist", preview=True)
        plan = result.decks[0]
        page = root / "dist" / f"{plan.spec.stem}.html"
        kinds: dict[str, set[str]] = {}
        for card in preview_cards(plan):
            kinds.setdefault(card.subdeck.split("::")[0], set()).add(card.label)
        varied = max(kinds, key=lambda name: len(kinds[name]))
        b = Browser(CHROMIUM)
        try:
            b.open(page, width=1100, height=1300)
            choose(b, "#subdeck", varied)
            b.js("document.querySelector('.tile:not([hidden]) .flip').click()")
            b.js("window.scrollTo(0, 0)")
            b.screenshot(REPO / "docs" / "preview-desktop.png")
            b.open(page, width=360, height=780, mobile=True)
            b.click("#night")
            b.js("document.querySelector('.tile .flip').click()")
            b.js("window.scrollTo(0, document.getElementById('filters').offsetTop - 8)")
            b.screenshot(REPO / "docs" / "preview-phone.png")
        finally:
            b.close()


if __name__ == "__main__" and sys.argv[1:] == ["docs"]:
    write_docs_screenshots()
