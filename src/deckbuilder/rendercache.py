"""Markdown conversions kept between builds, so a rebuild renders only the texts that changed.

Only pure steps are cached: Markdown text -> HTML, before images are resolved against the
card's folder (that runs on every build, so a moved or edited image is always seen), a card
file's parsed cards, whole cards without images and what the checks found in them
(cardcache.py), and the notes that passed their checks. An entry's
key is a hash of the text and of everything else that changes the output: the versions of
Markdown, its extensions and Pygments, their configuration, and deckbuilder's own source. (The
entries of a card file's rendered cards and checked notes are found by the file's path instead,
and hold a digest of each card's inputs: only a card whose digest matches is taken from them.)
The store lives in the user's cache folder, never in the project: a deck project is untrusted input,
and a pull request must not be able to bring its own "cached" HTML. A store that cannot be read,
was written by something else or fails its checks is ignored and rebuilt, never trusted.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import itertools
import json
import operator
import os
import re
import sqlite3
import sys
import time
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from .model import Card, Diagnostic, Location, slot_maker

CACHE_DIR_ENV = "DECKBUILDER_CACHE_DIR"
"""Overrides the cache folder (tests, CI)."""
_SCHEMA = "deckbuilder-render-cache-1"
_KEEP_SECONDS = 30 * 86400
"""Entries no build used for this long are dropped."""
_MARK_SECONDS = 86400
"""An entry used is marked so when its mark is older than this (one write a day keeps it)."""
_FLUSH_AT = 1000
"""New entries are written once there are this many (a big build's would be a copy of its HTML)…"""
_FLUSH_CHARS = 2_000_000
"""… or once they hold this many characters (an entry may hold a card file's cards)."""
_BATCH = 500
"""Keys per query: below SQLite's default limit of host parameters."""


def cache_dir() -> Path:
    override = os.environ.get(CACHE_DIR_ENV)
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_cache_dir("deckbuilder", appauthor=False))


def fingerprint(settings: str) -> bytes:
    """What, besides a text, decides what is kept of it: library versions, settings, our code."""
    digest = hashlib.sha256(_SCHEMA.encode())
    folders = metadata_folders()
    for dist in ("markdown", "pymdown-extensions", "pygments", "pyyaml", "genanki"):
        digest.update(f"{dist}={installed_version(dist, folders)};".encode())
    digest.update(f"python={sys.version};".encode())  # its html.parser: raw HTML and the findings
    import yaml  # with libyaml or without: the same version, other messages

    digest.update(f"libyaml={getattr(yaml, '__with_libyaml__', False)};".encode())
    digest.update(_lexer_plugins(folders).encode("utf-8", "replace"))
    digest.update(settings.encode())
    package = Path(__file__).parent
    for source in sorted(package.glob("*.py")):
        digest.update(source.name.encode() + b"\0" + source.read_bytes())
    return digest.digest()


def installed_version(dist: str, folders: dict[str, Path] | None = None) -> str:
    """A library's installed version, as importlib.metadata gives it, read from the name of its
    metadata folder (`folders`: metadata_folders(), found once for several libraries):
    importing importlib.metadata (email, zipfile, csv…) would cost a build more than the rest
    of the fingerprint."""
    folder = (metadata_folders() if folders is None else folders).get(_normalized(dist))
    if folder is not None:
        version = folder.stem.partition("-")[2]
        version = version.partition("-")[0] if folder.suffix == ".egg-info" else version
        if version:
            return version
    from importlib import metadata  # a library installed without a version in its folder's name

    try:
        return metadata.version(dist) or "?"  # (None for a folder without its metadata)
    except metadata.PackageNotFoundError:
        return "?"


def metadata_folders() -> dict[str, Path]:
    """Each installed library's `.dist-info` or `.egg-info` folder by its normalized name: the
    first on sys.path, the one importlib.metadata reads (a wheel's is `name-version.dist-info`)."""
    found: dict[str, Path] = {}
    for entry in sys.path:
        try:
            names = sorted(os.listdir(entry or "."))
        except OSError:
            continue
        for name in names:
            stem, dot, suffix = name.rpartition(".")
            if dot and suffix in ("dist-info", "egg-info"):
                found.setdefault(_normalized(stem.partition("-")[0]), Path(entry or ".", name))
    return found


