"""The caches between builds are trusted only with what a build itself would make.
Each test here failed before its fix.

What a warm build makes must be what `build-deck --no-cache` makes of the same project: the same
package, release notes and problems. An entry of the render cache that a build would never have
written (the check a store computes is easy to compute: only the content tells) must be ignored,
never trusted and never a traceback.
"""

from __future__ import annotations

import hashlib
import io
import json
import sqlite3
import sys
import zipfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from deckbuilder import rendercache, yamlsource
from deckbuilder.cli import main
from deckbuilder.load import load_card_file
from deckbuilder.render import markdown_settings
from deckbuilder.rendercache import RenderCache, encode_loaded, fingerprint

from .conftest import import_package, new_collection

EPOCH = "1790000000"
DECK = "name: D\nidentity: d-review\n"
CARD = "cards:\n  - id: a\n    front: 'What is *x*?'\n    back: 'the **y** thing'\n"


@pytest.fixture(autouse=True)
def fixed_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Drafts take the build's time: fixed, so that two builds can be compared byte for byte."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)


def cli(*args: str | Path) -> Result:
    """The real command; a traceback is kept in the result (and fails the comparison)."""
    return CliRunner().invoke(main, [str(a) for a in args])


def outcome(root: Path, out: Path, *options: str) -> tuple[object, ...]:
    """Everything a build gives: exit status, problems as JSON lines, traceback, every file written."""
    result = cli("--project", root, "--out", out, "--format", "json", *options)
    error = None if result.exception is None or isinstance(result.exception, SystemExit) else result.exception
    files = {p.name: p.read_bytes() for p in sorted(out.glob("*"))} if out.is_dir() else {}
    return result.exit_code, result.stdout, repr(error), files


def store(cache_folder: Path, kind: str, text: str, value: str) -> None:
    """An entry written through the store's own API, under the key a build looks up."""
    cache = RenderCache(cache_folder, fingerprint(markdown_settings()))
    cache.store({text: value}, kind)
    cache.save()


def rewrite(cache_folder: Path, matches: Callable[[str], bool], value: str | Callable[[str], str]) -> int:
    """Every entry whose value matches, given `value` (or `value` of it) under its own key with a
    consistent check (what `RenderCache.store` would write there). Returns how many."""
    with sqlite3.connect(cache_folder / "render.sqlite") as db:
        rows = [(key, html) for key, html in db.execute("SELECT key, html FROM entries") if matches(html)]
        for key, html in rows:
            new = value(html) if callable(value) else value
            db.execute(
                "UPDATE entries SET html = ?, check_ = ? WHERE key = ?",
                (new, rendercache._check(key, new), key),
            )
    return len(rows)


def card_rows(apkg: Path, tmp: Path) -> list[tuple[object, ...]]:
    db_path = tmp / "inspect.anki2"
    db_path.write_bytes(zipfile.ZipFile(io.BytesIO(apkg.read_bytes())).read("collection.anki2"))
    with sqlite3.connect(db_path) as db:
        query = "SELECT n.flds, c.ord FROM cards c JOIN notes n ON n.id = c.nid ORDER BY 1, 2"
        return db.execute(query).fetchall()


def project(make_project: Callable[..., Path], cards: str = CARD, deck: str = DECK) -> Path:
    return make_project({"decks/d.yaml": deck, "cards/c.yaml": cards})


# 1. Deeply nested JSON in an entry: json.loads raises RecursionError, which no decoder catches.

DEEP = "[" * 100_000 + "]" * 100_000


def _is_card_file_entry(value: str) -> bool:
    return value.startswith('[[1, ["a"], ["basic"]')  # rendercache.encode_loaded's columns


def _is_card_entry(value: str) -> bool:
    return value.startswith('[["') and '"What is <em>x</em>?"' in value  # cardcache.CardCache.keep


def _is_note_checks_entry(value: str) -> bool:
    return value.endswith("], [[0]], [0]]")  # build._CheckedNotes.store: keys, cards, rows


def _is_lint_entry(value: str) -> bool:
    return (
        value.startswith('[["') and '], ["what is x"], {' in value
    )  # lint._CachedRules: digests, questions, warnings


