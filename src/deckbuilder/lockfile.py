"""`decks/<deck>.lock.json` as typed records: read, checked against itself, and written in one place.

The lock keeps what members have: the deck's identity, each released note's guid, note type,
content hashes and mod, each note type's field list, and a compact history (the release that
added, last moved and removed each note, ids renamed away, note types a version bump replaced),
enough to tell a member on any earlier release what to do since theirs.
"""

from __future__ import annotations

import datetime
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

LOCK_FORMAT = 2
"""Format 1 (no `added`, `moved`, `origin`) is read and migrated in memory."""
MAX_TIME = 253402300800
"""10000-01-01T00:00:00Z: dates past year 9999 are not dates Anki or the release notes can show."""
_CLOCK_SLACK = 60
_CONFLICT = re.compile(r"^(<{7}|\|{7}|={7}|>{7})(?: |$)", re.M)
_CONFLICT_RUNS = ("<" * 7, "|" * 7, "=" * 7, ">" * 7)
"""What each of the conflict markers _CONFLICT matches begins with."""


class NoteEntry(NamedTuple):
    """A note as released (a tuple: a build makes one per card, and a lock holds one per note)."""

    guid: str
    note_type: str
    """Id of its note type, as text ("" in locks older than the field)."""
    hashes: dict[str, str]
    """Digest of each part (fields, tags, deck, type) by name."""
    mod: int
    """The modification time members' copies have."""
    release: int
    """The last release that changed it."""
    change: tuple[str, ...]
    """What that release did: added, changed (then the parts), renamed (then the earlier id and
    the parts) or removed."""
    added: int
    """The release that first shipped it."""
    moved: int = 0
    """The last release that gave it another subdeck (0: none)."""
    removed: int = 0
    """The release that dropped it from the cards (0: it is in them)."""
    origin: str = ""
    """The id its guid comes from, when neither its own nor one the lock recorded as renamed."""


@dataclass(frozen=True)
class RenamedEntry:
    """An id a card was renamed away from; it is never given to another card."""

    renamed_to: str
    guid: str
    release: int


Entry = NoteEntry | RenamedEntry


@dataclass(frozen=True)
class NoteTypeEntry:
    """A note type as released; its field list is frozen."""

    name: str
    fields: tuple[str, ...]
    fingerprint: str
    """Digest of its templates and CSS."""
    mod: int
    release: int


@dataclass(frozen=True)
class RetiredNoteTypes:
    """Note types (and their notes) that a note_type_version bump replaced."""

    note_type_version: int
    release: int
    """The release that replaced them."""
    note_types: tuple[str, ...]
    """Their names: members search for these."""
    notes: dict[str, Entry]


@dataclass(frozen=True)
class LockState:
    """Everything the lock file holds."""

    identity: str = ""
    """Namespace of the guids; "" in locks older than the field."""
    release: int = 0
    time: int = 0
    """Base time of the package: the newest mod of the release."""
    built: int = 0
    """The clock (or SOURCE_DATE_EPOCH) when the release was made."""
    note_type_version: int = 1
    note_types: dict[str, NoteTypeEntry] = field(default_factory=dict)
    notes: dict[str, Entry] = field(default_factory=dict)
    """Released notes by card id, and ids renamed away."""
    retired: tuple[RetiredNoteTypes, ...] = ()

    def to_do_since(self, release: int) -> ToDo:
        """What a member whose collection has `release` must do by hand after importing this one."""
        replaced = next((r for r in self.retired if r.release > release), None)
        kept = [
            (card_id, e)
            for card_id, e in self.notes.items()
            if isinstance(e, NoteEntry) and e.added <= release
        ]
        return ToDo(
            removed=tuple(
                i for card_id, e in kept if e.removed > release for i in self._ids(card_id, release)
            ),
            moved=tuple(card_id for card_id, e in kept if not e.removed and e.moved > release),
            replaced_note_types=replaced.note_types if replaced else (),
        )

    def _ids(self, card_id: str, since: int) -> list[str]:
        """The note's id, then the ids it had in `since` and later (renames a member skipped)."""
        ids = [card_id]
        for new in ids:  # grows as it goes: a chain of renames
            ids += sorted(
                old
                for old, e in self.notes.items()
                if isinstance(e, RenamedEntry) and e.renamed_to == new and e.release > since
            )
        return ids


@dataclass(frozen=True)
class ToDo:
    """What a member does by hand after an import (Anki never deletes or moves existing cards)."""

    removed: tuple[str, ...] = ()
    """Card ids of notes to delete or suspend (with the ids they had then, for notes renamed since)."""
    moved: tuple[str, ...] = ()
    """Card ids of notes whose cards to move to their new subdeck."""
    replaced_note_types: tuple[str, ...] = ()
    """Names of note types whose notes were replaced by new ones."""

    def __bool__(self) -> bool:
        return bool(self.removed or self.moved or self.replaced_note_types)


