"""An Anki add-on that plays a fresh learner in the real Anki desktop (copied by test_desktop.py).

It reads the job file named by DECKBUILDER_DESKTOP_JOB, imports each package through File ->
Import's own dialog with its default options, opens each deck's overview, studies every new card
of the first session in the reviewer (typing an answer on type-in cards), and writes what the
reviewer's DOM and computed styles show to `result.json`, with a screenshot of every screen.
"""

from __future__ import annotations

import json
import os
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aqt import gui_hooks, mw
from aqt.qt import QApplication, QTimer
from aqt.theme import Theme

JOB: dict[str, Any] = json.loads(Path(os.environ["DECKBUILDER_DESKTOP_JOB"]).read_text("utf-8"))
OUT = Path(JOB["out"])
RESULT: dict[str, Any] = {"imports": [], "decks": [], "cards": {}, "errors": []}
DEADLINE = time.monotonic() + JOB.get("timeout", 240)

# What a learner sees of one side: read from the reviewer's page after MathJax has typeset.
PROBE_JS = r"""
(() => {
  const qa = document.getElementById("qa");
  if (!qa) return JSON.stringify({ready: false});
  const style = getComputedStyle(qa);
  if (style.opacity !== "1" || !qa.firstElementChild) return JSON.stringify({ready: false});
  // Marked when measured: a side still showing marks is the previous one.
  if (qa.querySelector("[data-probed]")) return JSON.stringify({ready: false});
  for (const el of qa.children) el.setAttribute("data-probed", "1");
  const clean = qa.cloneNode(true);
  clean.querySelectorAll("mjx-container, mjx-assistive-mml, style, script").forEach(e => e.remove());
  const transparent = c => c === "rgba(0, 0, 0, 0)" || c === "transparent";
  const codeBlocks = [...qa.querySelectorAll(".highlight")].map(block => {
    const backgrounds = new Set();
    const own = getComputedStyle(block).backgroundColor;
    if (!transparent(own)) backgrounds.add(own);
    for (const el of block.querySelectorAll("*")) {
      const bg = getComputedStyle(el).backgroundColor;
      if (!transparent(bg)) backgrounds.add(bg);
    }
    return {backgrounds: [...backgrounds], text: block.innerText};
  });
  const width = document.documentElement.clientWidth;
  // Inside an element that scrolls sideways, width is that element's business.
  const scrolls = el => {
    for (let p = el.parentElement; p && p !== qa; p = p.parentElement)
      if (getComputedStyle(p).overflowX !== "visible") return true;
    return false;
  };
  const wide = [...qa.querySelectorAll("*")]
    .filter(el => el.getBoundingClientRect().right > width + 1 && !scrolls(el))
    .map(el => el.tagName.toLowerCase() + (el.className ? "." + el.className : ""));
  const cells = [...qa.querySelectorAll("td, th")].map(c => c.getBoundingClientRect().width);
  // A line that starts with punctuation: a comma or full stop wrapped away from its math.
  const orphans = [];
  const walker = document.createTreeWalker(qa, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const m = node.textContent.match(/^[,.;:!?]/);
    const prev = node.previousSibling;
    if (!m || !prev || prev.nodeName.toLowerCase() !== "mjx-container") continue;
    const range = document.createRange();
    range.setStart(node, 0); range.setEnd(node, 1);
    const mark = range.getBoundingClientRect(), math = prev.getBoundingClientRect();
    if (mark.top >= math.bottom - 2) orphans.push(m[0]);
  }
  return JSON.stringify({
    ready: true,
    html: qa.innerHTML,
    text: clean.innerText,
    math: [...qa.querySelectorAll("mjx-container")].map(m => ({
      display: m.getAttribute("display") === "true",
      error: !!m.querySelector("mjx-merror"),
      width: m.getBoundingClientRect().width,
    })),
    images: [...qa.querySelectorAll("img")].map(i => ({
      src: i.getAttribute("src"), loaded: i.complete && i.naturalWidth > 0,
      width: i.getBoundingClientRect().width,
    })),
    codeBlocks,
    typeAnswer: [...qa.querySelectorAll("#typeans, code#typeans")].map(e => e.innerText),
    bodyClasses: document.body.className,
    background: getComputedStyle(document.body).backgroundColor,
    color: getComputedStyle(qa.querySelector(".card, .question, div") || qa).color,
    pageWidth: width,
    scrollWidth: document.documentElement.scrollWidth,
    wide, cellWidths: cells, orphans,
  });
})()
"""

