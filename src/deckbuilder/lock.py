"""The lock file: what each package last released, so that only changed notes move forward.

Anki updates a note on import only when the package's note `mod` is newer than the member's.
`decks/<deck>.lock.json` (committed beside the deck file) keeps each note's guid, content hashes
and mod; a build gives a new mod only to notes whose content changed, and counts releases.
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
    parts: dict[str, str]
    """Everything Anki stores for the note (fields, tags, deck, type), by name."""


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
    """For changed: the parts that changed; for renamed: the earlier id."""


@dataclass
class Release:
    """The lock's verdict for one build."""

    number: int
    time: int
    guids: dict[str, str]
    mods: dict[str, int]
    note_type_mods: dict[str, int]
    changes: list[Change]
    """The changes of the latest release (the one this build is, or the last one if nothing changed)."""
    note_type_changes: list[str]
    new_now: bool
    """True when this build changed something, so the lock must be written."""
    data: dict[str, Any]


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
        data: dict[str, Any] = {"format": LOCK_FORMAT, "release": 0, "time": 0, "note_types": {}, "notes": {}}
        if path.is_file():
            try:
                loaded = json.loads(path.read_text(encoding="utf-8"))
                if not isinstance(loaded, dict) or loaded.get("format") != LOCK_FORMAT:
                    raise ValueError(f"unknown lock format {loaded.get('format')!r}")
                data.update(loaded)
            except (ValueError, UnicodeDecodeError) as e:
                line = getattr(e, "lineno", 1)
                problems.append(
                    Diagnostic(
                        Location(rel, line),
                        f"unreadable lock file ({e}); restore it from version control",
                    )
                )
        return cls(path, rel, data)

    def line_of(self, needle: str) -> int:
        if not self.path.is_file():
            return 1
        text = self.path.read_text(encoding="utf-8")
        index = text.find(f'"{needle}"')
        return text.count("\n", 0, index) + 1 if index >= 0 else 1

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
                    f"{deck.location.path} (members' old notes then stay as they are)",
                )
            )

    def plan(self, notes: list[NoteInput], note_types: list[NoteTypeInput], now: int) -> Release:
        data = json.loads(json.dumps(self.data))  # a deep copy to update
        entries: dict[str, dict[str, Any]] = data["notes"]
        number = data["release"] + 1
        changes: list[Change] = []
        guids: dict[str, str] = {}
        mods: dict[str, int] = {}
        claimed: set[str] = set()

        for note in notes:
            old_id = next((i for i in (note.card_id, *note.was) if i in entries and i not in claimed), None)
            entry = entries.pop(old_id) if old_id is not None else None
            hashes = {name: digest(value) for name, value in note.parts.items()}
            if entry is None:
                entry = {
                    "guid": note.default_guid,
                    "hashes": {},
                    "mod": 0,
                    "release": number,
                    "change": ["added"],
                }
                change = Change(note.card_id, "added")
            else:
                change = None
                diff = [k for k in hashes if entry["hashes"].get(k) != hashes[k]]
                if old_id != note.card_id:
                    change = Change(note.card_id, "renamed", [str(old_id), *diff])
                elif entry.get("removed"):
                    change = Change(note.card_id, "changed", ["restored"])
                elif diff:
                    change = Change(note.card_id, "changed", diff)
            entry.pop("removed", None)
            if change is not None:
                entry["hashes"] = hashes
                entry["mod"] = max(now, entry["mod"] + 1)
                entry["release"] = number
                entry["change"] = [change.kind, *change.what]
            entries[note.card_id] = entry
            claimed.add(note.card_id)
            guids[note.card_id] = entry["guid"]
            mods[note.card_id] = entry["mod"]

        for card_id, entry in entries.items():
            if card_id not in claimed and not entry.get("removed"):
                entry["removed"] = number
                entry["release"] = number
                entry["change"] = ["removed"]

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

        changed = bool(nt_changes) or any(e["release"] == number for e in entries.values())
        if changed:
            data["release"] = number
            data["time"] = max([now, *mods.values(), *nt_mods.values()])
        else:
            number = data["release"]
        # Describe the latest release, so a rebuild without changes writes the same notes.
        for card_id, entry in sorted(entries.items()):
            if entry["release"] == number:
                kind, *what = entry["change"]
                changes.append(Change(card_id, kind, list(what)))
        data["notes"] = dict(sorted(entries.items()))
        latest_nt = [v["name"] for v in data["note_types"].values() if v["release"] == number]
        return Release(
            number=number,
            time=data["time"],
            guids=guids,
            mods=mods,
            note_type_mods=nt_mods,
            changes=changes,
            note_type_changes=sorted(latest_nt) if not nt_changes else sorted(nt_changes),
            new_now=changed,
            data=data,
        )

    @staticmethod
    def dump(data: dict[str, Any]) -> bytes:
        return (json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")
