"""Big outputs are written in pieces, never held whole in memory: the same bytes as whole."""

from __future__ import annotations

import contextlib
import io
import sqlite3
import tracemalloc
import zipfile
from pathlib import Path
from typing import BinaryIO

import pytest

from deckbuilder import package, preview
from deckbuilder.build import build
from deckbuilder.output import write_all
from deckbuilder.preview import preview_cards
from deckbuilder.rendercache import RenderCache


def test_the_collection_is_the_database_made_in_memory(sample: Path, tmp_path: Path) -> None:
    """The package's collection is written to a scratch file, then zipped a piece at a time:
    its bytes are those of the same database made in memory (as builds made it before)."""
    if not hasattr(sqlite3.Connection, "serialize"):
        pytest.skip("Python 3.10 cannot serialize a database made in memory")
    (plan,) = build(sample, tmp_path / "out").decks
    with contextlib.closing(sqlite3.connect(":memory:")) as conn:
        package._write_collection(conn, plan.content)
        in_memory = conn.serialize()
    written = (tmp_path / "out" / plan.spec.output).read_bytes()
    assert package.package_bytes(plan.content) == written
    with zipfile.ZipFile(io.BytesIO(written)) as zf:
        assert zf.read("collection.anki2") == in_memory
        names = sorted(plan.content.media)
        assert names  # the sample deck has images: they are streamed too
        for i, name in enumerate(names):
            assert zf.read(str(i)) == plan.content.media[name].read_bytes()


def test_a_writer_that_fails_leaves_the_old_files(tmp_path: Path) -> None:
    old = tmp_path / "deck.apkg"
    old.write_bytes(b"old")

    def half_then_fail(f: BinaryIO) -> None:
        f.write(b"half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left") as caught:
        write_all({tmp_path / "notes.md": b"new", old: half_then_fail})
    assert caught.value.filename == str(old)
    assert old.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deck.apkg"]  # nothing staged is left


TRICKY = """cards:
  - id: tricky-text
    front: "Is `a < b && c > d` true? 'Quoted', </script>, naïve café, ∑, 😀"
    back: "<b>Yes</b> &amp; no"
    extra: "$x^2$ and code: `\\\\(not math\\\\)`"
"""


def test_the_page_data_is_what_tojson_makes_of_the_whole(sample: Path, tmp_path: Path) -> None:
    """The page's JSON is written a card at a time: it is the text Jinja's `tojson` gives of
    the whole (sorted keys, HTML-safe escapes, ASCII), down to the byte."""
    (sample / "cards" / "extra" / "tricky.yaml").write_text(TRICKY, encoding="utf-8")
    result = build(sample, tmp_path / "out", preview=True)
    (plan,) = result.decks
    page = (tmp_path / "out" / "sample.html").read_bytes()
    assert preview.page_bytes(plan, result.warnings) == page
    env = preview._environment()
    whole = {
        "noteTypes": [{"name": nt.name, "css": nt.css} for nt in plan.note_types],
        "media": {name: preview._data_uri(path) for name, path in sorted(plan.content.media.items())},
        "cards": [
            {"q": c.question, "a": c.answer, "nt": c.note_type, "ord": c.ord} for c in preview_cards(plan)
        ],
        "description": plan.content.description,
    }
    tojson = str(env.from_string("{{ data|tojson }}").render(data=whole)).encode("ascii")
    opening = b'<script type="application/json" id="deck-data">'
    start = page.index(opening) + len(opening)
    assert page[start : page.index(b"</script>", start)] == tojson
    assert len(whole["cards"]) > 11 and whole["media"]  # the tricky card and images are in it
    assert b"\\u003c/script\\u003e, na\\u00efve" in tojson  # what could end the script is escaped