@pytest.mark.parametrize(
    "which",
    [
        pytest.param(_is_card_file_entry, id="card-file"),
        pytest.param(_is_card_entry, id="card"),
        pytest.param(_is_note_checks_entry, id="note-checks"),
        pytest.param(_is_lint_entry, id="lint"),
    ],
)
def test_a_deeply_nested_entry_is_ignored_not_a_traceback(
    make_project: Callable[..., Path], render_cache_dir: Path, tmp_path: Path, which: Callable[[str], bool]
) -> None:
    root = project(make_project)
    assert outcome(root, tmp_path / "cold", "--lint")[0] == 0
    assert rewrite(render_cache_dir, which, DEEP) >= 1
    warm = outcome(root, tmp_path / "warm", "--lint")
    assert warm == outcome(root, tmp_path / "fresh", "--lint", "--no-cache")


# 2. A card file's entry is decoded by the field types only: a card the loader never makes is trusted.


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"type": "bogus"}, id="unknown-type"),  # KeyError: a traceback
        pytest.param({"id": "Not An Id"}, id="invalid-id"),  # shipped as the note's ID field
        pytest.param({"tags": ("two words",)}, id="invalid-tag"),  # two tags in Anki
    ],
)
def test_a_card_file_entry_the_loader_never_writes_is_not_trusted(
    make_project: Callable[..., Path], render_cache_dir: Path, tmp_path: Path, change: dict[str, object]
) -> None:
    root = project(make_project)
    path = root / "cards" / "c.yaml"
    raw = path.read_bytes()
    cards = load_card_file(path, "cards/c.yaml", [])
    key = f"cards/c.yaml\0{hashlib.sha256(raw).hexdigest()}"  # load._cache_key
    store(render_cache_dir, "card-file", key, encode_loaded(tuple(replace(c, **change) for c in cards), []))
    warm = outcome(root, tmp_path / "warm")
    assert warm == outcome(root, tmp_path / "fresh", "--no-cache")


# 3. Genanki's cards of a note that passed its check: any non-empty list of ints is trusted.


@pytest.mark.parametrize("forged", [[[5]], [[-1]], [[0, 0]]], ids=["ord-5", "ord-minus-1", "ord-0-twice"])
def test_note_check_cards_a_note_type_cannot_have_are_not_trusted(
    make_project: Callable[..., Path], render_cache_dir: Path, tmp_path: Path, forged: list[list[int]]
) -> None:
    root = project(make_project)
    assert outcome(root, tmp_path / "cold")[0] == 0

    def with_cards(value: str) -> str:  # the note's key and row as they are, its cards forged
        stamp, keys, _, rows = json.loads(value)
        return json.dumps([stamp, keys, forged, rows])

    assert rewrite(render_cache_dir, _is_note_checks_entry, with_cards) == 1
    warm = outcome(root, tmp_path / "warm")
    fresh = outcome(root, tmp_path / "fresh", "--no-cache")
    assert card_rows(tmp_path / "warm" / "d.apkg", tmp_path) == card_rows(
        tmp_path / "fresh" / "d.apkg", tmp_path
    )
    assert warm == fresh
    # What a member's Anki makes of it: the one card of a basic note, which it can show.
    col = new_collection(tmp_path / "anki" / "collection.anki2")
    try:
        import_package(col, tmp_path / "warm" / "d.apkg")
        (card_id,) = col.find_cards("")
        assert col.get_card(card_id).ord == 0
        assert "What is" in col.get_card(card_id).question()
    finally:
        col.close()


# 4. The stdlib html.parser decides what the script and tag checks find (and, through
# Python-Markdown's copy of it, raw HTML), and its comment parsing changed in CPython 3.11.14
# (gh-102555, python/cpython#135664: "-- >" no longer ends a comment, "--!>" does): findings
# made under one Python are not another's. The store is shared by every Python of a user.


def test_findings_made_under_another_python_are_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = markdown_settings()
    here = fingerprint(settings)
    monkeypatch.setattr(sys, "version", "3.11.14 (main, Oct  9 2025) [GCC 12.2.0]")
    assert fingerprint(settings) != here


# 5. A store another build holds locked past the 5 s timeout: `database is locked` is an
# OperationalError, a DatabaseError, taken for "not a database at all" and the file deleted.


