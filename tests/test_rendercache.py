"""The render cache and the worker processes change nothing in the package, only its speed."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from deckbuilder import build, render, rendercache
from deckbuilder import lint as lint_module
from deckbuilder.cardcache import CardCache, FieldChecks
from deckbuilder.model import Card, Location
from deckbuilder.package import package_bytes
from deckbuilder.packagecache import inputs_digest
from deckbuilder.render import TEXT_FIELDS, RenderedCard
from deckbuilder.rendercache import RenderCache, fingerprint

from .conftest import collection_rows, run

EPOCH = "1790000000"


def package(root: Path, out: Path, *options: str) -> bytes:
    result = run("--project", root, "--out", out, *options)
    assert result.exit_code == 0, result.output
    return (out / "sample.apkg").read_bytes()


@pytest.fixture
def released(sample: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The sample with its first release made, times fixed, so every later build is comparable."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    package(sample, sample / "dist", "--no-cache")
    return sample


def note_text(apkg: bytes, tmp_path: Path) -> str:
    """Every field of every note in a package (the zip is compressed: look inside)."""
    import io
    import zipfile

    db_path = tmp_path / "inspect.anki2"
    db_path.write_bytes(zipfile.ZipFile(io.BytesIO(apkg)).read("collection.anki2"))
    with sqlite3.connect(db_path) as db:
        return "\n".join(row[0] for row in db.execute("SELECT flds FROM notes"))


def entries(cache_folder: Path) -> dict[bytes, str]:
    with sqlite3.connect(cache_folder / "render.sqlite") as db:
        return dict(db.execute("SELECT key, html FROM entries"))


def test_cached_builds_are_the_same_bytes(released: Path, tmp_path: Path, render_cache_dir: Path) -> None:
    fresh = package(released, tmp_path / "fresh", "--no-cache")
    assert not (render_cache_dir / "render.sqlite").exists()  # --no-cache neither reads nor writes
    cold = package(released, tmp_path / "cold")
    stored = entries(render_cache_dir)
    assert stored  # the fenced code, the table, the math…
    warm = package(released, tmp_path / "warm")
    assert fresh == cold == warm
    assert entries(render_cache_dir) == stored


def card_entries(cache_folder: Path) -> dict[bytes, list[object]]:
    """The card cache's entries (cardcache.py), one per card file: JSON lists of each card's
    digest, each kept card's fields' HTML, their lock digests, their findings, the digest of
    the card file's bytes and the lock digests of the cards' ids."""
    found = {}
    for key, value in entries(cache_folder).items():
        with contextlib.suppress(ValueError):
            decoded = json.loads(value)
            if isinstance(decoded, list) and len(decoded) == 6 and isinstance(decoded[3], dict):
                found[key] = decoded
    return found


def forge(cache_folder: Path, key: bytes, value: str) -> None:
    """Replace an entry by one whose check matches: only its content can tell it is not ours."""
    with sqlite3.connect(cache_folder / "render.sqlite") as db:
        db.execute(
            "UPDATE entries SET html = ?, check_ = ? WHERE key = ?",
            (value, rendercache._check(key, value), key),
        )


def test_a_hit_is_used_and_a_damaged_entry_is_not(
    released: Path, tmp_path: Path, render_cache_dir: Path
) -> None:
    package(released, tmp_path / "cold")
    card_key, card = next(
        (k, c) for k, c in card_entries(render_cache_dir).items() if 'class="highlight"' in str(c[1])
    )
    digests, htmls, lock, found, stamp, ids = card
    assert isinstance(htmls, list)
    forged_htmls = [h.replace('class="highlight"', 'class="highlight from-the-card-cache"') for h in htmls]
    # A consistent entry is what the cache serves: proof the card entry is read.
    forge(render_cache_dir, card_key, json.dumps([digests, forged_htmls, lock, found, stamp, ids]))
    assert "from-the-card-cache" in note_text(package(released, tmp_path / "card-hit"), tmp_path)
    with sqlite3.connect(render_cache_dir / "render.sqlite") as db:
        db.execute("DELETE FROM entries WHERE key = ?", (card_key,))
    # Without the card's entry, its texts' conversions are what the cache serves.
    key, html = next(
        (k, h)
        for k, h in entries(render_cache_dir).items()
        if h.startswith("<p>") and 'class="highlight"' in h
    )
    forged = html.replace('class="highlight"', 'class="highlight from-the-cache"')
    forge(render_cache_dir, key, forged)
    with sqlite3.connect(render_cache_dir / "render.sqlite") as db:
        for other in card_entries(render_cache_dir):
            db.execute("DELETE FROM entries WHERE key = ?", (other,))
    assert "from-the-cache" in note_text(package(released, tmp_path / "hit"), tmp_path)
    with sqlite3.connect(render_cache_dir / "render.sqlite") as db:
        # The same text with a check that does not match: damaged, so converted afresh.
        db.execute("UPDATE entries SET check_ = ? WHERE key = ?", (b"12345678", key))
        for other in card_entries(render_cache_dir):  # (the last build kept the forged HTML)
            db.execute("DELETE FROM entries WHERE key = ?", (other,))
    rebuilt = package(released, tmp_path / "damaged")
    assert "from-the-cache" not in note_text(rebuilt, tmp_path)
    assert rebuilt == package(released, tmp_path / "fresh", "--no-cache")


def test_an_edited_card_is_converted_again(released: Path, tmp_path: Path) -> None:
    package(released, tmp_path / "cold")
    card_file = released / "cards" / "basics.yaml"
    text = card_file.read_text(encoding="utf-8")
    assert "range(3)" in text
    card_file.write_text(text.replace("range(3)", "range(4)"), encoding="utf-8")
    warm = package(released, tmp_path / "warm")
    assert '<span class="mi">4</span>' in note_text(warm, tmp_path)
    assert warm == package(released, tmp_path / "fresh", "--no-cache")


def test_a_changed_image_is_packed_anew(released: Path, tmp_path: Path) -> None:
    package(released, tmp_path / "cold")
    image = released / "images" / "diagram.png"
    image.write_bytes(image.read_bytes() + b"\0")  # still a PNG, other bytes
    assert package(released, tmp_path / "warm") == package(released, tmp_path / "fresh", "--no-cache")


@pytest.mark.parametrize(
    "damage", [b"", b"not a database at all" * 100, b"SQLite format 3\0" + b"\xff" * 4000]
)
def test_a_corrupt_cache_is_ignored_and_replaced(
    released: Path, tmp_path: Path, render_cache_dir: Path, damage: bytes
) -> None:
    package(released, tmp_path / "cold")
    (render_cache_dir / "render.sqlite").write_bytes(damage)
    assert package(released, tmp_path / "warm") == package(released, tmp_path / "fresh", "--no-cache")
    assert entries(render_cache_dir)  # started afresh


def test_the_store_keeps_its_journal_but_does_not_wait_for_the_disk(tmp_path: Path) -> None:
    # A commit does not wait for the disk (a cold build commits six times): a crash of the
    # machine may lose or damage entries, which their checks then refuse (see the tests above);
    # the rollback journal stays, so a build killed while it writes leaves a whole database.
    for _ in range(2):  # made, then opened again
        cache = RenderCache(tmp_path / "cache", b"settings")
        assert cache._db is not None
        assert cache._db.execute("PRAGMA synchronous").fetchone() == (0,)
        assert cache._db.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        cache.store({"*a*": "<p><em>a</em></p>"})
        cache.save()
    assert RenderCache(tmp_path / "cache", b"settings").lookup(["*a*"]) == {"*a*": "<p><em>a</em></p>"}


def test_a_store_made_now_answers_without_keys_until_its_first_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A first build's store is empty: its lookups work out no key. Once it has written an
    # entry, lookups ask it again (and find what was written); a store opened again always asks.
    keyed: list[str] = []
    real = RenderCache.key
    monkeypatch.setattr(
        RenderCache, "key", lambda self, text, kind="html": keyed.append(text) or real(self, text, kind)
    )
    cache = RenderCache(tmp_path / "cache", b"settings")
    assert cache.lookup(["*a*", "*b*"]) == {} and cache.has(["*a*"]) == set()
    assert keyed == []
    cache.store({"*a*": "<p><em>a</em></p>"})
    assert cache.lookup(["*a*"]) == {}  # stored, not written yet: as before
    cache.flush()
    assert cache.lookup(["*a*", "*b*"]) == {"*a*": "<p><em>a</em></p>"}
    assert cache.has(["*a*", "*b*"]) == {"*a*"}
    cache.save()
    keyed.clear()
    again = RenderCache(tmp_path / "cache", b"settings")
    assert again.lookup(["*b*"]) == {} and keyed == ["*b*"]
    again.close()
    for made in (tmp_path / "cache" / "render.sqlite", tmp_path / "other" / "render.sqlite"):
        made.parent.mkdir(exist_ok=True)
        made.write_bytes(b"not a database" * 100)  # started afresh: empty, made now
        keyed.clear()
        fresh = RenderCache(made.parent, b"settings")
        assert fresh.lookup(["*a*"]) == {} and keyed == []
        fresh.close()


def test_a_foreign_database_is_not_trusted(released: Path, tmp_path: Path, render_cache_dir: Path) -> None:
    render_cache_dir.mkdir(exist_ok=True)
    with sqlite3.connect(render_cache_dir / "render.sqlite") as db:
        db.execute("CREATE TABLE entries (key BLOB PRIMARY KEY, html TEXT, check_ BLOB, used INTEGER)")
        db.execute("CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT)")
        db.execute("INSERT INTO meta VALUES ('schema', 'someone-else-1')")
    assert package(released, tmp_path / "warm") == package(released, tmp_path / "fresh", "--no-cache")
    with sqlite3.connect(render_cache_dir / "render.sqlite") as db:
        assert db.execute("SELECT value FROM meta").fetchone() != ("someone-else-1",)


def test_an_unusable_cache_folder_does_not_stop_a_build(
    released: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("DECKBUILDER_CACHE_DIR", str(blocker / "cache"))
    assert package(released, tmp_path / "warm") == package(released, tmp_path / "fresh", "--no-cache")


def test_the_key_changes_with_everything_that_changes_the_html(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = render.markdown_settings()
    base = fingerprint(settings)
    assert fingerprint(settings) == base
    changed_config = dict(render.MARKDOWN_CONFIG, **{"pymdownx.highlight": {"use_pygments": False}})
    monkeypatch.setattr(render, "MARKDOWN_CONFIG", changed_config)
    assert fingerprint(render.markdown_settings()) != base
    monkeypatch.undo()
    monkeypatch.setattr(render, "MARKDOWN_EXTENSIONS", [*render.MARKDOWN_EXTENSIONS, "footnotes"])
    assert fingerprint(render.markdown_settings()) != base
    monkeypatch.undo()
    real_version = rendercache.installed_version
    monkeypatch.setattr(
        rendercache, "installed_version", lambda d, f=None: "9.9" if d == "pygments" else real_version(d, f)
    )
    assert fingerprint(settings) != base
    cache = RenderCache(Path("/nonexistent-and-unwritable") / "x", base)
    other = RenderCache(Path("/nonexistent-and-unwritable") / "x", fingerprint(settings))
    assert cache.key("# A") != cache.key("# B")
    assert cache.key("# A") != other.key("# A")
    assert cache.lookup(["# A"]) == {}  # a store that could not be opened serves nothing


def test_library_versions_are_importlib_metadatas(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess
    import sys
    from importlib import metadata

    for dist in ("markdown", "pymdown-extensions", "pygments", "pyyaml", "genanki", "anki", "pip"):
        assert rendercache.installed_version(dist) == metadata.version(dist), dist
    assert rendercache.installed_version("no-such-library") == "?"
    # Without importing importlib.metadata (a build would pay for email, zipfile, csv…).
    code = (
        "import sys; from deckbuilder import rendercache; rendercache.fingerprint('s');"
        "print('importlib.metadata' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout == "False\n"
    # The first folder on sys.path with the library wins, a wheel's or an egg's; names normalized.
    first, second = tmp_path / "first", tmp_path / "second"
    for folder, names in {
        first: ["My_Lib-2.0.dist-info", "Other.Lib-1.5-py3.11.egg-info", "bare.egg-info"],
        second: ["my.lib-1.0.dist-info", "other_lib-9.dist-info", "late-3.dist-info", "bare-4.dist-info"],
    }.items():
        for name in names:
            (folder / name).mkdir(parents=True)
    monkeypatch.setattr(sys, "path", [str(first), str(tmp_path / "missing"), str(second)])
    assert [rendercache.installed_version(d) for d in ("my-lib", "other-lib", "late")] == ["2.0", "1.5", "3"]
    assert rendercache.installed_version("bare") == "?"  # no version in the name: importlib.metadata's answer


def test_our_own_code_is_part_of_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package_dir = tmp_path / "deckbuilder"
    package_dir.mkdir()
    (package_dir / "rendercache.py").write_text("# one version\n")
    monkeypatch.setattr(rendercache, "__file__", str(package_dir / "rendercache.py"))
    before = fingerprint("same settings")
    (package_dir / "render.py").write_text("# a change to how Markdown is converted\n")
    assert fingerprint("same settings") != before


def test_worker_processes_give_the_same_bytes(
    released: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    one = package(released, tmp_path / "one", "--no-cache")
    calls: list[int] = []
    real = render.convert_chunks

    def spy(texts: list[str], md: object, workers: int) -> Iterator[list[str]]:
        calls.append(workers)
        return real(texts, md, 2)  # type: ignore[arg-type]

    monkeypatch.setattr(render, "POOL_MIN_TEXTS", 2)
    monkeypatch.setattr(render, "convert_chunks", spy)
    two = package(released, tmp_path / "two", "--no-cache")
    assert calls and one == two


def test_html_is_the_same_in_one_process_or_two() -> None:
    texts = [f"```python\nprint({i})\n```\n\n| a | b |\n|---|---|\n| {i} | $x_{i}$ |" for i in range(40)]
    md = render.new_markdown()
    monkey_min = render.POOL_MIN_TEXTS
    try:
        render.POOL_MIN_TEXTS = 2
        assert render.convert_all(texts, md, 2) == render.convert_all(texts, md, 1)
    finally:
        render.POOL_MIN_TEXTS = monkey_min


def test_reused_pygments_gives_the_same_html() -> None:
    import markdown

    texts = [
        "```python\nclass A:\n    def f(self):\n        return {'a': 1}\n```",
        "```sql\nSELECT a FROM t WHERE b > 1;\n```",
        '```python hl_lines="2"\nx = 1\ny = 2\n```',
        "```nosuchlanguage\nplain text\n```",
        "```\nno language\n```",
        "Inline `code` only",
    ]
    # A Markdown of the same settings in a process where the reuse was never switched on.
    import subprocess
    import sys

    script = (
        "import json, sys, markdown\n"
        "from deckbuilder import render\n"
        "md = markdown.Markdown(extensions=render.MARKDOWN_EXTENSIONS, "
        "extension_configs=render.MARKDOWN_CONFIG, output_format='html')\n"
        "print(json.dumps([md.reset().convert(t) for t in json.load(sys.stdin)]))\n"
    )
    import json

    done = subprocess.run(
        [sys.executable, "-c", script], input=json.dumps(texts), capture_output=True, text=True, check=True
    )
    md = render.new_markdown()
    assert isinstance(md, markdown.Markdown)
    assert [md.reset().convert(t) for t in texts] == json.loads(done.stdout)


def test_extensions_found_by_module_are_the_ones_markdown_finds_by_name() -> None:
    # new_markdown skips Markdown's entry-point search: the same extensions, settings and HTML.
    import markdown

    from deckbuilder.load import load_project

    from .conftest import REPO

    ours, theirs = render.new_markdown(), markdown.Markdown()
    # (superfences asks for pymdownx.highlight by name, as does a raw fenced block for _bypassnorm)
    for name in [*render.MARKDOWN_EXTENSIONS, "pymdownx.highlight", "pymdownx._bypassnorm"]:
        config = render.MARKDOWN_CONFIG.get(name, {})
        mine, markdowns = ours.build_extension(name, config), theirs.build_extension(name, config)
        assert type(mine) is type(markdowns), name
        assert mine.getConfigs() == markdowns.getConfigs(), name
    by_name = markdown.Markdown(
        extensions=render.MARKDOWN_EXTENSIONS, extension_configs=render.MARKDOWN_CONFIG, output_format="html"
    )
    cards = [card for cards in load_project(REPO, [], None).card_files.values() for card in cards]
    texts = [text for card in cards for name in TEXT_FIELDS if (text := getattr(card, name))]
    texts += [
        "| a | b |\n|---|---|\n| `x` | $y$ |",
        "1. one\n* two\n\n3. three",
        "```python\nprint(1)\n```\n\n    indented code",
        "```{.python .extra}\nx = 1\n```",
        "$$\\sum_i x_i$$ in text, \\[y\\] and https://example.org/a?b=1",
        "~~~\nplain\n~~~\n\n> quote with <b>html</b>",
    ]
    assert len(texts) > 1000
    assert [ours.reset().convert(t) for t in texts] == [by_name.reset().convert(t) for t in texts]
    assert [type(e) for e in ours.registeredExtensions] == [type(e) for e in by_name.registeredExtensions]


def test_setting_markdown_up_reads_no_package_metadata() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from deckbuilder import render; md = render.new_markdown();"
        "md.convert('```python\\nx = 1\\n```\\n\\n| a |\\n|---|\\n| b |');"
        "print('importlib.metadata' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout == "False\n", done.stderr


def test_script_findings_come_from_the_cache_and_are_still_errors(
    make_project: Callable[..., Path], render_cache_dir: Path
) -> None:
    root = make_project(
        {
            "decks/d.yaml": "name: D\n",
            "cards/c.yaml": "cards:\n  - id: a\n    front: 'Click <b onclick=\"steal()\">here</b>'\n"
            "    back: '```python\\nprint(1)\\n```'\n",
        }
    )
    first = run("--project", root, "--check")
    stored = entries(render_cache_dir)
    second = run("--project", root, "--check")
    assert first.exit_code == second.exit_code == 1
    assert "carries script (an event handler onclick= on <b>)" in first.stderr
    assert first.stderr == second.stderr
    # The HTML of the front and of the back, the card file's cards (their fields' HTML and what
    # the script and tag-balance checks found in each), the parsed card file, the card file's
    # notes' checks by Anki's rules (a script error is not one), what the lint rules found in
    # the card (--check lints). (The note types of a project with no templates come rendered
    # with deckbuilder.)
    assert len(stored) == 6
    assert entries(render_cache_dir) == stored


def test_a_card_file_is_parsed_once_for_its_bytes(
    make_project: Callable[..., Path], render_cache_dir: Path
) -> None:
    card_file = "cards:\n  - id: a\n    front: 'Q?'\n    back: A\n    frnot: typo\n"
    root = make_project({"decks/d.yaml": "name: D\n", "cards/c.yaml": card_file})
    first = run("--project", root, "--check")
    assert first.exit_code == 1
    assert "cards/c.yaml:5:5: card 'a': unknown key 'frnot' (did you mean 'front'?)" in first.stderr
    stored = entries(render_cache_dir)
    assert any('"frnot' in value for value in stored.values())  # the file's problems are kept too
    assert run("--project", root, "--check").stderr == first.stderr  # from the cache
    # The same bytes under another name are another file: its problems name it.
    (root / "cards" / "c.yaml").rename(root / "cards" / "moved.yaml")
    moved = run("--project", root, "--check")
    assert "cards/moved.yaml:5:5: card 'a': unknown key 'frnot'" in moved.stderr
    assert "cards/c.yaml" not in moved.stderr
    (root / "cards" / "moved.yaml").write_text(card_file.replace("frnot", "extra"), encoding="utf-8")
    assert run("--project", root, "--check").exit_code == 0


def test_a_damaged_card_file_entry_is_parsed_again(
    make_project: Callable[..., Path], render_cache_dir: Path
) -> None:
    root = make_project(
        {"decks/d.yaml": "name: D\n", "cards/c.yaml": "cards:\n  - id: a\n    front: Q\n    back: A\n"}
    )
    clean = run("--project", root, "--check")
    for forged in (
        '{"not": "ours"}',
        "[[1], 2]",
        '[{"tuple": [{"model": "Path", "fields": {}}]}, []]',
        "nope",
    ):
        with sqlite3.connect(render_cache_dir / "render.sqlite") as db:
            for (key,) in db.execute("SELECT key FROM entries").fetchall():
                # Consistent checks: only the content can tell these entries are not a card file's.
                check = rendercache._check(key, forged)
                db.execute("UPDATE entries SET html = ?, check_ = ? WHERE key = ?", (forged, check, key))
        again = run("--project", root, "--check")
        assert again.exit_code == 0 and again.stdout == clean.stdout, forged


LOADED_FILE = """deck: Part
deck_was: Old part
tags: [t, u]
cards:
  - id: a
    front: 'Q?'
    back: A
    frnot: typo
  - id: b
    was: [old-b]
    type: cloze
    text: '{{c1::x}}'
    tags: [v]
  - id: c
    deck: Other
    front: Q
    back: B
    extra: E
    source: S