def test_the_page_is_never_held_whole(sample: Path, tmp_path: Path) -> None:
    """What writing the preview needs in memory grows by a small part of what the page grows
    by (the tiles' few fields of each card, not its sides, nor the page)."""
    peaks, sizes = [], []
    for n in (500, 2500):
        cards = "".join(
            f"  - id: card-{i}\n    front: What is **{i}** squared, with `code {i}`?\n    back: '{i * i}'\n"
            for i in range(n)
        )
        (sample / "cards" / "extra" / "many.yaml").write_text(f"cards:\n{cards}", encoding="utf-8")
        (plan,) = build(sample, tmp_path / "out").decks
        target = tmp_path / f"page-{n}.html"
        tracemalloc.start()
        try:
            with target.open("wb") as f:
                preview.write_page(plan, [], f)
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
        sizes.append(target.stat().st_size)
    assert sizes[1] - sizes[0] > 1_500_000
    assert peaks[1] - peaks[0] < (sizes[1] - sizes[0]) / 4, (peaks, sizes)


def _mixed_project(root: Path, n: int) -> Path:
    """n cards as bench/benchmark.py makes them: a quarter with code, a quarter cloze, math."""
    (root / "decks").mkdir(parents=True)
    (root / "decks" / "mixed.yaml").write_text("name: Mixed\nidentity: mixed\n")
    (root / "cards").mkdir()
    for part in range(0, n, 500):
        lines = [f"deck: Part {part // 500}", "tags: [mixed]", "cards:"]
        for i in range(part, min(n, part + 500)):
            if i % 4 == 0:
                lines += [f"  - id: c-{i}", "    front: |", f"      Snippet {i}?", "", "      ```python"]
                lines += [f"      print({i})", "      ```", f"    back: '`{i}`'"]
            elif i % 4 == 1:
                lines += [
                    f"  - id: c-{i}",
                    "    type: cloze",
                    f"    text: 'Step {i}: {{{{c1::a}}}}, {{{{c2::b}}}}.'",
                ]
            else:
                lines += [f"  - id: c-{i}", f"    front: What is $x_{{{i}}}^2$ when **x** is {i}?"]
                lines += [
                    f"    back: '{i * i}'",
                    f"    extra: {i} squared.",
                    "    source: https://example.org/sq",
                ]
        (root / "cards" / f"part-{part // 500}.yaml").write_text("\n".join(lines) + "\n")
    return root


def test_a_cold_build_needs_a_few_kib_per_card(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The memory budget: 10,000 cards in 90 MiB (35 of them imports), so about 5 KiB a card of
    resident memory; Python objects take 3.8 KiB of that today (5.3 before stages let go of
    their copies). Measured as the growth of the build's traced peak from 300 to 1,300 cards."""
    tiny = _mixed_project(tmp_path / "tiny", 8)
    build(tiny, tiny / "dist", workers=1)  # imports and first-use caches: not the cards' memory
    peaks = []
    for n in (300, 1300):
        monkeypatch.setenv("DECKBUILDER_CACHE_DIR", str(tmp_path / f"cache-{n}"))  # cold: a cache of its own
        root = _mixed_project(tmp_path / f"p{n}", n)
        tracemalloc.start()
        try:
            build(root, root / "dist", workers=1)
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
    per_card = (peaks[1] - peaks[0]) / 1000
    assert per_card < 4.5 * 1024, per_card


def test_flushed_entries_are_written_before_the_build_ends(tmp_path: Path) -> None:
    """A build writes its new conversions once its cards are rendered, instead of holding them
    (a copy of the deck's HTML) until it saves; a later build finds them either way."""
    first = RenderCache(tmp_path, b"fingerprint")
    first.store({"**a**": "<strong>a</strong>"})
    first.flush()
    assert RenderCache(tmp_path, b"fingerprint").lookup(["**a**"]) == {"**a**": "<strong>a</strong>"}
    first.store({"*b*": "<em>b</em>"})
    first.save()
    later = RenderCache(tmp_path, b"fingerprint")
    assert later.lookup(["**a**", "*b*"]) == {"**a**": "<strong>a</strong>", "*b*": "<em>b</em>"}


def test_a_big_build_writes_its_entries_in_batches(tmp_path: Path) -> None:
    from deckbuilder import rendercache

    cache = RenderCache(tmp_path, b"fingerprint")
    texts = {f"*{i}*": f"<em>{i}</em>" for i in range(rendercache._FLUSH_AT)}
    cache.store(texts)
    assert cache._new == {}  # written, not held
    assert RenderCache(tmp_path, b"fingerprint").lookup(texts) == texts
    cache.save()
