"""Markdown conversions kept between builds, so a rebuild renders only the texts that changed.

Only pure steps are cached: Markdown text -> HTML, before images are resolved against the
card's folder (that runs on every build, so a moved or edited image is always seen), a card
file's parsed cards, whole cards without images and what the checks found in them
(cardcache.py), and the notes that passed their checks. An entry's
key is a hash of the text and of everything else that changes the output: the versions of
Markdown, its extensions and Pygments, their configuration, and deckbuilder's own source. The
store lives in the user's cache folder, never in the project: a deck project is untrusted input,
and a pull request must not be able to bring its own "cached" HTML. A store that cannot be read,
was written by something else or fails its checks is ignored and rebuilt, never trusted.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

from .model import Card, Diagnostic, Location

CACHE_DIR_ENV = "DECKBUILDER_CACHE_DIR"
"""Overrides the cache folder (tests, CI)."""
_SCHEMA = "deckbuilder-render-cache-1"
_KEEP_SECONDS = 30 * 86400
"""Entries no build used for this long are dropped."""
_MARK_SECONDS = 86400
"""An entry used is marked so when its mark is older than this (one write a day keeps it)."""
_FLUSH_AT = 1000
"""New entries are written once there are this many (a big build's would be a copy of its HTML)."""
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
    for dist in ("markdown", "pymdown-extensions", "pygments", "pyyaml", "genanki"):
        digest.update(f"{dist}={_version(dist)};".encode())
    digest.update(settings.encode())
    package = Path(__file__).parent
    for source in sorted(package.glob("*.py")):
        digest.update(source.name.encode() + b"\0" + source.read_bytes())
    return digest.digest()


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "?"


class RenderCache:
    """HTML of earlier conversions by text; every failure of the store means "not cached"."""

    def __init__(self, folder: Path, fingerprint: bytes) -> None:
        self._fingerprint = fingerprint
        self._path = folder / "render.sqlite"
        self._db: sqlite3.Connection | None = None
        self._new: dict[bytes, str] = {}
        self._hits: list[bytes] = []
        try:
            folder.mkdir(parents=True, exist_ok=True)
            try:
                self._db = self._open()
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
        if self._db is None:
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
        except sqlite3.Error:
            self._forget()
            return {}
        return found

    def store(self, results: dict[str, str], kind: str = "html") -> None:
        self._new.update((self.key(text, kind), result) for text, result in results.items())
        if len(self._new) >= _FLUSH_AT:
            self.flush()

    def flush(self) -> None:
        """Write the entries stored so far and let go of them (a cold build of 10,000 cards
        would otherwise hold a copy of the deck's HTML until `save`)."""
        if self._db is None or not self._new:
            return
        try:
            with self._db:
                self._insert(int(time.time()))
        except sqlite3.Error:
            self._forget()
        self._new.clear()

    def _insert(self, now: int) -> None:
        assert self._db is not None
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
        except sqlite3.Error:
            self._forget()
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
            if not tables:
                with db:
                    db.execute("CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT)")
                    db.execute(
                        "CREATE TABLE entries (key BLOB PRIMARY KEY, html TEXT NOT NULL,"
                        " check_ BLOB NOT NULL, used INTEGER NOT NULL)"
                    )
                    db.execute("INSERT INTO meta VALUES ('schema', ?)", (_SCHEMA,))
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

    def _forget(self) -> None:
        """The store misbehaved: build without it."""
        self.close()
        self._new.clear()


def encode_loaded(cards: tuple[Card, ...], diagnostics: list[Diagnostic]) -> str:
    """A card file's cards and problems as JSON rows, for the cache."""
    rows = [[_row(card) for card in cards], [_row(d) for d in diagnostics]]
    return json.dumps(rows, ensure_ascii=False)


def decode_loaded(text: str) -> tuple[tuple[Card, ...], list[Diagnostic]] | None:
    """What encode_loaded wrote, or None for anything else."""
    try:
        cards, diagnostics = json.loads(text)
        return tuple(_make(Card, row) for row in cards), [_make(Diagnostic, row) for row in diagnostics]
    except (ValueError, TypeError):
        return None


def _row(item: Card | Diagnostic) -> list[Any]:
    return [
        [*astuple(value)] if isinstance(value, Location) else value
        for value in (getattr(item, f.name) for f in dataclasses.fields(item))
    ]


def astuple(location: Location) -> tuple[str, int, int]:
    return (location.path, location.line, location.column)


_T = TypeVar("_T", Card, Diagnostic)


def _make(cls: type[_T], row: list[Any]) -> _T:
    """One model object from its row, every value checked against the field's declared type."""
    converters = _CONVERTERS[cls]
    if type(row) is not list or len(row) != len(converters):
        raise ValueError("not a row of this model")
    return cls(*[convert(value) for convert, value in zip(converters, row, strict=True)])


def _location(value: Any) -> Location:
    path, line, column = value
    if not (type(path) is str and type(line) is int and type(column) is int):
        raise ValueError("not a location")
    return Location(path, line, column)


def _strings(value: Any) -> tuple[str, ...]:
    if type(value) is not list or not all(type(v) is str for v in value):
        raise ValueError("not a list of strings")
    return tuple(value)


def _numbers(value: Any) -> dict[str, int]:
    if type(value) is not dict or not all(type(v) is int for v in value.values()):
        raise ValueError("not a mapping to numbers")
    return value


def _plain(kind: type) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        if type(value) is not kind:
            raise ValueError(f"not a {kind.__name__}")
        return value

    return convert


_CONVERTERS: dict[type, list[Callable[[Any], Any]]] = {
    cls: [
        {
            "Location": _location,
            "tuple[str, ...]": _strings,
            "dict[str, int]": _numbers,
            "str": _plain(str),
            "int": _plain(int),
            "bool": _plain(bool),
        }[str(f.type)]  # a type this does not know: KeyError at import, not a wrong entry later
        for f in dataclasses.fields(cls)
    ]
    for cls in (Card, Diagnostic)
}


def _check(key: bytes, html: object) -> bytes:
    text = html if isinstance(html, str) else repr(html)
    return hashlib.sha256(key + text.encode("utf-8", "surrogatepass")).digest()[:8]


def _batches(keys: list[bytes]) -> Iterator[list[bytes]]:
    for start in range(0, len(keys), _BATCH):
        yield keys[start : start + _BATCH]