def _lexer_plugins(folders: dict[str, Path]) -> str:
    """The Pygments lexers other installed libraries add (Pygments finds them by entry point):
    a fenced block in their language is highlighted only while they are installed."""
    found = []
    for _, folder in sorted(folders.items()):
        try:
            text = (folder / "entry_points.txt").read_text("utf-8", "replace")
        except OSError:
            continue
        if "pygments.lexers" in text:
            found.append(f"{folder.name}\0{text}")
    return "\n".join(found)


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


_DAMAGED = {11, 26}
"""SQLite's SQLITE_CORRUPT ("database disk image is malformed") and SQLITE_NOTADB."""


class RenderCache:
    """HTML of earlier conversions by text; every failure of the store means "not cached"."""

    def __init__(self, folder: Path, fingerprint: bytes) -> None:
        self._fingerprint = fingerprint
        self._path = folder / "render.sqlite"
        self._db: sqlite3.Connection | None = None
        self._new: dict[bytes, str] = {}
        self._new_chars = 0
        self._hits: list[bytes] = []
        self._empty = False
        """Whether the store was made by this instance and nothing is written to it yet: a
        first build's lookups then find nothing without working out a key (most of their cost)."""
        try:
            folder.mkdir(parents=True, exist_ok=True)
            try:
                self._db = self._open()
            except sqlite3.OperationalError:  # busy in another build, or half made: not ours to delete
                raise
            except sqlite3.DatabaseError:  # not a database at all: start afresh
                self._path.unlink()
                self._db = self._open()
        except (OSError, sqlite3.Error):
            self._forget()

    def key(self, text: str, kind: str = "html") -> bytes:
        """`kind` names the function of the text that is kept: its HTML, or what a check found in it."""
        data = self._fingerprint + kind.encode() + b"\0" + text.encode("utf-8", "surrogatepass")
        return hashlib.sha256(data).digest()

    def lookup(self, texts: Iterable[str], kind: str = "html") -> dict[str, str]:
        """The cached results of those texts that have one."""
        if self._db is None or self._empty:
            return {}
        wanted = {self.key(text, kind): text for text in texts}
        found: dict[str, str] = {}
        stale = int(time.time()) - _MARK_SECONDS
        try:
            for key, html, check, used in self._select(list(wanted)):
                if check != _check(key, html):
                    continue  # a damaged entry: convert again, it will be rewritten
                found[wanted[key]] = html
                if not isinstance(used, int) or used < stale:
                    self._hits.append(key)
        except sqlite3.Error as e:
            self._forget(e)
            return {}
        return found

    def has(self, texts: Iterable[str], kind: str = "html") -> set[str]:
        """Those texts that have an entry (unread: a damaged one is found by `lookup`)."""
        if self._db is None or self._empty:
            return set()
        wanted = {self.key(text, kind): text for text in texts}
        try:
            return {
                wanted[key]
                for batch in _batches(list(wanted))
                for (key,) in self._db.execute(
                    f"SELECT key FROM entries WHERE key IN ({','.join('?' * len(batch))})", batch
                )
            }
        except sqlite3.Error as e:
            self._forget(e)
            return set()

    def store(self, results: dict[str, str], kind: str = "html") -> None:
        self._new.update((self.key(text, kind), result) for text, result in results.items())
        self._new_chars += sum(map(len, results.values()))
        if len(self._new) >= _FLUSH_AT or self._new_chars >= _FLUSH_CHARS:
            self.flush()

    def flush(self) -> None:
        """Write the entries stored so far and let go of them (a cold build of 10,000 cards
        would otherwise hold a copy of the deck's HTML until `save`)."""
        if self._db is None or not self._new:
            return
        try:
            with self._db:
                self._insert(int(time.time()))
        except sqlite3.Error as e:
            self._forget(e)
        self._new.clear()
        self._new_chars = 0

    def _insert(self, now: int) -> None:
        assert self._db is not None
        self._empty = False
        self._db.executemany(
            "INSERT OR REPLACE INTO entries (key, html, check_, used) VALUES (?, ?, ?, ?)",
            ((key, html, _check(key, html), now) for key, html in self._new.items()),
        )

    def save(self) -> None:
        """Write new entries, mark hits as used, drop what no build used for a month."""
        if self._db is None:
            return
        now = int(time.time())
        try:
            with self._db:
                self._insert(now)
                # Hits not marked today (lookup left out the others): one write a day keeps an entry.
                for batch in _batches(self._hits):
                    marks = ",".join("?" * len(batch))
                    self._db.execute(f"UPDATE entries SET used = ? WHERE key IN ({marks})", (now, *batch))
                if self._pruned_before(now):  # once a day is enough
                    self._db.execute("DELETE FROM entries WHERE used < ?", (now - _KEEP_SECONDS,))
        except sqlite3.Error as e:
            self._forget(e)
        finally:
            self.close()

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self._path, timeout=5)
        try:
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if (tables and tables != {"meta", "entries"}) or (
                tables and db.execute("SELECT value FROM meta WHERE name = 'schema'").fetchone() != (_SCHEMA,)
            ):
                db.close()  # not ours, or an older layout: start afresh
                self._path.unlink()
                db = sqlite3.connect(self._path, timeout=5)
                tables = set()
            # No waiting for the disk at each commit (a cold build makes six): what a crash of
            # the machine could damage is an entry, and a damaged entry fails its check.
            db.execute("PRAGMA synchronous = OFF")
            if not tables:
                with db:
                    db.execute("CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT)")
                    db.execute(
                        "CREATE TABLE entries (key BLOB PRIMARY KEY, html TEXT NOT NULL,"
                        " check_ BLOB NOT NULL, used INTEGER NOT NULL)"
                    )
                    db.execute("INSERT INTO meta VALUES ('schema', ?)", (_SCHEMA,))
                self._empty = True
            return db
        except BaseException:
            db.close()
            raise

    def _select(self, keys: list[bytes]) -> Iterator[tuple[bytes, str, bytes, int]]:
        assert self._db is not None
        for batch in _batches(keys):
            marks = ",".join("?" * len(batch))
            yield from self._db.execute(
                f"SELECT key, html, check_, used FROM entries WHERE key IN ({marks})", batch
            )

    def _pruned_before(self, now: int) -> bool:
        """Whether the last pruning was on another day (and note this one)."""
        assert self._db is not None
        day = str(now // 86400)
        if self._db.execute("SELECT value FROM meta WHERE name = 'pruned'").fetchone() == (day,):
            return False
        self._db.execute("INSERT OR REPLACE INTO meta VALUES ('pruned', ?)", (day,))
        return True

    def _forget(self, error: sqlite3.Error | None = None) -> None:
        """The store misbehaved: build without it. A damaged database file (which a crash of
        the machine can leave, its commits not waiting for the disk) is deleted, so that the
        next build starts afresh instead of building without a cache until someone deletes it."""
        self.close()
        self._new.clear()
        self._new_chars = 0
        if ((getattr(error, "sqlite_errorcode", 0) or 0) & 0xFF) in _DAMAGED:  # (Python 3.11+ says)
            for path in (self._path, self._path.with_name(f"{self._path.name}-journal")):
                with contextlib.suppress(OSError):
                    path.unlink()


def encode_loaded(cards: tuple[Card, ...], diagnostics: list[Diagnostic]) -> str:
    """A card file's cards and problems as JSON, for the cache: one column per field, so that
    reading them back checks each column at once."""
    return json.dumps([_columns(Card, cards), _columns(Diagnostic, diagnostics)], ensure_ascii=False)


def entry_list(text: str, length: int) -> list[Any] | None:
    """An entry's JSON list of `length` items, or None for anything else (a damaged, foreign or
    emptied entry): what each kind of entry checks before it looks at its items."""
    try:
        items = json.loads(text) if text else None
    except (ValueError, RecursionError):
        return None
    return items if type(items) is list and len(items) == length else None


def decode_loaded(text: str) -> tuple[tuple[Card, ...], list[Diagnostic]] | None:
    """What encode_loaded wrote, or None for anything else."""
    try:
        cards, diagnostics = json.loads(text)
        return tuple(_items(Card, cards)), _items(Diagnostic, diagnostics)
    except (ValueError, TypeError, IndexError, RecursionError):
        return None


_T = TypeVar("_T", Card, Diagnostic)
_Codec = tuple[Callable[[list[Any]], Any], Callable[[Any, int], list[Any]]]
"""How a field's values become a column, and a column (checked) the values of so many items."""


def _columns(cls: type[_T], items: Sequence[_T]) -> list[Any]:
    """[count, a column per field]; a column is the field's values, or for a type whose values
    repeat (tags, locations, field lines) a table of the values and each item's row in it."""
    columns: list[Any] = [len(items)]
    for f, (encode, _) in zip(dataclasses.fields(cls), _CODECS[cls], strict=True):
        columns.append(encode(list(map(operator.attrgetter(f.name), items))))
    return columns


def _table(values: Iterable[Hashable]) -> tuple[list[Any], list[int]]:
    """The distinct values, and each value's row among them."""
    table: dict[Any, int] = {}
    rows = [table.setdefault(value, len(table)) for value in values]
    return list(table), rows


def _encode_strings(values: list[tuple[str, ...]]) -> list[Any]:
    table, rows = _table(values)
    return [[list(value) for value in table], rows]


_PATH, _LINE, _COLUMN = (operator.attrgetter(name) for name in ("path", "line", "column"))


def _encode_locations(values: list[Location]) -> list[Any]:
    paths, rows = _table(map(_PATH, values))
    return [paths, rows, list(map(_LINE, values)), list(map(_COLUMN, values))]


def _encode_numbers(values: list[dict[str, int]]) -> list[Any]:
    """Each item's names as a row of a table, the numbers in one list."""
    shapes, rows = _table(tuple(value) for value in values)
    return [[list(shape) for shape in shapes], rows, [n for value in values for n in value.values()]]


def _items(cls: type[_T], columns: Any) -> list[_T]:
    """What _columns wrote, every value checked against the field's declared type (a ValueError,
    TypeError or IndexError for anything else)."""
    count, *fields = columns
    if type(count) is not int or len(fields) != len(_CODECS[cls]):
        raise ValueError("not the columns of this model")
    values = [decode(column, count) for (_, decode), column in zip(_CODECS[cls], fields, strict=True)]
    return list(map(_MAKERS[cls], *values))


def _only(values: Any, kind: type, count: int | None = None) -> list[Any]:
    """`values`, checked: a list of `count` values (any number if None) of exactly that type."""
    if type(values) is not list or (count is not None and len(values) != count):
        raise ValueError("not a column")
    if not set(map(type, values)) <= {kind}:
        raise ValueError(f"not a column of {kind.__name__}")
    return values


def _rows(rows: Any, table: list[Any], count: int) -> list[int]:
    """Each item's row in a table, checked."""
    checked = _only(rows, int, count)
    if checked and not (min(checked) >= 0 and max(checked) < len(table)):
        raise ValueError("not a row of the table")
    return checked


def _plain(kind: type) -> _Codec:
    return (lambda values: values), (lambda values, count: _only(values, kind, count))


def _strings(column: Any, count: int) -> list[tuple[str, ...]]:
    table, rows = column
    values = [tuple(_only(value, str)) for value in _only(table, list)]
    return list(map(values.__getitem__, _rows(rows, values, count)))  # (rows checked: no -1)


def _locations(column: Any, count: int) -> list[Location]:
    paths, rows, lines, columns = column
    _only(paths, str)
    at = map(paths.__getitem__, _rows(rows, paths, count))
    return list(map(_location_of, at, _only(lines, int, count), _only(columns, int, count)))


def _numbers(column: Any, count: int) -> list[dict[str, int]]:
    shapes, rows, numbers = column
    names = [_only(shape, str) for shape in _only(shapes, list)]
    shape_of = names.__getitem__
    if sum(map(len, map(shape_of, _rows(rows, names, count)))) != len(_only(numbers, int)):
        raise ValueError("not the numbers of these names")
    taken = iter(numbers)
    # Each item's dict of its names and as many numbers (zip reads the names first: they end it).
    return list(map(dict, map(zip, map(shape_of, rows), itertools.repeat(taken))))


_BY_TYPE: dict[str, _Codec] = {
    "Location": (_encode_locations, _locations),
    "tuple[str, ...]": (_encode_strings, _strings),
    "dict[str, int]": (_encode_numbers, _numbers),
    "str": _plain(str),
    "int": _plain(int),
    "bool": _plain(bool),
}
_location_of = slot_maker(Location)
_MAKERS: dict[type, Callable[..., Any]] = {cls: slot_maker(cls) for cls in (Card, Diagnostic)}
"""cls(...) of each field's value in order, without a frozen dataclass's slow __init__."""
_CODECS = {
    # A type this does not know: KeyError at import, not a wrong entry later.
    cls: [_BY_TYPE[str(f.type)] for f in dataclasses.fields(cls)]
    for cls in (Card, Diagnostic)
}


def _check(key: bytes, html: object) -> bytes:
    text = html if isinstance(html, str) else repr(html)
    return hashlib.sha256(key + text.encode("utf-8", "surrogatepass")).digest()[:8]


def _batches(keys: list[bytes]) -> Iterator[list[bytes]]:
    for start in range(0, len(keys), _BATCH):
        yield keys[start : start + _BATCH]
