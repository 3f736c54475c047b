"""A draft rebuilt with nothing changed keeps its time, so its package stays the one in `dist/`.

A draft's changed notes get the build's time, so every draft used to be new bytes. Now a build
remembers, in the render cache, the last draft it wrote of each deck (by the project's folder
and the deck file): a digest of every input of the plan but its time (the lock file, the deck
file's settings, the note types as rendered, each note's id, guid, fields, tags and deck), the
time, a digest of the rest of the package (description, media bytes, note type times) and the
digest of the file written. A later draft of the same deck whose inputs have that digest takes
that time, and so is the same package, while the file at its output path still has the digest
written (an edited or deleted package, or another output folder, gets a new time and is written).
A draft whose media changed while it was written (the package holds other bytes than its
record's digest of them) is not remembered.

Anki updates a note on import only when the package's mod is newer than the collection's. A
remembered time must therefore be the deck's LAST draft: had the author imported a later
draft (other cards, a newer time), an earlier draft's time would be older than their notes and
the import would change nothing. So there is one record per deck, replaced by every draft a
build with this cache writes and dropped by every other package it writes of the deck (a
release, a SOURCE_DATE_EPOCH build, the deck as released); a build without the cache into the
same folder leaves a file the record does not know. A time after the build's clock (the clock
went back, or a made-up record) would keep the author's notes "newer" than every later build
until then, and one before the lock's release would not update the release's notes: neither is
taken.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import operator
from array import array
from collections.abc import Mapping
from pathlib import Path

from .lock import Lock, NoteInput
from .model import DeckSpec
from .notetypes import NoteType
from .package import PackageContent
from .packagecache import file_digest, inputs_digest
from .rendercache import RenderCache, entry_list

_KIND = "draft-time"


@dataclasses.dataclass(frozen=True)
class DraftRecord:
    """The last draft a build wrote of a deck."""

    inputs: str
    """plan_inputs() of its plan."""
    time: int
    rest: str
    """rest_digest() of its package's content."""
    package: str
    """The digest of the file written."""

    def encode(self) -> str:
        return json.dumps([self.inputs, self.time, self.rest, self.package])

    @classmethod
    def decode(cls, text: str) -> DraftRecord | None:
        """What encode wrote, or None for anything else (a damaged or foreign entry)."""
        fields = entry_list(text, 4)
        if fields is None:
            return None
        inputs, when, rest, package = fields
        if not (type(inputs) is type(rest) is type(package) is str and type(when) is int and when > 0):
            return None
        return cls(inputs, when, rest, package)


def plan_inputs(
    lock: Lock,
    identity: str,
    spec: DeckSpec,
    note_types: Mapping[str, NoteType],
    notes: list[NoteInput],
    tags: list[tuple[str, ...]],
) -> str:
    """A digest of everything a deck's plan and its notes are made of but the time: what the
    lock is given (each note's ids, guid, parts), the lock itself and the notes' tags (`tags`:
    each note's)."""
    known = repr((lock.text, identity, spec, sorted(note_types.items())))
    digest = hashlib.sha256(known.encode("utf-8", "surrogatepass"))
    parts = list(map(_PARTS, notes))
    was = list(map(_WAS, notes))
    # Column by column (a loop over the notes would cost more than the rest of this).
    digest.update(array("Q", [*map(len, parts), *map(len, was), *map(len, tags)]).tobytes())
    digest.update(bytes([note.deck_was is None for note in notes]))
    chain = itertools.chain.from_iterable
    for column in (
        list(map(_CARD_ID, notes)),
        list(map(_DEFAULT_GUID, notes)),
        list(map(_NOTE_TYPE, notes)),
        list(map(_DECK_WAS_NAME, notes)),
        list(chain(map(dict.values, parts))),
        list(chain(was)),
        list(chain(tags)),
    ):
        text = "\0".join(column)
        digest.update(f"\0{len(column)}\0".encode())
        if text.count("\0") != len(column) - 1:  # a string with a NUL: their lengths tell them apart
            digest.update(array("Q", map(len, column)).tobytes())
        digest.update(text.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


_CARD_ID, _WAS, _DEFAULT_GUID, _NOTE_TYPE, _PARTS, _DECK_WAS_NAME = (
    operator.attrgetter(name)
    for name in ("card_id", "was", "default_guid", "note_type", "parts", "deck_was_name")
)


def rest_digest(content: PackageContent) -> str | None:
    """A digest of what the package holds besides its notes (their inputs are plan_inputs'):
    deck name, description, note type times, media names and bytes, its time; None when a
    media file cannot be read."""
    return inputs_digest(dataclasses.replace(content, notes=(), card_ords=()))


class DraftTimes:
    """The records of the last drafts of a project's decks, for one build."""

    def __init__(self, cache: RenderCache, root: Path, out: Path) -> None:
        self._cache = cache
        self._root = root
        self._out = out
        self._records: dict[str, DraftRecord | None] = {}
        """The record each deck had at the start of the build (by its entry's name)."""
        self._kept: set[str] = set()
        """Decks whose draft is the package on disk: nothing to write."""
        self._wrote: dict[str, tuple[Path, DraftRecord, PackageContent]] = {}
        """Records to store once the packages are written (their `package` is ""), with what
        of the package their `rest` is a digest of."""
        self._dropped: set[str] = set()

    def _name(self, spec: DeckSpec) -> str:
        return f"{self._root}\0{spec.location.path}"

    def _record(self, spec: DeckSpec) -> DraftRecord | None:
        name = self._name(spec)
        if name not in self._records:
            text = self._cache.lookup([name], _KIND).get(name)
            self._records[name] = DraftRecord.decode(text) if text is not None else None
        return self._records[name]

    def earlier(self, spec: DeckSpec, inputs: str, now: int, released: int) -> DraftRecord | None:
        """The deck's last draft, if it had these inputs, a time neither after `now` nor
        before `released` (the lock's release time), and its package is still the file in
        the output folder."""
        record = self._record(spec)
        if record is None or record.inputs != inputs or not released <= record.time <= now:
            return None
        if file_digest(self._out / spec.output) != record.package:
            return None
        return record

    def kept(self, spec: DeckSpec) -> None:
        """This build's draft is the earlier one, whose package is on disk."""
        self._kept.add(self._name(spec))

    def is_kept(self, spec: DeckSpec) -> bool:
        return self._name(spec) in self._kept

    def will_write(self, spec: DeckSpec, inputs: str, time: int, rest: str, content: PackageContent) -> None:
        """This build writes a draft of the deck with that time: its record, once written."""
        record = DraftRecord(inputs, time, rest, "")
        rest_only = dataclasses.replace(content, notes=(), card_ords=())  # (the notes are not held)
        self._wrote[self._name(spec)] = (self._out / spec.output, record, rest_only)

    def no_draft(self, spec: DeckSpec) -> None:
        """This build writes a package of the deck that is no draft to keep."""
        self._record(spec)
        self._dropped.add(self._name(spec))

    def save(self, cache: RenderCache) -> None:
        """Store the records of the drafts written (after the writes, into `cache`; call its
        `save` after) and drop those of decks written otherwise."""
        entries = {}
        for name in self._dropped:
            if self._records.get(name) is not None:
                entries[name] = ""
        for name, (path, record, content) in self._wrote.items():
            written = file_digest(path)
            if rest_digest(content) != record.rest:
                # A media file saved since the deck was planned: the package holds its new
                # bytes, the record the old ones (the edit undone, it would be kept).
                written = None
            entries[name] = dataclasses.replace(record, package=written).encode() if written else ""
        if entries:
            cache.store(entries, _KIND)