def test_a_store_busy_in_another_build_is_not_deleted(
    render_cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = fingerprint(markdown_settings())
    first = RenderCache(render_cache_dir, settings)
    first.store({"**kept**": "<strong>kept</strong>"})
    first.save()
    other = sqlite3.connect(render_cache_dir / "render.sqlite", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")  # another build writing (here for longer than the wait)
    real_connect = sqlite3.connect
    try:
        with monkeypatch.context() as shorter:  # the same wait, a fraction of its 5 seconds
            shorter.setattr(sqlite3, "connect", lambda path, timeout=5: real_connect(path, timeout=0.2))
            RenderCache(render_cache_dir, settings).close()  # must build without the cache, not wipe it
    finally:
        other.execute("ROLLBACK")
        other.close()
    kept = RenderCache(render_cache_dir, settings).lookup(["**kept**"])
    assert kept == {"**kept**": "<strong>kept</strong>"}


# 6. The key leaves out whether PyYAML has libyaml (the same PyYAML version may be built either
# way), yet yamlsource parses with CSafeLoader when it can, and its messages are libyaml's
# ("mapping values are not allowed in this context"; PyYAML's own: "… allowed here"): a card
# file's kept problems replay another build's parser.


def test_problems_a_parser_without_libyaml_found_are_not_replayed(
    make_project: Callable[..., Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    root = project(make_project, "cards:\n  - id: a\n    front: What is it: this?\n    back: A\n")
    with monkeypatch.context() as pure:
        pure.setattr(yaml, "__with_libyaml__", False)
        pure.setattr(yamlsource, "Loader", yaml.SafeLoader)
        assert "allowed here" in str(outcome(root, tmp_path / "pure", "--check")[1])
    fresh = outcome(root, tmp_path / "fresh", "--check", "--no-cache")
    assert "allowed in this context" in str(fresh[1])
    assert outcome(root, tmp_path / "warm", "--check") == fresh


# 7. The key names Pygments' version, but Pygments also finds lexers in other installed packages
# (the `pygments.lexers` entry points): installing one changes the HTML of a fenced block in its
# language, and a warm build keeps the plain one.

PLUGIN = """from pygments.lexer import RegexLexer
from pygments.token import Keyword, Text


class ReviewLexer(RegexLexer):
    name = "Review"
    aliases = ["reviewlang"]
    tokens = {"root": [(r"\\w+", Keyword), (r"\\s+", Text)]}
"""


def test_a_pygments_lexer_installed_since_is_not_ignored(
    make_project: Callable[..., Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from pygments import plugin

    block = "      ```reviewlang\n      hello world\n      ```\n"
    cards = f"cards:\n  - id: a\n    front: What prints?\n    back: |\n{block}"
    root = project(make_project, cards)
    assert outcome(root, tmp_path / "before")[0] == 0
    site = tmp_path / "site"
    (site / "reviewlexer-1.0.dist-info").mkdir(parents=True)
    (site / "reviewlexer-1.0.dist-info" / "METADATA").write_text("Name: reviewlexer\nVersion: 1.0\n")
    (site / "reviewlexer-1.0.dist-info" / "entry_points.txt").write_text(
        "[pygments.lexers]\nreviewlang = reviewlexer:ReviewLexer\n"
    )
    (site / "reviewlexer.py").write_text(PLUGIN)
    try:
        with monkeypatch.context() as installed:
            installed.syspath_prepend(str(site))  # `pip install reviewlexer`
            plugin.iter_entry_points.cache_clear()
            fresh = outcome(root, tmp_path / "fresh", "--no-cache")
            assert '<span class="k">hello</span>' in str(card_rows(tmp_path / "fresh" / "d.apkg", tmp_path))
            assert outcome(root, tmp_path / "warm") == fresh
    finally:
        plugin.iter_entry_points.cache_clear()


# 8. Not a cache defect, found on the way (the script check whose findings the card cache keeps):
# in HTML5 (Chromium, Anki's webview) "<!-->" is a whole, empty comment and "<![CDATA[" outside
# SVG/MathML a bogus comment that ends at the first ">"; Python 3.11.7's html.parser reads both
# on to "-->" / "]]>", so the handler between is never seen and the card ships with it.


@pytest.mark.parametrize(
    "front",
    [
        pytest.param('<!--><b onclick="alert(1)">What is x?</b> -->', id="abrupt-comment"),
        pytest.param('<![CDATA[><b onclick="alert(1)">What is x?</b>]]>', id="cdata-in-html"),
    ],
)
def test_script_after_a_comment_html5_has_closed_is_an_error(
    make_project: Callable[..., Path], tmp_path: Path, front: str
) -> None:
    root = project(make_project, f"cards:\n  - id: a\n    front: '{front}'\n    back: A\n")
    fresh = outcome(root, tmp_path / "fresh", "--no-cache")
    assert fresh[0] == 1 and '"code": "script"' in str(fresh[1]), "shipped with an onclick handler"
