"""The preview's card sides kept between builds (previewcache.py).

A warm preview writes the very page a cold one and an uncached one write. Each input of a
note's sides invalidates exactly that note's entry: to see which entries a build took, a test
plants a marked entry for a note and edits the project; the marker shows on the page as long
as the entry is used. A damaged or foreign entry is never used.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from deckbuilder import previewcache
from deckbuilder.build import build
from deckbuilder.package import NoteRecord
from deckbuilder.previewcache import PreviewSides
from deckbuilder.render import markdown_settings
from deckbuilder.rendercache import RenderCache, cache_dir, fingerprint


def page(root: Path, out: str, **options: Any) -> bytes:
    build(root, root / out, preview=True, **options)
    return (root / out / "sample.html").read_bytes()


def page_cards(html: bytes) -> list[dict[str, Any]]:
    match = re.search(rb'<script type="application/json" id="deck-data">(.*?)</script>', html, re.S)
    assert match is not None
    cards: list[dict[str, Any]] = json.loads(match.group(1))["cards"]
    return cards


def notes(root: Path) -> dict[str, NoteRecord]:
    """The sample's notes by card id, as the preview gets them."""
    (plan,) = build(root, check=True).decks
    return {note.fields[-1]: note for note in plan.content.notes}


def plant(note: NoteRecord, marker: str) -> None:
    """Keep, for `note`'s current inputs, one card whose question is `marker`."""
    sides = PreviewSides(RenderCache(cache_dir(), fingerprint(markdown_settings())))
    sides.keep(note, [(0, False, json.dumps(marker), '"answer"')])
    sides.save()


def questions(root: Path, out: str) -> list[str]:
    return [card["q"] for card in page_cards(page(root, out))]


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_a_warm_preview_is_the_page_a_cold_and_an_uncached_one_write(sample: Path) -> None:
    cold = page(sample, "cold")
    warm = page(sample, "warm")
    assert warm == cold == page(sample, "uncached", cache=False)
    assert len(page_cards(warm)) >= 8  # every kind of card of the sample: basic, reversed, cloze…


def test_a_kept_note_is_taken_from_the_cache(sample: Path) -> None:
    page(sample, "first")
    plant(notes(sample)["capital-of-france"], "KEPT")
    assert "KEPT" in questions(sample, "second")
    assert "KEPT" not in [card["q"] for card in page_cards(page(sample, "uncached", cache=False))]


# What is edited, and whether another basic note's entry (code-sample's) stays valid.
EDITS = {
    "its text": ("cards/basics.yaml", "capital of **France**?", "capital of **Gaul**?", True),
    "its extra": ("cards/basics.yaml", "since 987.", "since 508.", True),
    "its tags": ("cards/basics.yaml", "    back: Paris\n", "    back: Paris\n    tags: [cities]\n", True),
    "its subdeck": ("cards/basics.yaml", "    back: Paris\n", "    back: Paris\n    deck: Europe\n", True),
    "its card file's tags": ("cards/basics.yaml", "tags: [sample]", "tags: [sample, geo]", False),
    "its note type's template": ("templates/basic.front.html", "question overridden", "question new", False),
}


@pytest.mark.parametrize("change", EDITS)
def test_each_input_of_a_notes_sides_invalidates_it(sample: Path, change: str) -> None:
    page(sample, "first")
    kept = notes(sample)
    plant(kept["capital-of-france"], "KEPT-FRANCE")
    plant(kept["code-sample"], "KEPT-CODE")
    assert {"KEPT-FRANCE", "KEPT-CODE"} <= set(questions(sample, "planted"))
    rel, old, new, other_stays = EDITS[change]
    edit(sample / rel, old, new)
    shown = questions(sample, "second")
    assert "KEPT-FRANCE" not in shown
    assert ("KEPT-CODE" in shown) == other_stays


def test_a_new_latex2mathml_or_jinja_invalidates_every_entry(
    sample: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    page(sample, "first")
    plant(notes(sample)["capital-of-france"], "KEPT")
    monkeypatch.setattr(previewcache, "_versions", lambda: "latex2mathml=99;jinja2=99;markupsafe=99")
    assert "KEPT" not in questions(sample, "second")


def test_a_drafts_new_time_does_not_invalidate(sample: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    page(sample, "first")
    plant(notes(sample)["capital-of-france"], "KEPT")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1710000000")
    assert "KEPT" in questions(sample, "second")


BAD_SIDES = {
    "not JSON": (0, False, "KEPT", '"a"'),
    "a raw <": (0, False, '"<b>KEPT</b>"', '"a"'),
    "an unescaped quote": (0, False, '"KEPT" "', '"a"'),
    "an ordinal past the templates": (7, False, '"KEPT"', '"a"'),
    "a separator inside": (0, False, '"KEPT\x00"', '"a"'),
}


@pytest.mark.parametrize("bad", BAD_SIDES)
def test_a_damaged_entry_is_ignored(sample: Path, bad: str) -> None:
    page(sample, "first")
    sides = PreviewSides(RenderCache(cache_dir(), fingerprint(markdown_settings())))
    sides.keep(notes(sample)["capital-of-france"], [BAD_SIDES[bad]])
    sides.save()
    assert page(sample, "second") == page(sample, "uncached", cache=False)


def test_a_foreign_store_is_ignored(sample: Path) -> None:
    expected = page(sample, "uncached", cache=False)
    page(sample, "first")
    (cache_dir() / "render.sqlite").write_bytes(b"not a database at all" * 100)
    assert page(sample, "second") == expected
    assert page(sample, "third") == expected
