"""The lock file: what each package last released, so that only changed notes move forward.

Anki updates a note on import only when the package's note `mod` is newer than the member's.
`decks/<deck>.lock.json` (committed beside the deck file) keeps the package's identity, each
note's guid, note type, content hashes and mod; a build gives a new mod only to notes whose
content changed, and counts releases.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .model import DeckSpec, Diagnostic, Location

LOCK_FORMAT = 1


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class NoteInput:
    """What the build knows of a note before the lock gives it a mod."""

    card_id: str
    was: tuple[str, ...]
    default_guid: str
    """The guid when the lock has no history: from the oldest id (the last `was`)."""
    note_type: str
    """Id of the note's note type, as text."""
    parts: dict[str, str]
    """Everything Anki stores for the note (fields, tags, deck, type), by name."""
    location: Location


@dataclass(frozen=True)
class NoteTypeInput:
    key: str
    """The note type's id, as text."""
    name: str
    fields: tuple[str, ...]
    fingerprint: str


@dataclass
class Change:
    card_id: str
    kind: str
    """added, changed, renamed or removed."""
    what: list[str] = field(default_factory=list)
    """For changed: the parts that changed; for renamed: the earlier id, then the parts."""


@dataclass
class Release:
    """The lock's verdict for one build."""

    number: int
    time: int
    guids: dict[str, str]
    mods: dict[str, int]
    note_type_mods: dict[str, int]
    changes: list[Change]
    """Changes of the latest release (this build's, or the last one's if nothing changed)."""
    note_type_changes: list[str]
    retired_note_types: list[str]
    """Names of note types the latest release replaced (a note_type_version bump)."""
    new_now: bool
    """True when this build is a new release."""
    lock_changed: bool
    """True when the lock file must be written (a new release, or facts it lacked)."""
    data: dict[str, Any]


_ENTRY_KEYS = {"guid": str, "hashes": dict, "mod": int, "release": int, "change": list}


