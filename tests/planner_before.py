"""The lock's planner as it was before its speed-up (deckbuilder c593552): the oracle the tests
hold today's planner to. Members' progress depends on the plan (guids, mods, the lock's records,
the release notes' changes): for any input, the two must give the same release and problems.

Copied as it was, but for `dataclasses.replace`, which lock entries (now tuples) do not take.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from deckbuilder.lock import Change, NoteInput, NoteTypeInput, Release, digest
from deckbuilder.lockfile import (
    Entry,
    LockState,
    NoteEntry,
    NoteTypeEntry,
    RenamedEntry,
    RetiredNoteTypes,
)
from deckbuilder.model import Diagnostic, Location


def _replace(entry: NoteEntry, **changes: Any) -> NoteEntry:
    return entry._replace(**changes)


def plan(
    state: LockState,
    notes: list[NoteInput],
    note_types: list[NoteTypeInput],
    identity: str,
    version: int,
    now: int,
    problems: list[Diagnostic],
) -> Release:
    """Lock.plan as it was."""
    planner = _Planner(state, identity, now, problems)
    planner.retire_note_types(version)
    for note in notes:
        planner.take(note)
    planner.mark_removed()
    planner.check_shared_guids(notes)
    planner.update_note_types(note_types)
    return planner.verdict()


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

    def take(self, note: NoteInput) -> None:
        """Match the note with its released entry (by id, then its `was`) and record what changed."""
        old_id = next(
            (
                i
                for i in (note.card_id, *note.was)
                if isinstance(self.entries.get(i), NoteEntry) and i not in self.claimed
            ),
            None,
        )
        if old_id is None:
            self._check_new_id(note)
        found = self.entries.pop(old_id) if old_id is not None else None
        assert found is None or isinstance(found, NoteEntry)
        if found is not None and not found.origin and note.was and found.guid == note.default_guid:
            found = _replace(found, origin=note.was[-1])  # its guid's id, should the card go
        hashes = {name: self.digest(value) for name, value in note.parts.items()}
        if found is None:
            entry = self._added(note, hashes)
        else:
            entry, change = self._changed(note, old_id, found, hashes)
            if change is not None and "deck" in change.what:
                self._check_deck_was(note, found)
            if change is not None:
                restored_only = change.what == ("restored",)
                entry = _replace(
                    entry,
                    hashes=hashes,
                    # A note restored as it was is unchanged in members' collections: no update.
                    mod=entry.mod if restored_only else max(self.now, entry.mod + 1),
                    release=self.number,
                    change=(change.kind, *change.what),
                    moved=self.number if "deck" in change.what else entry.moved,
                    removed=0,
                )
            # Unchanged, it was not removed (a restored note is a change).
        self.entries[note.card_id] = entry
        self.claimed.add(note.card_id)
        self.guids[note.card_id] = entry.guid
        self.mods[note.card_id] = entry.mod

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
            guid=note.default_guid,
            note_type=note.note_type,
            hashes=hashes,
            mod=max(self.now, 1),
            release=self.number,
            change=("added",),
            added=self.number,
            origin=origin if origin != note.card_id else "",
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
        diff = tuple(k for k in hashes if entry.hashes.get(k) != hashes[k])
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
                self.entries[card_id] = _replace(
                    entry, removed=self.number, release=self.number, change=("removed",)
                )

    def check_shared_guids(self, notes: list[NoteInput]) -> None:
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
        changes = tuple(
            Change(card_id, e.change[0], e.change[1:])
            for card_id, e in state.notes.items()
            if isinstance(e, NoteEntry) and e.release == number
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
