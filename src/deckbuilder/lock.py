"""The lock's verdict on a build: which notes are new, changed, renamed or removed since the release.

Anki updates a note on import only when the package's note `mod` is newer than the member's.
`decks/<deck>.lock.json` (lockfile.py) keeps each released note's guid and mod; planning gives a
new mod only to notes whose content changed. A plan is a draft until `build-deck release`
writes its state as the next release.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from .lockfile import (
    Entry,
    LockConflict,
    LockFileError,
    LockInconsistent,
    LockState,
    NoteEntry,
    NoteTypeEntry,
    RenamedEntry,
    RetiredNoteTypes,
    check_guids,
    dump,
    parse,
)
from .model import DeckSpec, Diagnostic, Location
from .projectfiles import ProjectFileError, read_project_file


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class NoteInput(NamedTuple):
    """What the build knows of a note before the lock gives it a mod (a tuple: one per card)."""

    card_id: str
    was: tuple[str, ...]
    default_guid: str
    """The guid when the lock has no history: from the oldest id (the last `was`)."""
    note_type: str
    """Id of the note's note type, as text."""
    parts: dict[str, str]
    """Everything Anki stores for the note (fields, tags, deck, type), by name."""
    location: Location
    deck_was: Location | None = None
    """Where the card says which deck its released note was in (`deck_was`)."""
    deck_was_name: str = ""
    """That deck's full name."""


@dataclass(frozen=True)
class NoteTypeInput:
    key: str
    """The note type's id, as text."""
    name: str
    fields: tuple[str, ...]
    fingerprint: str


class Change(NamedTuple):
    """One note's change in a release (a tuple: a first release has one per card)."""

    card_id: str
    kind: str
    """added, changed, renamed or removed."""
    what: tuple[str, ...] = ()
    """For changed: the parts that changed; for renamed: the earlier id, then the parts."""


@dataclass(frozen=True)
class Release:
    """The lock's verdict for one build."""

    number: int
    """The release this build makes (the last one + 1), or the last one if nothing changed."""
    time: int
    guids: dict[str, str]
    mods: dict[str, int]
    note_type_mods: dict[str, int]
    changes: tuple[Change, ...]
    """Changes of `number`: this build's, or the last release's if nothing changed."""
    note_type_changes: tuple[str, ...]
    retired_note_types: tuple[str, ...]
    """Names of note types `number` replaced (a note_type_version bump)."""
    new_now: bool
    """True when the cards differ from the last release: this build is release `number` or its draft."""
    state: LockState
    """The lock as release `number` leaves it."""


GuidFor = Callable[[int, str], str]
"""The guid of a card id under a note_type_version (the identity is bound)."""