class Lock:
    def __init__(self, path: Path, rel: str, data: dict[str, Any]) -> None:
        self.path = path
        self.rel = rel
        self.data = data

    @classmethod
    def for_deck(cls, root: Path, deck: DeckSpec, problems: list[Diagnostic]) -> Lock:
        deck_file = root / deck.location.path
        path = deck_file.with_name(f"{deck_file.stem}.lock.json")
        rel = path.relative_to(root).as_posix()
        lock = cls(path, rel, empty_lock())
        if path.is_file():
            try:
                lock.data = _validated(json.loads(path.read_text(encoding="utf-8")))
            except (ValueError, UnicodeDecodeError, RecursionError) as e:
                line = getattr(e, "lineno", None) or lock.line_of(getattr(e, "key", ""))
                problems.append(
                    Diagnostic(
                        Location(rel, line),
                        f"unreadable lock file ({e}); restore it from version control",
                        code="lock-unreadable",
                    )
                )
        elif path.exists():
            problems.append(
                Diagnostic(Location(rel, 0), "the lock file is not a file", code="lock-unreadable")
            )
        return lock

    def line_of(self, needle: str) -> int:
        if not needle or not self.path.is_file():
            return 1
        text = self.path.read_text(encoding="utf-8", errors="replace")
        index = text.find(f'"{needle}"')
        return text.count("\n", 0, index) + 1 if index >= 0 else 1

    def identity(self, deck: DeckSpec, problems: list[Diagnostic]) -> str:
        """The released identity wins: note guids and note type ids derive from it."""
        released = self.data.get("identity")
        if not released or released == deck.identity:
            return deck.identity
        if deck.identity_line:
            problems.append(
                Diagnostic(
                    Location(deck.location.path, deck.identity_line),
                    f"identity '{deck.identity}' differs from the released '{released}' "
                    f"({self.rel}); every note would become new for members. "
                    f"Set 'identity: {released}'",
                    code="identity-changed",
                )
            )
        return str(released)

    def check_version(self, deck: DeckSpec, problems: list[Diagnostic]) -> None:
        """Note type versions only go up: an old version's notes are history in Anki."""
        released = self.data.get("note_type_version", 1)
        used = {r["note_type_version"] for r in self.data.get("retired", [])}
        if self.data["notes"] and (deck.note_type_version < released or deck.note_type_version in used):
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
        released = self.data["note_types"]
        for nt in note_types:
            old = released.get(nt.key)
            if old is None or tuple(old["fields"]) == nt.fields:
                continue
            problems.append(
                Diagnostic(
                    Location(self.rel, self.line_of(nt.key)),
                    f"note type '{nt.name}' was released with fields {', '.join(old['fields'])}; "
                    f"this build has {', '.join(nt.fields)}. Anki would import it as a copy and "
                    "update none of the members' notes. Keep the released fields, or release "
                    f"new note types: set 'note_type_version: {deck.note_type_version + 1}' in "
                    f"{deck.location.path} (members then get every note anew; their old notes "
                    "and reviews stay, and the release notes tell them how to find the old ones)",
                    code="note-type-fields",
                )
            )

    def plan(
        self,
        notes: list[NoteInput],
        note_types: list[NoteTypeInput],
        identity: str,
        version: int,
        now: int,
        problems: list[Diagnostic],
    ) -> Release:
        data = json.loads(json.dumps(self.data))  # a deep copy to update
        data["identity"] = identity
        number = data["release"] + 1
        retired: list[str] = []
        if data["notes"] and data.get("note_type_version", 1) != version:
            # New note types: every note is new to Anki (new guids); the old ones are history.
            retired = sorted(v["name"] for v in data["note_types"].values())
            history = {
                "note_type_version": data.get("note_type_version", 1),
                "release": number,
                "note_types": retired,
                "notes": data["notes"],
            }
            data["retired"] = [*data.get("retired", []), history]
            data["notes"], data["note_types"] = {}, {}
        data["note_type_version"] = version
        entries: dict[str, dict[str, Any]] = data["notes"]
        names = {key: value["name"] for key, value in data["note_types"].items()}
        guids: dict[str, str] = {}
        mods: dict[str, int] = {}
        claimed: set[str] = set()
        reported: set[str] = set()
        guid_owners = {entry["guid"]: card_id for card_id, entry in entries.items()}

        for note in notes:
            old_id = next(
                (
                    i
                    for i in (note.card_id, *note.was)
                    if i in entries and i not in claimed and "renamed_to" not in entries[i]
                ),
                None,
            )
            tombstone = entries.get(note.card_id, {})
            if old_id is None and "renamed_to" in tombstone and note.card_id not in note.was:
                reported.add(note.card_id)
                problems.append(
                    Diagnostic(
                        note.location,
                        f"card id '{note.card_id}' belonged to the card renamed to "
                        f"'{tombstone['renamed_to']}' in release {tombstone['release']}; "
                        "ids are never reused (members' notes know it), choose another",
                        code="id-reused",
                    )
                )
            entry = entries.pop(old_id) if old_id is not None else None
            hashes = {name: digest(value) for name, value in note.parts.items()}
            owner = guid_owners.get(note.default_guid, note.card_id)
            if entry is None and owner != note.card_id and note.card_id not in reported:
                reported.add(note.card_id)
                problems.append(
                    Diagnostic(
                        note.location,
                        f"card '{note.card_id}' would take over the note of card '{owner}': they "
                        "share one identity (an earlier id of one, or a 'was' of the other); ids "
                        "are never reused, so choose another id or 'was'",
                        code="id-reused",
                    )
                )
            if entry is None:
                entry = {
                    "guid": note.default_guid,
                    "hashes": {},
                    "mod": 0,
                    "release": number,
                    "change": ["added"],
                    "note_type": note.note_type,
                }
                change: Change | None = Change(note.card_id, "added")
            else:
                released_type = entry.get("note_type", note.note_type)
                if released_type != note.note_type:
                    problems.append(
                        Diagnostic(
                            note.location,
                            f"card '{note.card_id}' was released as a "
                            f"'{names.get(released_type, released_type)}' note; Anki cannot change "
                            "a note's type on import, so members' copies would stop updating. Keep "
                            "its type, or give the card a new id without 'was' (members then get a "
                            "new note and keep the old one)",
                            code="type-changed",
                        )
                    )
                change = None
                diff = [k for k in hashes if entry["hashes"].get(k) != hashes[k]]
                if old_id != note.card_id:
                    change = Change(note.card_id, "renamed", [str(old_id), *diff])
                    entries[str(old_id)] = {
                        "renamed_to": note.card_id,
                        "guid": entry["guid"],
                        "release": number,
                    }
                elif entry.get("removed"):
                    change = Change(note.card_id, "changed", ["restored", *diff])
                elif diff:
                    change = Change(note.card_id, "changed", diff)
            entry.pop("removed", None)
            if change is not None:
                entry["hashes"] = hashes
                if change.kind != "changed" or change.what != ["restored"]:
                    # A note restored as it was is unchanged in members' collections: no update.
                    entry["mod"] = max(now, entry["mod"] + 1)
                entry["release"] = number
                entry["change"] = [change.kind, *change.what]
            entries[note.card_id] = entry
            claimed.add(note.card_id)
            guids[note.card_id] = entry["guid"]
            mods[note.card_id] = entry["mod"]

        for card_id, entry in entries.items():
            if card_id not in claimed and "renamed_to" not in entry and not entry.get("removed"):
                entry["removed"] = number
                entry["release"] = number
                entry["change"] = ["removed"]

        by_guid: dict[str, str] = {}
        for note in notes:
            other = by_guid.setdefault(guids[note.card_id], note.card_id)
            if other != note.card_id and note.card_id not in reported:
                problems.append(
                    Diagnostic(
                        note.location,
                        f"card '{note.card_id}' has the identity of card '{other}'",
                        code="identity-clash",
                    )
                )

        nt_changes = []
        nt_mods = {}
        for nt in note_types:
            old = data["note_types"].get(nt.key)
            if old is None or old["fingerprint"] != nt.fingerprint:
                mod = max(now, (old or {}).get("mod", 0) + 1)
                nt_changes.append(nt.name)
                data["note_types"][nt.key] = {
                    "name": nt.name,
                    "fields": list(nt.fields),
                    "fingerprint": nt.fingerprint,
                    "mod": mod,
                    "release": number,
                }
            nt_mods[nt.key] = data["note_types"][nt.key]["mod"]

        changed = bool(nt_changes) or any(
            e["release"] == number and "renamed_to" not in e for e in entries.values()
        )
        if changed:
            data["release"] = number
            data["time"] = max([now, *mods.values(), *nt_mods.values()])
            data["built"] = now  # the clock (or SOURCE_DATE_EPOCH) of this release
        else:
            number = data["release"]
        # Describe the latest release, so a rebuild without changes writes the same notes.
        changes = [
            Change(card_id, entry["change"][0], list(entry["change"][1:]))
            for card_id, entry in sorted(entries.items())
            if entry["release"] == number and "renamed_to" not in entry
        ]
        data["notes"] = dict(sorted(entries.items()))
        latest_nt = sorted(v["name"] for v in data["note_types"].values() if v["release"] == number)
        retired_latest = [
            n for r in data.get("retired", []) if r["release"] == number for n in r["note_types"]
        ]
        return Release(
            number=number,
            time=data["time"],
            guids=guids,
            mods=mods,
            note_type_mods=nt_mods,
            changes=changes,
            note_type_changes=latest_nt,
            retired_note_types=sorted(retired_latest),
            new_now=changed,
            lock_changed=data != self.data,
            data=data,
        )

    @staticmethod
    def dump(data: dict[str, Any]) -> bytes:
        return (json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def empty_lock() -> dict[str, Any]:
    return {"format": LOCK_FORMAT, "release": 0, "time": 0, "note_types": {}, "notes": {}}


class _LockError(ValueError):
    def __init__(self, message: str, key: str = "") -> None:
        super().__init__(message)
        self.key = key


def _validated(loaded: Any) -> dict[str, Any]:
    """The lock's data, or _LockError naming what is wrong (hand edits, merge accidents)."""
    if not isinstance(loaded, dict):
        raise _LockError("not a JSON object")
    if loaded.get("format") != LOCK_FORMAT:
        raise _LockError(f"unknown lock format {loaded.get('format')!r}", "format")
    data = empty_lock()
    data.update(loaded)
    for key, kind in (("release", int), ("time", int), ("note_types", dict), ("notes", dict)):
        if not isinstance(data[key], kind) or isinstance(data[key], bool):
            raise _LockError(f"'{key}' must be {'a number' if kind is int else 'an object'}", key)
    if not 0 <= data["time"] < 1 << 40 or data["release"] < 0:
        raise _LockError("'time' or 'release' is out of range", "time")
    if not isinstance(data.get("identity", ""), str):
        raise _LockError("'identity' must be text", "identity")
    version = data.get("note_type_version", 1)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise _LockError("'note_type_version' must be a whole number of at least 1", "note_type_version")
    retired = data.get("retired", [])
    if not isinstance(retired, list) or not all(
        isinstance(r, dict)
        and isinstance(r.get("note_type_version"), int)
        and isinstance(r.get("release"), int)
        and isinstance(r.get("note_types"), list)
        and isinstance(r.get("notes"), dict)
        for r in retired
    ):
        raise _LockError("'retired' must list note_type_version, release, note_types and notes", "retired")
    for card_id, entry in data["notes"].items():
        if not isinstance(entry, dict):
            raise _LockError(f"note '{card_id}' must be an object", card_id)
        needed = {"guid": str, "release": int} if "renamed_to" in entry else _ENTRY_KEYS
        if any(not isinstance(entry.get(k), t) or isinstance(entry.get(k), bool) for k, t in needed.items()):
            raise _LockError(f"note '{card_id}' lacks {', '.join(needed)}", card_id)
        if "mod" in entry and (not isinstance(entry["mod"], int) or not 0 <= entry["mod"] < 1 << 40):
            raise _LockError(f"note '{card_id}' has a 'mod' out of range", card_id)
        if not entry["guid"] or not isinstance(entry.get("note_type", ""), str):
            raise _LockError(f"note '{card_id}' has an empty 'guid' or a bad 'note_type'", card_id)
        change = entry.get("change", ["x"])
        if not isinstance(change, list) or not change or not all(isinstance(c, str) for c in change):
            raise _LockError(f"note '{card_id}' has a bad 'change'", card_id)
    for key, nt in data["note_types"].items():
        if (
            not isinstance(nt, dict)
            or not isinstance(nt.get("fields"), list)
            or not all(isinstance(f, str) for f in nt["fields"])
            or not all(
                isinstance(nt.get(k), t)
                for k, t in (("name", str), ("fingerprint", str), ("mod", int), ("release", int))
            )
        ):
            raise _LockError(f"note type {key} lacks name, fields, fingerprint, mod or release", key)
    return data