class LockFileError(ValueError):
    """What is wrong with a lock file; `key` (or `line`) locates it."""

    def __init__(self, message: str, key: str = "", line: int = 0) -> None:
        super().__init__(message)
        self.key = key
        self.line = line


class LockInconsistent(LockFileError):
    """Well-formed, but not what any build writes: a hand edit members would inherit."""


class LockConflict(LockFileError):
    """A file git or an editor left in a state the message says how to get out of."""


def parse(text: str, rel: str, clock: int | None = None) -> LockState:
    """The lock's state, or LockFileError naming what is wrong (hand edits, merge accidents)."""
    if text.startswith("\ufeff"):
        raise LockConflict(
            "the lock file starts with a byte order mark (U+FEFF); save it as UTF-8 without one", line=1
        )
    # (The pattern's search steps through a 10,000-note lock's 4 MB; a marker's run of 7 finds it.)
    conflict = _CONFLICT.search(text) if any(run in text for run in _CONFLICT_RUNS) else None
    if conflict:
        raise LockConflict(_conflict_advice(text, rel), line=text.count("\n", 0, conflict.start()) + 1)
    loaded = json.loads(text, object_pairs_hook=_no_duplicates)
    state = _state(loaded)
    _check_consistent(state, int(time.time()) if clock is None else clock)
    return state