OVERVIEW_JS = r"""
(() => {
  const d = document.querySelector(".description");
  if (!d || document.readyState !== "complete") return JSON.stringify({ready: false});
  return JSON.stringify({ready: true, text: d.innerText, html: d.innerHTML,
    whiteSpace: getComputedStyle(d).whiteSpace,
    scrollWidth: document.documentElement.scrollWidth,
    descriptionRight: Math.max(...[d, ...d.querySelectorAll("*")].map(e => e.getBoundingClientRect().right)),
    pageWidth: document.documentElement.clientWidth});
})()
"""


def later(ms: int, fn: Callable[[], None]) -> None:
    def run() -> None:
        try:
            if time.monotonic() > DEADLINE:
                raise TimeoutError(f"driver ran out of time in {fn.__name__}")
            fn()
        except Exception:
            RESULT["errors"].append(traceback.format_exc())
            finish()

    QTimer.singleShot(ms, run)


def poll(js: str, then: Callable[[dict[str, Any]], None], web: Any = None) -> None:
    """Run `js` in a web view until it reports ready, then call `then` with its result."""
    view = web or mw.web

    def got(raw: str | None) -> None:
        data = json.loads(raw) if raw else {"ready": False}
        if data.get("ready"):
            # One more frame so that what is screenshotted is what was measured.
            later(150, lambda: then(data))
        else:
            later(100, ask)

    def ask() -> None:
        view.page().runJavaScript(js, got)

    later(0, ask)


def screenshot(name: str) -> str:
    path = OUT / f"{name}.png"
    mw.grab().save(str(path))
    return path.name


def watchdog() -> None:
    from aqt.qt import QMessageBox

    shown = [
        f"{type(w).__name__}: {w.text() if isinstance(w, QMessageBox) else w.windowTitle()}"
        for w in QApplication.topLevelWidgets()
        if w.isVisible()
    ]
    QApplication.primaryScreen().grabWindow(0).save(str(OUT / "stuck.png"))
    RESULT["errors"].append(f"the driver stopped hearing from Anki in state {mw.state}; windows: {shown}")
    finish()


def start() -> None:
    QTimer.singleShot(int((DEADLINE - time.monotonic()) * 1000) + 5000, watchdog)
    # Anki's day begins at its rollover hour (4 AM by default): a run across it starts a new
    # day's limits midway (a first session of 26 cards, not 20, at 04:00). Half a day away, never.
    preferences = mw.col.get_preferences()
    preferences.scheduling.rollover = (time.localtime().tm_hour + 12) % 24
    mw.col.set_preferences(preferences)
    mw.set_theme(Theme.DARK if JOB["theme"] == "dark" else Theme.LIGHT)
    mw.showNormal()
    mw.resize(JOB["width"], JOB["height"])
    import_next(list(JOB["packages"]))


def import_next(paths: list[str]) -> None:
    if not paths:
        later(200, lambda: study_next(list(JOB["decks"])))
        return
    from aqt.import_export.importing import import_file

    before = mw.col.note_count()
    import_file(mw, paths[0])  # what File -> Import does once a file is chosen
    later(300, lambda: click_import(paths, before))


def import_dialog() -> Any:
    from aqt.import_export.import_dialog import ImportDialog

    for widget in QApplication.topLevelWidgets():
        if isinstance(widget, ImportDialog) and widget.isVisible() and widget.web is not None:
            return widget
    return None


def click_import(paths: list[str], before: int) -> None:
    dialog = import_dialog()
    if dialog is None:
        later(100, lambda: click_import(paths, before))
        return
    # The import page's own "Import" button, with the options as the page sets them.
    js = r"""(() => {
      const b = [...document.querySelectorAll("button")].find(b => b.innerText.trim() === "Import");
      const options = [...document.querySelectorAll("button.active")].map(b => b.innerText.trim());
      if (!b) return null;
      b.click();
      return JSON.stringify(options);
    })()"""

    def clicked(raw: str | None) -> None:
        if raw is None:
            later(100, lambda: click_import(paths, before))
            return
        RESULT["imports"].append({"package": paths[0], "options_on": json.loads(raw)})
        later(200, lambda: wait_imported(paths, dialog))

    dialog.web.page().runJavaScript(js, clicked)


def wait_imported(paths: list[str], dialog: Any) -> None:
    js = "document.body.innerText"

    def got(text: str | None) -> None:
        # The page lists the notes it imported once it is done.
        if text and ("notes" in text.lower() or "note" in text.lower()) and mw.col.note_count() > 0:
            RESULT["imports"][-1]["log"] = text[:2000]
            RESULT["imports"][-1]["shot"] = screenshot_widget(dialog, f"import-{len(RESULT['imports'])}")
            later(500, lambda: close_import(dialog, paths))
        else:
            later(150, lambda: wait_imported(paths, dialog))

    if dialog.web is None:
        later(200, lambda: import_next(paths[1:]))
        return
    dialog.web.page().runJavaScript(js, got)