"""


def loaded_entry() -> tuple[tuple[Card, ...], list[object], str]:
    from deckbuilder.load import load_card_file

    problems: list[object] = []
    cards = load_card_file(Path("c.yaml"), "cards/c.yaml", problems, LOADED_FILE.encode())  # type: ignore[arg-type]
    assert len(cards) == 3 and problems
    return cards, problems, rendercache.encode_loaded(cards, problems)  # type: ignore[arg-type]


def test_a_card_file_entry_gives_back_what_was_loaded() -> None:
    cards, problems, encoded = loaded_entry()
    decoded = rendercache.decode_loaded(encoded)
    assert decoded is not None
    assert decoded == (cards, problems)
    for field in dataclasses.fields(Card):  # field_lines too (cards compare without them)
        assert [getattr(c, field.name) for c in decoded[0]] == [getattr(c, field.name) for c in cards]
    assert rendercache.decode_loaded(rendercache.encode_loaded((), [])) == ((), [])


def _changed(encoded: str, path: tuple[int, ...], value: object) -> str:
    entry = json.loads(encoded)
    *inner, last = path
    target = entry
    for at in inner:
        target = target[at]
    target[last] = value
    return json.dumps(entry)


# Where in the entry (cards or problems, the column: 1 + the field's place) and what goes there.
FOREIGN_CARD_FILE_ENTRIES: dict[str, tuple[tuple[int, ...], object]] = {
    "count not a number": ((0, 0), "3"),
    "a card more": ((0, 0), 4),
    "a text short": ((0, 3), ["Q?", ""]),
    "a text not text": ((0, 3), ["Q?", 1, "Q"]),
    "a type of null": ((0, 2), ["basic", None, "basic"]),
    "a tag not text": ((0, 8, 0, 0), ["t", 1]),
    "tags not a table": ((0, 8, 0), "t"),
    "a tags row past the table": ((0, 8, 1), [0, 9, 0]),
    "a tags row below it": ((0, 8, 1), [0, -1, 0]),
    "a location's line not a number": ((0, 11, 2), [1, "2", 3]),
    "a location's path not text": ((0, 11, 0), [1]),
    "a field line short": ((0, 12, 2), [1, 2]),
    "a field line not a number": ((0, 12, 2, 0), 1.5),
    "field names not text": ((0, 12, 0, 0), [1]),
    "a problem's flag a number": ((1, 3), [0] * 99),
    "a column more": ((0, 14), []),
    "a problem's column missing": ((1,), [1]),
    "not the two parts": ((), None),
}


@pytest.mark.parametrize("forgery", FOREIGN_CARD_FILE_ENTRIES, ids=list(FOREIGN_CARD_FILE_ENTRIES))
def test_a_foreign_card_file_entry_is_not_trusted(forgery: str) -> None:
    _, problems, encoded = loaded_entry()
    path, value = FOREIGN_CARD_FILE_ENTRIES[forgery]
    if forgery == "a problem's flag a number":
        value = [0] * len(problems)
    if forgery == "a column more":
        forged = json.dumps([[*json.loads(encoded)[0], []], json.loads(encoded)[1]])
    elif forgery == "a problem's column missing":
        forged = json.dumps([json.loads(encoded)[0], json.loads(encoded)[1][:-1]])
    elif forgery == "not the two parts":
        forged = json.dumps(json.loads(encoded)[0])
    else:
        forged = _changed(encoded, path, value)
    assert forged != encoded
    assert rendercache.decode_loaded(forged) is None


def test_a_note_that_passed_its_check_is_checked_again_once_it_changes(
    make_project: Callable[..., Path],
) -> None:
    card = "cards:\n  - id: a\n    front: '**Q**'\n    back: A\n"
    root = make_project({"decks/d.yaml": "name: D\n", "cards/c.yaml": card})
    assert run("--project", root, "--check").exit_code == 0
    assert run("--project", root, "--check").exit_code == 0  # passed, from the cache
    (root / "cards" / "c.yaml").write_text(card.replace("'**Q**'", "'<br>'"), encoding="utf-8")
    broken = run("--project", root, "--check")
    assert broken.exit_code == 1
    assert "card 'a': 'front' shows nothing once rendered" in broken.stderr


def test_unbalanced_html_is_still_reported_from_the_cache(make_project: Callable[..., Path]) -> None:
    card = "cards:\n  - id: a\n    front: 'Q <b>bold?'\n    back: A\n"
    root = make_project({"decks/d.yaml": "name: D\n", "cards/c.yaml": card})
    first, second = (run("--project", root, "--check") for _ in range(2))
    assert "card 'a': 'front' leaves <b> open; close it with </b>" in first.stderr
    assert second.stderr == first.stderr


def a_card(**changes: object) -> Card:
    card = Card(
        id="a",
        type="basic",
        front="**Q**",
        back="A",
        text="",
        extra="more",
        source="https://example.org",
        tags=(),
        subdeck="",
        was=(),
        location=Location("cards/c.yaml", 2),
    )
    return dataclasses.replace(card, **changes)  # type: ignore[arg-type]


def test_a_card_entry_is_keyed_by_each_of_its_texts() -> None:
    base = a_card()
    source = CardCache.source(base)
    assert source is not None and CardCache.source(a_card()) == source
    for name in TEXT_FIELDS:
        assert CardCache.source(a_card(**{name: getattr(base, name) + "x"})) != source, name
    # The same characters in other fields are another card.
    assert CardCache.source(a_card(front="ab", back="")) != CardCache.source(a_card(front="a", back="b"))
    # Nothing else decides the fields' HTML (and a card's location is not part of what is kept).
    assert CardCache.source(a_card(id="b", tags=("t",), location=Location("other.yaml", 9))) == source
    # A card with an image depends on files: never kept.
    for image in ("![d](d.png)", "<IMG SRC='d.png'>", "x <img src=d.png>"):
        assert CardCache.source(a_card(extra=image)) is None


def rendered_card(**changes: object) -> RenderedCard:
    card = a_card(**changes)
    fields = {name: f"<em>{getattr(card, name)}</em>" if getattr(card, name) else "" for name in TEXT_FIELDS}
    return RenderedCard(card, fields)


def kept_file(folder: Path, settings: bytes, rendered: tuple[RenderedCard, ...], failed: set[int]) -> None:
    cache = RenderCache(folder, settings)
    cards = CardCache(cache, FieldChecks(), "/project")
    cards.lookup({"cards/c.yaml": tuple(rc.card for rc in rendered)})
    cards.keep("cards/c.yaml", rendered, failed)
    cache.save()


def looked_up(
    folder: Path, settings: bytes, cards: tuple[Card, ...], root: str = "/project", rel: str = "cards/c.yaml"
) -> dict[int, dict[str, str]]:
    cache = RenderCache(folder, settings)
    hits = CardCache(cache, FieldChecks(), root).lookup({rel: cards})
    cache.close()
    return hits.get(rel, {})


def test_a_card_file_entry_serves_each_unchanged_card_and_nothing_else(tmp_path: Path) -> None:
    one, two, three = (rendered_card(id=n, front=f"**{n}**") for n in "abc")
    kept_file(tmp_path, b"one", (one, two, three), failed=set())
    cards = (one.card, two.card, three.card)
    everything = {0: one.fields, 1: two.fields, 2: three.fields}
    assert looked_up(tmp_path, b"one", cards) == everything
    assert looked_up(tmp_path, b"two", cards) == {}  # another fingerprint
    assert looked_up(tmp_path, b"one", cards, root="/other") == {}  # another project's file
    assert looked_up(tmp_path, b"one", cards, rel="cards/d.yaml") == {}  # another file
    # A card with a text changed is not served; the file's other cards are, wherever they moved.
    for name in TEXT_FIELDS:
        changed = dataclasses.replace(two.card, **{name: getattr(two.card, name) + "x"})
        assert looked_up(tmp_path, b"one", (three.card, changed, one.card)) == {
            0: three.fields,
            2: one.fields,
        }
    # What else a card has does not decide its HTML: served.
    moved = dataclasses.replace(one.card, id="z", tags=("t",), location=Location("cards/c.yaml", 9))
    assert looked_up(tmp_path, b"one", (moved,)) == {0: one.fields}
    # A card whose rendering had problems, or a card with an image, is not kept.
    image = rendered_card(id="d", extra="![d](d.png)")
    kept_file(tmp_path, b"one", (one, two, image), failed={1})
    assert looked_up(tmp_path, b"one", (one.card, two.card, image.card)) == {0: one.fields}


def test_what_the_checks_found_comes_with_a_card(tmp_path: Path) -> None:
    from deckbuilder.cardcache import findings
    from deckbuilder.lock import digest

    odd = rendered_card(front="x")
    odd = RenderedCard(odd.card, {**odd.fields, "front": '<b onclick="f()">x', "back": "<my-tag>"})
    plain = rendered_card(id="b")
    kept_file(tmp_path, b"one", (odd, plain), failed=set())
    for cards in ((odd.card, plain.card), (plain.card, odd.card)):  # as it was, or not
        cache = RenderCache(tmp_path, b"one")
        checks = FieldChecks()
        CardCache(cache, checks, "/project").lookup({"cards/c.yaml": cards})
        cache.close()
        # Learnt from the entry, not worked out (the memos would work them out on a miss).
        assert set(checks._known) == set(checks._digests) == {*odd.fields.values(), *plain.fields.values()}
        for html in checks._known:
            assert checks.of(html) == findings(html) and checks.digest(html) == digest(html)
    assert findings(odd.fields["front"]).scripts and findings(odd.fields["back"]).odd_tags


def counting(monkeypatch: pytest.MonkeyPatch, owner: object, name: str) -> list[object]:
    """Calls of a real function, recorded (the function still runs)."""
    calls: list[object] = []
    real = getattr(owner, name)

    def spy(*args: object, **kwargs: object) -> object:
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, spy)
    return calls


@pytest.mark.parametrize("name", ["front", "back", "extra", "source"])
def test_a_card_with_any_text_edited_is_rendered_again(
    released: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    package(released, tmp_path / "cold")
    renders = counting(monkeypatch, render.MarkdownRenderer, "render_card")
    package(released, tmp_path / "warm")
    with_images = {args[1].id for args in renders}  # type: ignore[attr-defined]
    assert with_images == {"image-sample", "extra-one"}  # every other card from the card cache
    renders.clear()
    card_file = released / "cards" / "basics.yaml"
    text = card_file.read_text(encoding="utf-8")
    edits = {
        "front": ("What is the capital of **France**?", "What is the capital of *France*?"),
        "back": ("    back: Paris\n", "    back: Paris, France\n"),
        "extra": ("since 987.", "since 987 or so."),
        "source": ("wiki/Paris", "wiki/Paris_(city)"),
    }
    old, new = edits[name]
    assert old in text
    card_file.write_text(text.replace(old, new, 1), encoding="utf-8")
    edited = package(released, tmp_path / "edited")
    assert {args[1].id for args in renders} == {"capital-of-france", *with_images}  # type: ignore[attr-defined]
    assert edited == package(released, tmp_path / "fresh", "--no-cache")


def test_a_cloze_text_edited_is_rendered_again(released: Path, tmp_path: Path) -> None:
    package(released, tmp_path / "cold")
    card_file = released / "cards" / "basics.yaml"
    text = card_file.read_text(encoding="utf-8")
    card_file.write_text(
        text.replace("{{c1::clarify the problem}}", "{{c1::clarify the goal}}"), encoding="utf-8"
    )
    warm = package(released, tmp_path / "warm")
    assert "clarify the goal" in note_text(warm, tmp_path)
    assert warm == package(released, tmp_path / "fresh", "--no-cache")


def _with(entry: list[object], at: int, value: object) -> str:
    return json.dumps([*entry[:at], value, *entry[at + 1 :]])


FOREIGN_CARD_ENTRIES: dict[str, Callable[[list[object]], str]] = {
    "not a list": lambda e: '{"not": "ours"}',
    "not JSON": lambda e: "nope",
    "three parts": lambda e: json.dumps(e[:3]),
    "four parts (the layout before the card file's digest)": lambda e: json.dumps(e[:4]),
    "five parts (the layout before the ids' digests)": lambda e: json.dumps(e[:5]),
    "an id's digest not text": lambda e: _with(e, 5, [None, *e[5][1:]]),  # type: ignore[index]
    "the ids' digests not a list": lambda e: _with(e, 5, "".join(e[5])),  # type: ignore[arg-type]
    "a part more": lambda e: json.dumps([*e, ""]),
    "the card file's digest not text": lambda e: _with(e, 4, None),
    "a field short": lambda e: _with(e, 1, e[1][:-1]),  # type: ignore[index]
    "a digest short": lambda e: _with(e, 2, e[2][:-1]),  # type: ignore[index]
    "a kept card more": lambda e: _with(e, 0, [*e[0], "f" * 32]),  # type: ignore[misc]
    "a field not text": lambda e: _with(e, 1, [1, *e[1][1:]]),  # type: ignore[index]
    "a digest not text": lambda e: _with(e, 2, [None, *e[2][1:]]),  # type: ignore[index]
    "a card's digest not text": lambda e: _with(e, 0, [0, *e[0][1:]]),  # type: ignore[index]
    "digests not a list": lambda e: _with(e, 0, "".join(e[0])),  # type: ignore[arg-type]
    "findings not a mapping": lambda e: _with(e, 3, []),
    "findings of no field": lambda e: _with(e, 3, {str(len(e[1])): ["", "", True, ""]}),  # type: ignore[arg-type]
    "findings of a field -1": lambda e: _with(e, 3, {"-1": ["", "", True, ""]}),
    "findings not a flag": lambda e: _with(e, 3, {"0": ["", "", "no", ""]}),
    "findings short": lambda e: _with(e, 3, {"0": ["", ""]}),
}


@pytest.mark.parametrize("forgery", FOREIGN_CARD_ENTRIES, ids=list(FOREIGN_CARD_ENTRIES))
def test_a_foreign_card_entry_is_not_trusted(
    released: Path, tmp_path: Path, render_cache_dir: Path, forgery: str
) -> None:
    package(released, tmp_path / "cold")
    kept = card_entries(render_cache_dir)
    assert kept
    for key, entry in kept.items():
        # Its cards' digests are right (but one): served if its content were trusted.
        forged = FOREIGN_CARD_ENTRIES[forgery](
            [entry[0], [html + "<i>forged</i>" for html in entry[1]], *entry[2:]]  # type: ignore[attr-defined]
        )
        forge(render_cache_dir, key, forged)
    warm = package(released, tmp_path / "warm")
    assert "forged" not in note_text(warm, tmp_path)
    assert warm == package(released, tmp_path / "fresh", "--no-cache")


def test_a_note_is_checked_again_when_anything_its_check_reads_changes(
    make_project: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    card = "cards:\n  - id: a\n    front: '**Q**'\n    back: A\n"
    other = "cards:\n  - id: other\n    front: '**R**'\n    back: B\n"
    root = make_project({"decks/d.yaml": "name: D\n", "cards/c.yaml": card, "cards/o.yaml": other})
    assert run("--project", root, "--check").exit_code == 0
    checks = counting(monkeypatch, build.NoteChecker, "__call__")
    assert run("--project", root, "--check").exit_code == 0
    assert checks == []  # passed before, from the cache
    card_file = root / "cards" / "c.yaml"
    for edited in (
        card.replace("'**Q**'", "'**Q?**'"),  # a text
        card.replace("back: A\n", "back: A\n    type: reversed\n"),  # the card's type
        card.replace("id: a", "id: b"),  # its id (a field of the note)
        card.replace("back: A\n", "back: A\n    tags: [t]\n"),  # whether it has tags
    ):
        card_file.write_text(edited, encoding="utf-8")
        checks.clear()
        assert run("--project", root, "--check").exit_code == 0
        assert len(checks) == 1, edited  # the other card's check is kept by itself too
    (root / "templates").mkdir()
    (root / "templates" / "basic.front.html").write_text("<div>{{Front}}</div>", encoding="utf-8")
    checks.clear()
    assert run("--project", root, "--check").exit_code == 0
    assert len(checks) == 2  # the note type's templates: every note of it


PROBLEMS = {
    "decks/d.yaml": "name: D\nlint:\n  max_answer_words: 3\n  max_deletions_per_card: 1\n",
    "cards/c.yaml": """cards:
  - id: bold-open
    front: 'Q <b>bold?'
    back: A
  - id: odd-tag
    front: 'What is <my-tag>?'
    back: B
  - id: scripted
    front: 'Click <b onclick="steal()">here</b>?'
    back: C
  - id: cloze-in-basic
    front: 'A {{c1::deletion}} here?'
    back: D
  - id: blank
    front: '<br>'
    back: E
  - id: missing-image
    front: 'What is ![d](nope.png)?'
    back: F
  - id: long-answer
    front: What is it and why is it?
    back: one two three four five
  - id: same-one
    front: Same question?
    back: G
  - id: same-two
    front: Same question?
    back: H
  - id: code
    front: |
      What prints?

      ```python
      print(1)
      ```
    back: "`1`"
  - id: many-deletions
    type: cloze
    text: '{{c1::a}} and {{c1::b}}'