class Lock:
    def __init__(self, path: Path, rel: str, state: LockState, text: str = "") -> None:
        self.path = path
        self.rel = rel
        self.state = state
        self.text = text

    @classmethod
    def for_deck(cls, root: Path, deck: DeckSpec, problems: list[Diagnostic]) -> Lock:
        deck_file = root / deck.location.path
        path = deck_file.with_name(f"{deck_file.stem}.lock.json")
        rel = path.relative_to(root).as_posix()
        lock = cls(path, rel, LockState())
        if path.exists() or path.is_symlink():
            try:
                lock.text = read_project_file(root, path).decode("utf-8")
                lock.state = parse(lock.text, rel)
            except ProjectFileError as e:
                problems.append(Diagnostic(Location(rel, 0), f"the lock file {e}", code="lock-unreadable"))
            except LockConflict as e:
                location = Location(rel, e.line or lock.line_of(e.key))
                problems.append(Diagnostic(location, lock.advice(e), code="lock-conflict"))
            except LockInconsistent as e:
                location = Location(rel, e.line or lock.line_of(e.key))
                problems.append(Diagnostic(location, lock.advice(e), code="lock-inconsistent"))
            except LockFileError as e:
                location = Location(rel, e.line or lock.line_of(e.key))
                problems.append(Diagnostic(location, lock.advice(e), code="lock-unreadable"))
            except (ValueError, RecursionError) as e:
                line = getattr(e, "lineno", None) or 1
                problems.append(Diagnostic(Location(rel, line), lock.advice(e), code="lock-unreadable"))
        return lock

    @staticmethod
    def advice(e: Exception) -> str:
        if isinstance(e, LockConflict):
            return str(e)
        what = f"{e}" if isinstance(e, LockInconsistent) else f"unreadable lock file ({e})"
        return f"{what}; restore it from version control"

    def line_of(self, key: str) -> int:
        """The line where `key` is a key of the lock (its last such line, for a duplicate)."""
        index = self.text.rfind(json.dumps(key, ensure_ascii=False) + ":") if key else -1
        return self.text.count("\n", 0, index) + 1 if index >= 0 else 1

    def identity(self, deck: DeckSpec, problems: list[Diagnostic]) -> str:
        """The released identity wins: note guids and note type ids derive from it."""
        released = self.state.identity
        if not released or released == deck.identity:
            return deck.identity
        if deck.identity_line:
            problems.append(
                Diagnostic(
                    Location(deck.location.path, deck.identity_line),
                    f"identity '{deck.identity}' differs from '{released}', released in "
                    f"release {self.state.release} ({self.rel}); every note would become new for "
                    f"members. Set 'identity: {released}' (an identity is free to change only "
                    "before the first release)",
                    code="identity-changed",
                )
            )
        return released

    def check_version(self, deck: DeckSpec, problems: list[Diagnostic]) -> None:
        """Note type versions only go up: an old version's notes are history in Anki."""
        released = self.state.note_type_version
        used = {r.note_type_version for r in self.state.retired}
        if self.state.notes and (deck.note_type_version < released or deck.note_type_version in used):
            problems.append(
                Diagnostic(
                    Location(deck.location.path, deck.note_type_version_line or 1),
                    f"note_type_version {deck.note_type_version} was already released "
                    f"({self.rel}); versions only go up: the next is {max({released, *used}) + 1}",
                    code="note-type-version",
                )
            )

    def check_note_types(
        self, note_types: list[NoteTypeInput], deck: DeckSpec, problems: list[Diagnostic]
    ) -> None:
        """A released note type's field list is frozen: Anki would fork it and stop updating."""
        for nt in note_types:
            old = self.state.note_types.get(nt.key)
            if old is None or old.fields == nt.fields:
                continue
            problems.append(
                Diagnostic(
                    Location(self.rel, self.line_of(nt.key)),
                    f"note type '{nt.name}' was released with fields {', '.join(old.fields)}; "
                    f"this build has {', '.join(nt.fields)}. Anki would import it as a copy and "
                    "update none of the members' notes. Keep the released fields, or release "
                    f"new note types: set 'note_type_version: {deck.note_type_version + 1}' in "
                    f"{deck.location.path} (members then get every note anew; their old notes "
                    "and reviews stay, and the release notes tell them how to find the old ones)",
                    code="note-type-fields",
                )
            )

    def check_guids(self, notes: list[NoteInput], guid_for: GuidFor, problems: list[Diagnostic]) -> None:
        """Each released guid must be one the identity gives the note's ids (not a hand edit)."""
        version = self.state.note_type_version
        known = {note.card_id: note.was for note in notes}
        for card_id, message in check_guids(self.state, lambda i: guid_for(version, i), known):
            location = Location(self.rel, self.line_of(card_id))
            advice = self.advice(LockInconsistent(message))
            problems.append(Diagnostic(location, advice, code="lock-inconsistent"))

    def plan(
        self,
        notes: list[NoteInput],
        note_types: list[NoteTypeInput],
        identity: str,
        version: int,
        now: int,
        problems: list[Diagnostic],
        digest_of: Callable[[str], str] = digest,
    ) -> Release:
        """The release these notes make (only a draft until `build-deck release` writes it).

        `digest_of`: `digest`, or a function giving the same digests faster (a memo)."""
        planner = _Planner(self.state, identity, now, problems, digest_of)
        planner.retire_note_types(version)
        planner.take_all(notes)
        planner.mark_removed()
        planner.check_shared_guids(notes)
        planner.update_note_types(note_types)
        return planner.verdict()

    @staticmethod
    def dump(state: LockState) -> bytes:
        return dump(state)