def close_import(dialog: Any, paths: list[str]) -> None:
    dialog.reject()
    later(300, lambda: import_next(paths[1:]))


def screenshot_widget(widget: Any, name: str) -> str:
    path = OUT / f"{name}.png"
    widget.grab().save(str(path))
    return path.name


def study_next(decks: list[str]) -> None:
    if not decks:
        finish()
        return
    name = decks[0]
    did = mw.col.decks.id_for_name(name)
    if not did:
        RESULT["errors"].append(f"no deck named {name!r} after the import")
        finish()
        return
    entry: dict[str, Any] = {"name": name, "cards": collection_cards(did), "studied": []}
    RESULT["decks"].append(entry)
    mw.col.decks.select(did)
    mw.moveToState("overview")

    def shown(data: dict[str, Any]) -> None:
        entry["overview"] = data
        entry["overview"]["shot"] = screenshot(f"{slug(name)}-overview")
        mw.moveToState("review")
        later(500, lambda: study_card(entry, decks))

    poll(OVERVIEW_JS, shown)


def collection_cards(did: int) -> list[dict[str, Any]]:
    """Every card under the deck, with the subdeck Anki filed it in."""
    cards = []
    dids = ",".join(str(d) for d in mw.col.decks.deck_and_child_ids(did))
    for cid in mw.col.find_cards(f"did:{dids}"):
        card = mw.col.get_card(cid)
        note = card.note()
        cards.append({"cid": cid, "id": note["ID"], "ord": card.ord, "deck": mw.col.decks.name(card.did)})
    return cards


def slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")


def study_card(entry: dict[str, Any], decks: list[str]) -> None:
    reviewer = mw.reviewer
    if mw.state != "review" or reviewer.card is None:
        later(100, lambda: after_session(decks))
        return
    card = reviewer.card
    note = card.note()
    seen: dict[str, Any] = {"cid": card.id, "id": note["ID"], "ord": card.ord, "type": card.type}
    entry["studied"].append(seen)
    base = f"{slug(entry['name'])}-{len(entry['studied']):02d}-{note['ID']}-{card.ord + 1}"
    typed = JOB.get("typed", {}).get(note["ID"])

    def question(data: dict[str, Any]) -> None:
        seen["question"] = data
        data["shot"] = screenshot(f"{base}-q")
        if typed is not None:
            seen["typed"] = typed
            mw.web.page().runJavaScript(
                f"document.getElementById('typeans').value = {json.dumps(typed)};",
                lambda _: reviewer._getTypedAnswer(),  # what pressing Enter does
            )
        else:
            reviewer._showAnswer()
        later(100, lambda: poll(PROBE_JS, answer))

    def answer(data: dict[str, Any]) -> None:
        if reviewer.state != "answer":
            later(100, lambda: poll(PROBE_JS, answer))
            return
        seen["answer"] = data
        data["shot"] = screenshot(f"{base}-a")
        # Easy: the card leaves today's queue, so the session shows each new card once.
        reviewer._answerCard(4)
        later(100, lambda: next_card(entry, decks, card.id))

    poll(PROBE_JS, question)


def next_card(entry: dict[str, Any], decks: list[str], answered: int) -> None:
    """Wait until the reviewer has moved on from the card just answered."""
    reviewer = mw.reviewer
    if mw.state == "review" and reviewer.card is not None and reviewer.card.id == answered:
        later(100, lambda: next_card(entry, decks, answered))
    else:
        study_card(entry, decks)


def after_session(decks: list[str]) -> None:
    """Wait for the congratulations page: leaving it while it loads makes Anki show an error."""

    def got(text: str | None) -> None:
        if text and "Congratulations" in text:
            later(500, lambda: study_next(decks[1:]))
        else:
            later(100, lambda: after_session(decks))

    mw.web.page().runJavaScript("document.readyState === 'complete' && document.body.innerText", got)


def finish() -> None:
    if RESULT.get("finished"):
        return
    RESULT["finished"] = True
    (OUT / "result.json").write_text(json.dumps(RESULT, indent=1), "utf-8")
    QTimer.singleShot(0, mw.unloadProfileAndExit)


gui_hooks.profile_did_open.append(lambda: later(300, start))