""",
}


@pytest.mark.parametrize("options", [("--check",), ("--lint",), ()])
def test_a_warm_build_reports_what_a_cold_build_reports(
    make_project: Callable[..., Path], options: tuple[str, ...]
) -> None:
    root = make_project(PROBLEMS)
    fresh = run("--project", root, "--format", "json", "--no-cache", *options)
    assert fresh.exit_code == 1
    codes = {json.loads(line)["code"] for line in fresh.stdout.splitlines()}
    expected = {
        "unbalanced-html",
        "html-tag",
        "script",
        "cloze-not-cloze-card",
        "image-missing",
    }
    assert expected <= codes
    if options:
        assert {"lint-answer-words", "lint-same-question", "lint-deletions", "lint-two-questions"} <= codes
    for _ in range(3):  # a cold cache, then twice warm
        again = run("--project", root, "--format", "json", *options)
        assert (again.exit_code, again.stdout, again.stderr) == (fresh.exit_code, fresh.stdout, fresh.stderr)


def test_a_warm_build_warns_as_a_cold_build_warns(make_project: Callable[..., Path], tmp_path: Path) -> None:
    files = dict(PROBLEMS)
    kept = ("bold-open", "odd-tag", "long-answer", "same-one", "same-two", "code", "many-deletions")
    cards = files["cards/c.yaml"].split("  - id: ")
    files["cards/c.yaml"] = "  - id: ".join([cards[0], *(c for c in cards[1:] if c.split("\n")[0] in kept)])
    root = make_project(files)
    fresh = run("--project", root, "--out", tmp_path / "fresh", "--lint", "--no-cache")
    assert fresh.exit_code == 0, fresh.output
    assert "warning:" in fresh.stderr and "lint-" not in fresh.stderr
    for name in ("cold", "warm"):
        again = run("--project", root, "--out", tmp_path / name, "--lint")
        assert again.stderr == fresh.stderr
        assert (tmp_path / name / "d.apkg").read_bytes() != b""


def test_a_released_deck_rebuilt_warm_is_its_release(
    sample: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, render_cache_dir: Path
) -> None:
    """The lock's digests of the fields come from the card cache too: they must be the same."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    monkeypatch.setenv("DECKBUILDER_CACHE_DIR", str(tmp_path / "release-cache"))  # not this test's cache
    assert run("release", "--project", sample, "--out", tmp_path / "released").exit_code == 0
    monkeypatch.setenv("DECKBUILDER_CACHE_DIR", str(render_cache_dir))
    released = (tmp_path / "released" / "sample.apkg").read_bytes()
    notes = (tmp_path / "released" / "sample.release-notes.md").read_bytes()
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(int(EPOCH) + 100))  # a changed note would get this time
    for name in ("cold", "warm"):
        assert package(sample, tmp_path / name) == released, name
        assert (tmp_path / name / "sample.release-notes.md").read_bytes() == notes
    card_file = sample / "cards" / "basics.yaml"
    card_file.write_text(
        card_file.read_text(encoding="utf-8").replace("back: Paris", "back: Lyon"), encoding="utf-8"
    )
    draft = package(sample, tmp_path / "draft")
    assert draft == package(sample, tmp_path / "fresh", "--no-cache")
    changes = (tmp_path / "draft" / "sample.release-notes.md").read_text(encoding="utf-8")
    assert changes == (tmp_path / "fresh" / "sample.release-notes.md").read_text(encoding="utf-8")
    assert "## Changed (1)\n\n- `capital-of-france` — What is the capital of France? (Back)" in changes


