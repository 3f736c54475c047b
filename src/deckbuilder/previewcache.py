"""Card sides of the preview kept between builds: a rebuild with `--preview` (what `serve` runs on
every save) renders again only the notes that changed.

Rendering a note's cards from its note type's templates and turning their math into MathML is
most of a preview's cost. What it makes is a function of the note's fields, tags and deck and of
its note type (name, fields, templates), given the code and library versions in the render
cache's fingerprint and the versions of the libraries that make the MathML and the page's JSON:
those are an entry's key. The note's times are not (a draft's change on every build), nor its
place in the deck. An entry holds each of the note's cards: its ordinal, whether a side still has
TeX, and both sides as the page writes them (JSON strings). An entry that does not read back as
exactly that is ignored, and the note rendered afresh.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence

from .notetypes import NoteType
from .package import NoteRecord
from .rendercache import RenderCache, installed_version, metadata_folders

_KIND = "preview-note"
_LIBRARIES = ("latex2mathml", "jinja2", "markupsafe")
_CARD, _PART = "\x01", "\x00"
"""Separators of an entry's cards and of a card's parts: JSON (ASCII, control characters
escaped) never holds them."""

_ESCAPE = re.compile(r'\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})')
_UNESCAPED = re.compile(r"[^ !#-%(-;=?-\[\]-~]")
"""What a JSON string as the page writes it (ASCII, with `<`, `>`, `&` and `'` escaped) never
holds between its quotes once its escapes are taken out."""

Side = tuple[int, bool, str, str]
"""A card's ordinal, whether a side has TeX left, and its question and answer as JSON strings."""


def _versions() -> str:
    folders = metadata_folders()
    return ";".join(f"{dist}={installed_version(dist, folders)}" for dist in _LIBRARIES)


class PreviewSides:
    """The sides of notes' cards from earlier previews; no cache means every note is a miss."""

    def __init__(self, cache: RenderCache | None) -> None:
        self._cache = cache
        self._salt = _versions() if cache is not None else ""
        self._note_types: dict[int, str] = {}
        self._fresh: dict[str, str] = {}

    def _source(self, note: NoteRecord) -> str:
        nt = note.note_type
        if nt.id not in self._note_types:
            self._note_types[nt.id] = hashlib.sha256(repr(nt).encode()).hexdigest()
        inputs = [self._salt, self._note_types[nt.id], note.fields, note.tags, note.deck]
        return json.dumps(inputs, ensure_ascii=False)

    def lookup(self, notes: Sequence[NoteRecord]) -> dict[int, list[Side]]:
        """The cards of each note (by index) an entry holds."""
        if self._cache is None:
            return {}
        sources = [self._source(note) for note in notes]
        kept = self._cache.lookup(sources, _KIND)
        found = {}
        for index, source in enumerate(sources):
            value = kept.get(source)
            sides = _decode(value, notes[index].note_type) if value is not None else None
            if sides is not None:
                found[index] = sides
        return found

    def keep(self, note: NoteRecord, sides: list[Side]) -> None:
        if self._cache is None:
            return
        entry = _CARD.join(f"{o}{_PART}{int(m)}{_PART}{q}{_PART}{a}" for o, m, q, a in sides)
        self._fresh[self._source(note)] = entry

    def save(self) -> None:
        if self._cache is not None:
            self._cache.store(self._fresh, _KIND)
            self._cache.save()
            self._fresh = {}


def _decode(value: str, nt: NoteType) -> list[Side] | None:
    """What `keep` wrote, or None for anything else."""
    if not value:
        return None  # a note with no card is never kept: its problems are the build's
    sides = []
    limit = 500 if nt.kind.cloze else len(nt.templates)  # Anki's cloze numbers go up to 500
    for card in value.split(_CARD):
        parts = card.split(_PART)
        if len(parts) != 4:
            return None
        ord_, math, question, answer = parts
        if not (ord_.isascii() and ord_.isdigit() and int(ord_) < limit and math in ("0", "1")):
            return None
        if not all(_is_json_string(s) for s in (question, answer)):
            return None
        sides.append((int(ord_), math == "1", question, answer))
    return sides


def _is_json_string(text: str) -> bool:
    if len(text) < 2 or text[0] != '"' or text[-1] != '"':
        return False
    return _UNESCAPED.search(_ESCAPE.sub("", text[1:-1])) is None