class _Planner:
    """The steps of planning a release, over a working copy of the lock's records."""

    def __init__(
        self,
        state: LockState,
        identity: str,
        now: int,
        problems: list[Diagnostic],
        digest_of: Callable[[str], str] = digest,
    ) -> None:
        self.digest = digest_of
        self.old = state
        self.identity = identity
        self.now = now
        self.problems = problems
        self.number = state.release + 1
        self.version = state.note_type_version
        self.entries: dict[str, Entry] = dict(state.notes)
        self.note_types: dict[str, NoteTypeEntry] = dict(state.note_types)
        self.retired = list(state.retired)
        self.guids: dict[str, str] = {}
        self.mods: dict[str, int] = {}
        self.note_type_mods: dict[str, int] = {}
        self.claimed: set[str] = set()
        self.reported: set[str] = set()
        self.reported_deck_was: set[Location] = set()
        self.guid_owners: dict[str, str] = {}
        self.added_mod = max(now, 1)

    def retire_note_types(self, version: int) -> None:
        """New note types (a version bump): every note is new to Anki; the old ones are history."""
        if self.entries and version != self.version:
            self.retired.append(
                RetiredNoteTypes(
                    note_type_version=self.version,
                    release=self.number,
                    note_types=tuple(sorted(nt.name for nt in self.note_types.values())),
                    notes=self.entries,
                )
            )
            self.entries, self.note_types = {}, {}
        self.version = version
        self.guid_owners = {entry.guid: card_id for card_id, entry in self.entries.items()}

    def take_all(self, notes: list[NoteInput]) -> None:
        """take() each note. The two kinds most notes are, a note new to the lock (no `was`, no
        entry for its id, its guid no released note's) and a released note unchanged under its
        own id, are taken without the steps that find, compare and check an entry."""
        entries, claimed, owners, digest = self.entries, self.claimed, self.guid_owners, self.digest
        guids, mods, number, added_mod = self.guids, self.mods, self.number, self.added_mod
        make = tuple.__new__  # (NoteEntry(...) without its Python-level __new__)
        for note in notes:
            if note.was:
                self.take(note)
                continue
            card_id, parts = note.card_id, note.parts
            entry = entries.get(card_id)
            if entry is None:
                if note.default_guid in owners:  # a released note's guid: checked by take()
                    self.take(note)
                    continue
                hashes = dict(zip(parts, map(digest, parts.values()), strict=True))
                fresh = (
                    note.default_guid,
                    note.note_type,
                    hashes,
                    added_mod,
                    number,
                    ("added",),
                    number,
                    0,
                    0,
                    "",
                )
                entry = entries[card_id] = make(NoteEntry, fresh)  # as _added makes it
            elif (
                type(entry) is NoteEntry
                and card_id not in claimed
                and not entry.removed
                and (not entry.note_type or entry.note_type == note.note_type)
                and entry.hashes == dict(zip(parts, map(digest, parts.values()), strict=True))
            ):
                del entries[card_id]  # (as take() pops it and sets it again)
                entries[card_id] = entry
            else:
                self.take(note)
                continue
            claimed.add(card_id)
            guids[card_id] = entry.guid
            mods[card_id] = entry.mod

    def take(self, note: NoteInput) -> None:
        """Match the note with its released entry (by id, then its `was`) and record what changed."""
        entries, claimed, card_id = self.entries, self.claimed, note.card_id
        old_id = None
        if note.was or card_id in entries:  # (else no entry to find: a new id without `was`)
            ids = (card_id, *note.was)
            old_id = next(
                (i for i in ids if isinstance(entries.get(i), NoteEntry) and i not in claimed), None
            )
        parts = note.parts
        hashes = dict(zip(parts, map(self.digest, parts.values()), strict=True))
        if old_id is None:
            if card_id in entries or note.default_guid in self.guid_owners:
                self._check_new_id(note)  # (neither: nothing to check)
            entry = self._added(note, hashes)
        else:
            found = entries.pop(old_id)
            assert isinstance(found, NoteEntry)
            if not found.origin and note.was and found.guid == note.default_guid:
                found = found._replace(origin=note.was[-1])  # its guid's id, should the card go
            entry, change = self._changed(note, old_id, found, hashes)
            if change is not None and "deck" in change.what:
                self._check_deck_was(note, found)
            if change is not None:
                restored_only = change.what == ("restored",)
                entry = entry._replace(
                    hashes=hashes,
                    # A note restored as it was is unchanged in members' collections: no update.
                    mod=entry.mod if restored_only else max(self.now, entry.mod + 1),
                    release=self.number,
                    change=(change.kind, *change.what),
                    moved=self.number if "deck" in change.what else entry.moved,
                    removed=0,
                )
            # Unchanged, it was not removed (a restored note is a change).
        entries[card_id] = entry
        claimed.add(card_id)
        self.guids[card_id] = entry.guid
        self.mods[card_id] = entry.mod

    def _check_deck_was(self, note: NoteInput, released: NoteEntry) -> None:
        """A card moving to another deck that names its old one must name the one members have."""
        if note.deck_was is None or released.hashes.get("deck") == digest(note.deck_was_name):
            return
        if note.deck_was in self.reported_deck_was:
            return  # one error for a file's `deck_was`, at its first card that contradicts it
        self.reported_deck_was.add(note.deck_was)
        self.problems.append(
            Diagnostic(
                note.deck_was,
                f"card '{note.card_id}': 'deck_was' says release {self.old.release} had it in "
                f"'{note.deck_was_name}', but it was in another deck; the release notes would tell "
                "members to rename a deck they do not have. Name the deck it was in, or drop "
                "'deck_was' (members are then told to move its cards by a search)",
                code="bad-deck-was",
            )
        )

    def _check_new_id(self, note: NoteInput) -> None:
        """A note the lock does not know must not take an id (or guid) a released note had."""
        tombstone = self.entries.get(note.card_id)
        if isinstance(tombstone, RenamedEntry) and note.card_id not in note.was:
            self.reported.add(note.card_id)
            self.problems.append(
                Diagnostic(
                    note.location,
                    f"card id '{note.card_id}' belonged to the card renamed to "
                    f"'{tombstone.renamed_to}' in release {tombstone.release}; "
                    "ids are never reused (members' notes know it), choose another",
                    code="id-reused",
                )
            )
        owner = self.guid_owners.get(note.default_guid, note.card_id)
        if owner != note.card_id and note.card_id not in self.reported:
            self.reported.add(note.card_id)
            self.problems.append(
                Diagnostic(
                    note.location,
                    f"card '{note.card_id}' would take over the note of card '{owner}': they "
                    "share one identity (an earlier id of one, or a 'was' of the other); ids "
                    "are never reused, so choose another id or 'was'",
                    code="id-reused",
                )
            )

    def _added(self, note: NoteInput, hashes: dict[str, str]) -> NoteEntry:
        origin = note.was[-1] if note.was else note.card_id
        return NoteEntry(
            note.default_guid,  # guid
            note.note_type,
            hashes,
            self.added_mod,  # mod
            self.number,  # release
            ("added",),  # change
            self.number,  # added
            0,  # moved
            0,  # removed
            origin if origin != note.card_id else "",  # origin
        )

    def _changed(
        self, note: NoteInput, old_id: str | None, entry: NoteEntry, hashes: dict[str, str]
    ) -> tuple[NoteEntry, Change | None]:
        if entry.note_type and entry.note_type != note.note_type:
            name = self.note_types[nt].name if (nt := entry.note_type) in self.note_types else nt
            self.problems.append(
                Diagnostic(
                    note.location,
                    f"card '{note.card_id}' was released as a '{name}' note; Anki cannot change "
                    "a note's type on import, so members' copies would stop updating. Keep "
                    "its type, or give the card a new id without 'was' (members then get a "
                    "new note and keep the old one)",
                    code="type-changed",
                )
            )
        # (Most released notes are unchanged: one comparison of the dicts says so.)
        diff = () if entry.hashes == hashes else tuple(k for k in hashes if entry.hashes.get(k) != hashes[k])
        if old_id != note.card_id:
            assert old_id is not None
            self.entries[old_id] = RenamedEntry(note.card_id, entry.guid, self.number)
            return entry, Change(note.card_id, "renamed", (old_id, *diff))
        if entry.removed:
            return entry, Change(note.card_id, "changed", ("restored", *diff))
        return entry, Change(note.card_id, "changed", diff) if diff else None

    def mark_removed(self) -> None:
        """Released notes no card claims any more: removed now (members keep them)."""
        for card_id, entry in self.entries.items():
            if card_id not in self.claimed and isinstance(entry, NoteEntry) and not entry.removed:
                self.entries[card_id] = entry._replace(
                    removed=self.number, release=self.number, change=("removed",)
                )

    def check_shared_guids(self, notes: list[NoteInput]) -> None:
        if len(set(self.guids.values())) == len(notes):
            return  # as many guids as notes: none shares one
        by_guid: dict[str, str] = {}
        for note in notes:
            other = by_guid.setdefault(self.guids[note.card_id], note.card_id)
            if other != note.card_id and note.card_id not in self.reported:
                self.problems.append(
                    Diagnostic(
                        note.location,
                        f"card '{note.card_id}' has the identity of card '{other}'",
                        code="identity-clash",
                    )
                )

    def update_note_types(self, note_types: list[NoteTypeInput]) -> None:
        for nt in note_types:
            old = self.note_types.get(nt.key)
            if old is None or old.fingerprint != nt.fingerprint:
                mod = max(self.now, (old.mod if old else 0) + 1)
                self.note_types[nt.key] = NoteTypeEntry(nt.name, nt.fields, nt.fingerprint, mod, self.number)
            self.note_type_mods[nt.key] = self.note_types[nt.key].mod

    def verdict(self) -> Release:
        changed = any(nt.release == self.number for nt in self.note_types.values()) or any(
            isinstance(e, NoteEntry) and e.release == self.number for e in self.entries.values()
        )
        number = self.number if changed else self.old.release
        state = LockState(
            identity=self.identity,
            release=number,
            time=max([self.now, *self.mods.values(), *self.note_type_mods.values()])
            if changed
            else self.old.time,
            built=self.now if changed else self.old.built,
            note_type_version=self.version,
            note_types=self.note_types,
            notes=dict(sorted(self.entries.items())),
            retired=tuple(self.retired),
        )
        # Describe release `number`, so a build without changes writes the same notes.
        make = tuple.__new__  # (Change(...) without its Python __new__: a first release has one per note)
        changes = tuple(
            [
                make(Change, (card_id, e.change[0], e.change[1:]))
                for card_id, e in state.notes.items()
                if isinstance(e, NoteEntry) and e.release == number
            ]
        )
        return Release(
            number=number,
            time=state.time,
            guids=self.guids,
            mods=self.mods,
            note_type_mods=self.note_type_mods,
            changes=changes,
            note_type_changes=tuple(
                sorted(nt.name for nt in state.note_types.values() if nt.release == number)
            ),
            retired_note_types=tuple(
                sorted(n for r in state.retired if r.release == number for n in r.note_types)
            ),
            new_now=changed,
            state=state,
        )