def test_lint_findings_are_kept_and_follow_everything_they_read(
    make_project: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    deck = "name: D\nlint:\n  max_answer_words: 3\n"
    card = "cards:\n  - id: long\n    front: What is it and why is it?\n    back: one two three four five\n"
    root = make_project({"decks/d.yaml": deck, "cards/c.yaml": card})
    rules = counting(monkeypatch, lint_module, "_card_rules")

    def check() -> str:
        cached = run("--project", root, "--check", "--format", "json")
        rules.clear()
        fresh = run("--project", root, "--check", "--format", "json", "--no-cache")
        assert rules, "the rules ran without the cache"
        assert cached.stdout == fresh.stdout
        return cached.stdout

    before = check()
    assert "lint-answer-words" in before and "lint-two-questions" in before
    rules.clear()
    assert run("--project", root, "--check", "--format", "json").stdout == before
    assert rules == []  # from the cache
    for path, old, new, differs in (
        ("cards/c.yaml", "back: one", "type: reversed\n    back: one", "has 7 words"),  # its type
        ("cards/c.yaml", "id: long", "id: longer", "'longer'"),  # the id the messages name
        ("cards/c.yaml", "five", "five six", "has 6 words"),  # a field
        ("decks/d.yaml", "max_answer_words: 3", "max_answer_words: 9", "lint-answer-words"),  # a limit
    ):
        file = root / path
        file.write_text(file.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")
        after = check()
        assert after != before and (differs in after) != (differs in before), new
        before = after


def test_a_foreign_lint_entry_is_not_trusted(
    make_project: Callable[..., Path], render_cache_dir: Path
) -> None:
    card = "cards:\n  - id: long\n    front: What is it and why is it?\n    back: one two three four five\n"
    root = make_project({"decks/d.yaml": "name: D\nlint:\n  max_answer_words: 3\n", "cards/c.yaml": card})
    fresh = run("--project", root, "--check", "--no-cache")
    assert run("--project", root, "--check").stdout == fresh.stdout
    kept = {}
    for key, value in entries(render_cache_dir).items():
        with contextlib.suppress(ValueError):
            entry = json.loads(value)
            if isinstance(entry, list) and len(entry) == 3 and isinstance(entry[2], dict) and entry[2]:
                kept[key] = entry
    ((key, (digests, questions, warned)),) = kept.items()  # the card file's lint entry
    (rows,) = warned.values()
    forge(render_cache_dir, key, json.dumps([digests, questions, {"0": [["back", "forged", "lint-x"]]}]))
    assert "forged" in run("--project", root, "--check").stderr  # served: it is read
    for forged in (
        [digests, questions, {"0": [["front", 1, "x"]]}],
        [digests, questions, {"0": [["front", "m"]]}],
        [digests, questions, {"0": "front"}],
        [digests, questions, {"1": rows}],
        [digests, questions, {"-1": rows}],
        [digests, questions, [rows]],
        [digests, [], warned],
        [digests, [1], warned],
        [[1], questions, warned],
        [digests[0], questions, warned],
        [digests, questions],
        {},
    ):
        forge(render_cache_dir, key, json.dumps(forged))
        again = run("--project", root, "--check")
        assert (again.stdout, again.stderr) == (fresh.stdout, fresh.stderr), forged
    forge(render_cache_dir, key, "nope")
    again = run("--project", root, "--check")
    assert (again.stdout, again.stderr) == (fresh.stdout, fresh.stderr)


def test_a_changed_card_is_linted_by_itself(
    make_project: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    cards = "cards:\n" + "".join(
        f"  - id: c{i}\n    front: Q{i}?\n    back: one two three four five\n" for i in range(5)
    )
    root = make_project({"decks/d.yaml": "name: D\nlint:\n  max_answer_words: 3\n", "cards/c.yaml": cards})
    first = run("--project", root, "--check").stderr
    assert "lint-answer-words" in run("--project", root, "--check", "--format", "json").stdout
    rules = counting(monkeypatch, lint_module, "_card_rules")
    card_file = root / "cards" / "c.yaml"
    # A card changed, one removed, one added before the others: only the new texts' rules run.
    edited = cards.replace("Q1?", "Q1 again?").replace(
        "  - id: c3\n    front: Q3?\n    back: one two three four five\n", ""
    )
    card_file.write_text(edited.replace("cards:\n", "cards:\n  - id: new\n    front: N?\n    back: A\n"))
    after = run("--project", root, "--check").stderr
    assert sorted(args[0].card.id for args in rules) == ["c1", "new"]  # type: ignore[attr-defined]
    rules.clear()
    assert run("--project", root, "--check", "--no-cache").stderr == after
    assert len(rules) == 5
    card_file.write_text(cards)
    rules.clear()
    assert run("--project", root, "--check").stderr == first
    assert sorted(args[0].card.id for args in rules) == ["c1", "c3"]  # type: ignore[attr-defined]


def test_a_released_package_is_left_as_it_is_while_nothing_changed(
    sample: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    assert run("release", "--project", sample).exit_code == 0
    apkg = sample / "dist" / "sample.apkg"
    released = apkg.read_bytes()
    writes = counting(monkeypatch, build, "write_package")
    assert package(sample, sample / "dist") == released
    assert writes == []  # the file is what this build would write
    assert package(sample, tmp_path / "fresh", "--no-cache") == released and len(writes) == 1
    apkg.write_bytes(released[:-1] + b"!")  # dist/ edited: written again
    assert package(sample, sample / "dist") == released and len(writes) == 2
    apkg.unlink()  # or deleted
    assert package(sample, sample / "dist") == released and len(writes) == 3
    assert package(sample, sample / "dist") == released and len(writes) == 3
    card_file = sample / "cards" / "basics.yaml"
    card_file.write_text(
        card_file.read_text(encoding="utf-8").replace("back: Paris", "back: Lyon"), encoding="utf-8"
    )
    draft = package(sample, sample / "dist")  # a draft: always written
    assert draft != released and len(writes) == 4
    assert draft == package(sample, tmp_path / "fresh-draft", "--no-cache")


def test_the_package_key_changes_with_everything_in_the_package(
    sample: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    (plan,) = build.build(sample, tmp_path / "out").decks
    content = plan.content
    assert content.media  # the sample has an image
    base = inputs_digest(content)
    assert base is not None and inputs_digest(content) == base
    note = content.notes[0]
    other_type = next(n.note_type for n in content.notes if n.note_type.id != note.note_type.id)
    changed_notes = [
        note._replace(**{name: value})  # type: ignore[arg-type]
        for name, value in zip(
            note._fields,
            [
                "other-guid",
                other_type,
                (*note.fields[:-1], "x"),
                ("t",),
                "D::E",
                note.mod + 1,
            ],
            strict=True,
        )
    ]
    nt = note.note_type
    changed_notes.append(note._replace(note_type=dataclasses.replace(nt, css=nt.css + " ")))
    changes = [
        dataclasses.replace(content, notes=(changed, *content.notes[1:])) for changed in changed_notes
    ] + [
        dataclasses.replace(content, deck_name="Other"),
        dataclasses.replace(content, description=content.description + " "),
        dataclasses.replace(content, note_type_mods={k: v + 1 for k, v in content.note_type_mods.items()}),
        dataclasses.replace(content, timestamp=content.timestamp + 1),
        dataclasses.replace(content, card_ords=((*content.card_ords[0], 5), *content.card_ords[1:])),
        dataclasses.replace(content, media={}),
    ]
    assert len({base, *(inputs_digest(c) for c in changes)}) == len(changes) + 1
    path = next(iter(content.media.values()))
    path.write_bytes(path.read_bytes() + b"\0")  # the same name, other bytes
    assert inputs_digest(content) not in (None, base)
    path.unlink()
    assert inputs_digest(content) is None  # the writer reports it


def test_a_foreign_note_check_entry_is_not_trusted(
    make_project: Callable[..., Path], render_cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cards = "cards:\n  - id: a\n    front: '<br>'\n    back: A\n  - id: b\n    front: Q\n    back: B\n"
    root = make_project({"decks/d.yaml": "name: D\n", "cards/c.yaml": cards})
    first = run("--project", root, "--check")
    assert first.exit_code == 1 and "card 'a': 'front' shows nothing once rendered" in first.stderr
    kept = {}
    for key, value in entries(render_cache_dir).items():
        with contextlib.suppress(ValueError):
            entry = json.loads(value)
            if isinstance(entry, list) and len(entry) == 4 and entry[2:] == [[[0]], [-1, 0]]:
                kept[key] = entry
    # The card file's notes: genanki's cards of the one that passed, none for the one that did not.
    assert len(kept) == 1
    ((key, (stamp, keys, _, _)),) = kept.items()
    checks = counting(monkeypatch, build.NoteChecker, "__call__")
    assert run("--project", root, "--check").stderr == first.stderr
    assert len(checks) == 1  # the note that did not pass
    forge(render_cache_dir, key, json.dumps([stamp, keys, [[0]], [0, 0]]))
    checks.clear()
    assert "shows nothing" not in run("--project", root, "--check").stderr  # served: it is read
    assert checks == []
    for forged in (
        [stamp, keys, [[0]], [0, "0"]],
        [stamp, keys, [[0]], [0]],
        [stamp, keys, [[0]], [0, 0, 0]],
        [stamp, keys, [[0]], [0, 1]],
        [stamp, keys, [[0]], [0, -2]],
        [stamp, keys, [[]], [0, 0]],
        [stamp, keys, [["0"]], [0, 0]],
        [stamp, keys, [0], [0, 0]],
        [stamp, [*keys[:1], 1], [[0]], [0, 0]],
        [stamp, keys[:1], [[0]], [0, 0]],
        [stamp, keys, [[0]], [0, 0], []],
        [keys, [[0]], [0, 0]],  # the layout before the stamp
        [None, keys, [[0]], [0, 0]],
        keys,
        {},
    ):
        forge(render_cache_dir, key, json.dumps(forged))
        again = run("--project", root, "--check")
        assert (again.exit_code, again.stderr) == (1, first.stderr), forged
    forge(render_cache_dir, key, "nope")
    assert run("--project", root, "--check").stderr == first.stderr


def test_a_note_is_checked_by_itself_once_its_file_changes(
    make_project: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    cards = "cards:\n" + "".join(f"  - id: c{i}\n    front: '**Q{i}**'\n    back: A\n" for i in range(5))
    other = "cards:\n  - id: other\n    front: '**R**'\n    back: B\n"
    root = make_project({"decks/d.yaml": "name: D\n", "cards/c.yaml": cards, "cards/o.yaml": other})
    assert run("--project", root, "--check").exit_code == 0
    checks = counting(monkeypatch, build.NoteChecker, "__call__")
    card_file = root / "cards" / "c.yaml"
    # A card changed, one removed, one added, the others moved down: only the new texts are checked.
    edited = cards.replace("Q1**", "Q1?**").replace("  - id: c3\n    front: '**Q3**'\n    back: A\n", "")
    card_file.write_text(edited.replace("cards:\n", "cards:\n  - id: new\n    front: N\n    back: A\n"))
    assert run("--project", root, "--check").exit_code == 0
    assert sorted(args[1].card.id for args in checks) == ["c1", "new"]  # type: ignore[attr-defined]
    checks.clear()
    assert run("--project", root, "--check").exit_code == 0
    assert checks == []
    card_file.write_text(cards)  # as it was two builds ago: its entry was replaced
    assert run("--project", root, "--check").exit_code == 0
    assert sorted(args[1].card.id for args in checks) == ["c1", "c3"]  # type: ignore[attr-defined]


def test_entries_a_build_uses_stay_and_the_others_go_after_a_month(
    make_project: Callable[..., Path], render_cache_dir: Path
) -> None:
    card = "cards:\n  - id: a\n    front: '**Q**'\n    back: '`A`'\n"
    root = make_project({"decks/d.yaml": "name: D\n", "cards/c.yaml": card})
    assert run("--project", root, "--check").exit_code == 0
    (root / "cards" / "c.yaml").write_text(card.replace("`A`", "`B`"), encoding="utf-8")
    assert run("--project", root, "--check").exit_code == 0
    both = set(entries(render_cache_dir))
    month_ago = int(time.time()) - 31 * 86400
    with sqlite3.connect(render_cache_dir / "render.sqlite") as db:
        db.execute("UPDATE entries SET used = ?", (month_ago,))
    assert run("--project", root, "--check").exit_code == 0  # pruned today already: nothing goes
    assert set(entries(render_cache_dir)) == both
    with sqlite3.connect(render_cache_dir / "render.sqlite") as db:
        db.execute("UPDATE entries SET used = ?", (month_ago,))
        db.execute("UPDATE meta SET value = '0' WHERE name = 'pruned'")  # as if last pruned long ago
    assert run("--project", root, "--check").exit_code == 0
    kept = set(entries(render_cache_dir))
    assert kept and kept < both  # what this build used stays, the earlier card's entries went
    with sqlite3.connect(render_cache_dir / "render.sqlite") as db:
        assert db.execute("SELECT min(used) FROM entries").fetchone()[0] > month_ago
    (root / "cards" / "c.yaml").write_text(card, encoding="utf-8")  # converted afresh, the same
    assert run("--project", root, "--check").exit_code == 0


def test_notes_written_as_rows_are_the_rows_genanki_writes(
    sample: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Notes whose cards the build knows are written without genanki's objects: the same rows."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    (plan,) = build.build(sample, tmp_path / "out").decks
    content = plan.content
    assert content.card_ords and any(len(ords) > 1 for ords in content.card_ords)
    by_genanki = package_bytes(dataclasses.replace(content, card_ords=()))  # genanki's own cards
    ours = (tmp_path / "out" / "sample.apkg").read_bytes()
    assert package_bytes(content) == ours
    assert collection_rows(ours, tmp_path) == collection_rows(by_genanki, tmp_path)


def test_a_damaged_database_is_deleted_so_the_next_build_has_a_cache_again(
    released: Path, tmp_path: Path, render_cache_dir: Path
) -> None:
    # A crash of the machine can leave pages of the file damaged (commits do not wait for the
    # disk): the build that finds it builds without it, and deletes it for the next one.
    package(released, tmp_path / "cold")
    path = render_cache_dir / "render.sqlite"
    data = bytearray(path.read_bytes())
    for at in range(3 * 4096, len(data) - 4096, 7):  # the entries, not the schema nor meta
        data[at] = 0xFF
    path.write_bytes(bytes(data))
    with contextlib.closing(sqlite3.connect(path)) as db:
        assert db.execute("SELECT value FROM meta WHERE name = 'schema'").fetchone()  # opens as ours
        with pytest.raises(sqlite3.DatabaseError):
            db.execute("SELECT count(*), sum(length(html)) FROM entries").fetchall()
    assert package(released, tmp_path / "damaged") == package(released, tmp_path / "fresh", "--no-cache")
    package(released, tmp_path / "again")
    assert entries(render_cache_dir)  # a whole database again, with the build's entries
    assert package(released, tmp_path / "warm") == package(released, tmp_path / "fresh2", "--no-cache")