def dump(state: LockState) -> bytes:
    data: dict[str, Any] = {
        "format": LOCK_FORMAT,
        "identity": state.identity,
        "release": state.release,
        "time": state.time,
        "built": state.built,
        "note_type_version": state.note_type_version,
        "note_types": {key: _nt_json(nt) for key, nt in state.note_types.items()},
        "notes": {card_id: _entry_json(e) for card_id, e in sorted(state.notes.items())},
    }
    if state.retired:
        data["retired"] = [
            {
                "note_type_version": r.note_type_version,
                "release": r.release,
                "note_types": list(r.note_types),
                "notes": {card_id: _entry_json(e) for card_id, e in sorted(r.notes.items())},
            }
            for r in state.retired
        ]
    return (json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def check_guids(
    state: LockState, guid_for: Callable[[str], str], known_ids: dict[str, tuple[str, ...]]
) -> list[tuple[str, str]]:
    """(card id, message) for each note whose guid the identity does not give any of its ids.

    A guid edited by hand would give members a second copy of the note. `guid_for` derives a
    guid from an id; `known_ids` has each card's ids (its own, then its `was`).
    """
    problems = []
    earlier: dict[str, list[str]] = {}
    for card_id, entry in state.notes.items():
        if isinstance(entry, RenamedEntry):
            earlier.setdefault(entry.renamed_to, []).append(card_id)
    owners: dict[str, str] = {}
    for card_id, entry in sorted(state.notes.items()):
        if isinstance(entry, RenamedEntry):
            target = state.notes.get(entry.renamed_to)
            if target is None:
                problems.append(
                    (card_id, f"'{card_id}' was renamed to '{entry.renamed_to}', a note it lacks")
                )
            elif target.guid != entry.guid:
                problems.append(
                    (card_id, f"'{card_id}' has another guid than '{entry.renamed_to}', its new id")
                )
            continue
        ids = [card_id, *known_ids.get(card_id, ()), *([entry.origin] if entry.origin else [])]
        pending = list(earlier.get(card_id, ()))
        while pending:
            old = pending.pop()
            if old not in ids:
                ids.append(old)
                pending += earlier.get(old, ())
        if entry.guid not in {guid_for(i) for i in ids}:
            problems.append(
                (
                    card_id,
                    f"note '{card_id}' has guid '{entry.guid}', which identity '{state.identity}' does "
                    f"not give any of its ids ({', '.join(ids)}); members would get a second copy",
                )
            )
        other = owners.setdefault(entry.guid, card_id)
        if other != card_id:
            problems.append((card_id, f"notes '{other}' and '{card_id}' have the same guid"))
    return problems


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    data = dict(pairs)
    if len(data) < len(pairs):  # (a lock's 20,000 objects checked without a step per key)
        seen = set()
        for key, _ in pairs:
            if key in seen:
                raise LockFileError(f"duplicate key '{key}'", key=key)
            seen.add(key)
    return data


def _conflict_advice(text: str, rel: str) -> str:
    """Which side of a conflicted lock to keep, and what to run then."""
    sides: dict[str, list[str]] = {"ours": [], "theirs": []}
    labels = {"ours": "HEAD", "theirs": "the other branch"}
    keep: tuple[str, ...] = ("ours", "theirs")
    for line in text.splitlines(keepends=True):
        marker = _CONFLICT.match(line)
        if marker is None:
            for side in keep:
                sides[side].append(line)
            continue
        kind = marker.group(1)[0]
        label = line[8:].strip()
        if kind == "<":
            keep, labels["ours"] = ("ours",), label or labels["ours"]
        elif kind == "|":
            keep = ()
        elif kind == "=":
            keep = ("theirs",)
        else:
            keep, labels["theirs"] = ("ours", "theirs"), label or labels["theirs"]
    releases = {}
    for side, lines in sides.items():
        try:
            releases[side] = _state(json.loads("".join(lines))).release
        except (ValueError, TypeError, RecursionError):
            releases[side] = -1
    side = "theirs" if releases["theirs"] > releases["ours"] else "ours"
    other = "ours" if side == "theirs" else "theirs"
    number = max(releases.values())
    made = (
        f"release {number} was made on two branches"
        if releases["ours"] == releases["theirs"]
        else f"releases were made on two branches ({labels['ours']}: release {releases['ours']}, "
        f"{labels['theirs']}: release {releases['theirs']})"
    )
    return (
        f"git left conflict markers in the lock: {made}. Keep {labels[side]}'s lock: "
        f"`git checkout --{side} -- {rel}`, then run `build-deck release` (it releases the cards "
        f"from {labels[other]} as {f'release {number + 1}' if number > 0 else 'the next release'}) "
        f"and `git add {rel}` to finish the merge"
    )


def _state(loaded: Any) -> LockState:
    if not isinstance(loaded, dict):
        raise LockFileError("not a JSON object")
    lock_format = loaded.get("format")
    if lock_format not in (1, LOCK_FORMAT) or isinstance(lock_format, bool):
        raise LockFileError(f"unknown lock format {lock_format!r}", "format")
    data = {"release": 0, "time": 0, "note_types": {}, "notes": {}, **loaded}
    for key, kind in (("release", int), ("time", int), ("note_types", dict), ("notes", dict)):
        if not isinstance(data[key], kind) or isinstance(data[key], bool):
            raise LockFileError(f"'{key}' must be {'a number' if kind is int else 'an object'}", key)
    if not 0 <= data["time"] < MAX_TIME or data["release"] < 0:
        raise LockFileError("'time' or 'release' is out of range", "time")
    built = data.get("built", data["time"])
    if not _is_time(built):
        raise LockFileError("'built' is out of range", "built")
    if not isinstance(data.get("identity", ""), str):
        raise LockFileError("'identity' must be text", "identity")
    version = data.get("note_type_version", 1)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise LockFileError("'note_type_version' must be a whole number of at least 1", "note_type_version")
    retired = data.get("retired", [])
    if not isinstance(retired, list) or not all(
        isinstance(r, dict)
        and _is_int(r.get("note_type_version"))
        and _is_int(r.get("release"))
        and isinstance(r.get("note_types"), list)
        and all(isinstance(n, str) for n in r["note_types"])
        and isinstance(r.get("notes"), dict)
        for r in retired
    ):
        raise LockFileError("'retired' must list note_type_version, release, note_types and notes", "retired")
    return LockState(
        identity=data.get("identity", ""),
        release=data["release"],
        time=data["time"],
        built=built,
        note_type_version=version,
        note_types={key: _note_type(key, nt) for key, nt in data["note_types"].items()},
        notes=_entries(data["notes"], lock_format),
        retired=tuple(
            RetiredNoteTypes(
                r["note_type_version"],
                r["release"],
                tuple(r["note_types"]),
                _entries(r["notes"], lock_format),
            )
            for r in retired
        ),
    )


_ENTRY_KEYS = {"guid": str, "hashes": dict, "mod": int, "release": int, "change": list}
_RENAMED_KEYS = {"guid": str, "release": int}


def _entries(raw: dict[str, Any], lock_format: int) -> dict[str, Entry]:
    return {card_id: _entry(card_id, entry, lock_format) for card_id, entry in raw.items()}


def _entry(card_id: str, entry: Any, lock_format: int) -> Entry:
    if not isinstance(entry, dict):
        raise LockFileError(f"note '{card_id}' must be an object", card_id)
    renamed = "renamed_to" in entry
    needed = _RENAMED_KEYS if renamed else _ENTRY_KEYS
    for key, kind in needed.items():  # (a loop, not a generator: a lock has an entry per note)
        value = entry.get(key)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise LockFileError(f"note '{card_id}' lacks {', '.join(needed)}", card_id)
    if not entry["guid"] or not isinstance(entry.get("note_type", ""), str):
        raise LockFileError(f"note '{card_id}' has an empty 'guid' or a bad 'note_type'", card_id)
    if renamed:
        if not isinstance(entry["renamed_to"], str) or not entry["renamed_to"]:
            raise LockFileError(f"note '{card_id}' has a bad 'renamed_to'", card_id)
        return RenamedEntry(entry["renamed_to"], entry["guid"], entry["release"])
    if not 0 <= entry["mod"] < MAX_TIME:  # (a whole number, as checked above)
        raise LockFileError(f"note '{card_id}' has a 'mod' out of range", card_id)
    change = entry["change"]
    if not change or not all(isinstance(c, str) for c in change):
        raise LockFileError(f"note '{card_id}' has a bad 'change'", card_id)
    hashes = entry["hashes"]
    if not all(isinstance(v, str) for v in hashes.values()):
        raise LockFileError(f"note '{card_id}' has a bad 'hashes'", card_id)
    if lock_format == 1:  # what format 1 did not record, as far as its last change tells
        entry = {
            **entry,
            "added": entry["release"] if change[0] == "added" else 1,
            "moved": entry["release"] if "deck" in change[1:] else 0,
        }
    added, moved, removed = entry.get("added", 0), entry.get("moved", 0), entry.get("removed", 0)
    origin = entry.get("origin", "")
    if not (
        _is_int(added) and added >= 0 and _is_int(moved) and moved >= 0 and _is_int(removed) and removed >= 0
    ) or not isinstance(origin, str):
        raise LockFileError(f"note '{card_id}' has a bad 'added', 'moved', 'removed' or 'origin'", card_id)
    note_type = entry.get("note_type", "")
    return NoteEntry(
        entry["guid"],
        note_type,
        hashes,
        entry["mod"],
        entry["release"],
        tuple(change),
        added,
        moved,
        removed,
        origin,
    )


def _note_type(key: str, nt: Any) -> NoteTypeEntry:
    if (
        not isinstance(nt, dict)
        or not isinstance(nt.get("fields"), list)
        or not all(isinstance(f, str) for f in nt["fields"])
        or not all(
            isinstance(nt.get(k), t) and not isinstance(nt.get(k), bool)
            for k, t in (("name", str), ("fingerprint", str), ("mod", int), ("release", int))
        )
    ):
        raise LockFileError(f"note type {key} lacks name, fields, fingerprint, mod or release", key)
    if not _is_time(nt["mod"]):
        raise LockFileError(f"note type {key} has a 'mod' out of range", key)
    return NoteTypeEntry(nt["name"], tuple(nt["fields"]), nt["fingerprint"], nt["mod"], nt["release"])


def _check_consistent(state: LockState, clock: int) -> None:
    """Times and release numbers that no build writes: a hand edit members would inherit."""
    if state.time > clock + _CLOCK_SLACK or state.built > clock + _CLOCK_SLACK:
        when = max(state.time, state.built)
        raise LockInconsistent(
            f"the release time {when} ({_day(when)}) is in the future: a hand edit, or the releasing "
            "machine's clock was wrong",
            "time",
        )
    for card_id, entry in state.notes.items():
        if entry.release > state.release or (isinstance(entry, NoteEntry) and entry.added > entry.release):
            raise LockInconsistent(f"note '{card_id}' names a release after release {state.release}", card_id)
        # The release time is the newest mod of the notes it ships (removed ones are older).
        latest = clock + _CLOCK_SLACK if isinstance(entry, NoteEntry) and entry.removed else state.time
        if isinstance(entry, NoteEntry) and entry.mod > latest:
            raise LockInconsistent(
                f"note '{card_id}' has mod {entry.mod}, after the release time {state.time}", card_id
            )
    for key, nt in state.note_types.items():
        if nt.mod > state.time or nt.release > state.release:
            raise LockInconsistent(f"note type {key} has a mod or release after the release's", key)


def _day(when: int) -> str:
    return datetime.datetime.fromtimestamp(when, datetime.UTC).date().isoformat()


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_time(value: Any) -> bool:
    return _is_int(value) and 0 <= value < MAX_TIME


def _entry_json(entry: Entry) -> dict[str, Any]:
    if isinstance(entry, RenamedEntry):
        return {"renamed_to": entry.renamed_to, "guid": entry.guid, "release": entry.release}
    data: dict[str, Any] = {
        "guid": entry.guid,
        "hashes": dict(sorted(entry.hashes.items())),
        "mod": entry.mod,
        "release": entry.release,
        "change": list(entry.change),
        "added": entry.added,
    }
    if entry.note_type:
        data["note_type"] = entry.note_type
    data.update({k: v for k, v in (("moved", entry.moved), ("removed", entry.removed)) if v})
    if entry.origin:
        data["origin"] = entry.origin
    return data


def _nt_json(nt: NoteTypeEntry) -> dict[str, Any]:
    return {
        "name": nt.name,
        "fields": list(nt.fields),
        "fingerprint": nt.fingerprint,
        "mod": nt.mod,
        "release": nt.release,
    }
