"""Today's lock planner gives what it gave before its speed-up, for any history of releases; note
guids and cards are genanki's, for any identity, id and fields."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import html
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import genanki
from hypothesis import given, settings
from hypothesis import strategies as st

from deckbuilder import lint, lockfile
from deckbuilder.lock import Lock, NoteInput, NoteTypeInput
from deckbuilder.lockfile import LockFileError, LockState, dump, parse
from deckbuilder.model import Diagnostic, Location
from deckbuilder.notetypes import KINDS, CardTemplate, NoteType, TemplateSet
from deckbuilder.package import NoteRecord, PackageContent, _models, card_ordinals, note_guid

from . import planner_before

IDS = ("a", "b", "c", "d", "e", "f")
TEXTS = ("x", "y", "", "é ✓")
DECKS = ("D", "D::One", "D::Two", "D::one")


@st.composite
def cards(draw: st.DrawFn) -> list[NoteInput]:
    """One build's notes: ids unique, with `was`, fields, tags, subdeck, type and `deck_was`."""
    ids = draw(st.lists(st.sampled_from(IDS), unique=True, max_size=len(IDS)))
    notes = []
    for card_id in ids:
        was = tuple(draw(st.lists(st.sampled_from(IDS), unique=True, max_size=2)))
        type_id = draw(st.sampled_from(("1", "1", "2")))
        parts = {"Front": draw(st.sampled_from(TEXTS)), "Back": draw(st.sampled_from(TEXTS)), "ID": card_id}
        parts.update(
            tags=draw(st.sampled_from(("", "t", "t u"))), deck=draw(st.sampled_from(DECKS)), type=type_id
        )
        oldest = was[-1] if was else card_id
        # Mostly the real guid of the oldest id; sometimes a guid shared by two ids (a clash).
        guid = draw(st.sampled_from((note_guid("x", 1, oldest), f"g-{oldest[:1]}", "g-shared")))
        location = Location(f"cards/{card_id}.yaml", len(notes) + 1)
        deck_was = draw(st.sampled_from((None, *DECKS)))
        if deck_was is None:
            notes.append(NoteInput(card_id, was, guid, type_id, parts, location))
        else:
            notes.append(NoteInput(card_id, was, guid, type_id, parts, location, location, deck_was))
    return notes


NOTE_TYPES = st.lists(
    st.tuples(st.sampled_from(("1", "2", "3")), st.sampled_from(("fp", "fp2"))),
    unique_by=lambda nt: nt[0],
    max_size=3,
).map(lambda nts: [NoteTypeInput(key, f"T{key}", ("Front", "Back", "ID"), fp) for key, fp in nts])


@settings(max_examples=400, deadline=None)
@given(
    history=st.lists(
        st.tuples(
            cards(),
            NOTE_TYPES,
            st.sampled_from((1, 1, 1, 2, 3)),
            st.integers(min_value=1_700_000_000, max_value=1_700_000_050),
        ),
        min_size=1,
        max_size=5,
    ),
    identity=st.sampled_from(("x", "y")),
)
def test_the_plan_is_what_the_planner_before_its_speed_up_made(
    history: list[tuple[list[NoteInput], list[NoteTypeInput], int, int]], identity: str
) -> None:
    state = LockState()
    for notes, note_types, version, now in history:
        lock = Lock(Path("unused.lock.json"), "decks/x.lock.json", state)
        problems: list[Diagnostic] = []
        release = lock.plan(notes, note_types, identity, version, now, problems)
        before: list[Diagnostic] = []
        expected = planner_before.plan(state, notes, note_types, identity, version, now, before)
        assert (release, problems) == (expected, before)
        assert dump(release.state) == dump(expected.state)  # the lock file's very bytes
        state = release.state
        if not problems:  # as a release writes it and the next build reads it
            with contextlib.suppress(LockFileError):  # (times that go back, say: refused)
                state = parse(dump(state).decode(), "decks/x.lock.json")


@settings(max_examples=500, deadline=None)
@given(
    identity=st.text(max_size=12).filter(lambda s: not any(0xD800 <= ord(c) <= 0xDFFF for c in s)),
    card_id=st.one_of(
        st.text(min_size=1, max_size=30).filter(lambda s: not any(0xD800 <= ord(c) <= 0xDFFF for c in s)),
        st.from_regex(r"[a-z0-9][a-z0-9-]{0,40}", fullmatch=True),
    ),
    version=st.integers(min_value=1, max_value=40),
)
def test_a_guid_is_genankis_guid_for(identity: str, card_id: str, version: int) -> None:
    salt = () if version == 1 else (f"note-types-v{version}",)
    assert note_guid(identity, version, card_id) == genanki.guid_for(identity, *salt, card_id)


def test_guids_of_many_ids_are_genankis() -> None:
    """Every length of guid genanki writes (its base-91 number has no leading zero digit)."""
    ids = [f"card-{i}" for i in range(20_000)] + ["", "é", "日本語", "a b", "\x00", "\U0001f600" * 3]
    for identity in ("", "mle-interview", "ü"):
        for version in (1, 2, 7):
            salt = () if version == 1 else (f"note-types-v{version}",)
            guids = [note_guid(identity, version, i) for i in ids]
            assert guids == [genanki.guid_for(identity, *salt, i) for i in ids]
    assert {len(g) for g in guids} >= {8, 9, 10}


HTMLISH = st.lists(
    st.sampled_from(
        ["<pre>", "</pre>", "<pre class='x'>", "<p>", "</p>", "<br/>", "<b>", "<", ">", "&amp;", "&lt;"]
    )
    | st.text(alphabet="ab \n\t&;<>/pre", max_size=6),
    max_size=12,
).map("".join)


@settings(max_examples=500, deadline=None)
@given(fragment=HTMLISH)
def test_plain_text_is_what_its_patterns_alone_make(fragment: str) -> None:
    """The release notes' question of a card: plain_text's shortcuts change nothing."""
    text = lint._CODE_BLOCK.sub(" code ", fragment)
    text = lint._TAG.sub("", lint._BLOCK_TAG.sub(" ", text))
    assert lint.plain_text(fragment) == " ".join(html.unescape(text).split())


@functools.cache
def _note_types() -> tuple[NoteType, ...]:
    """The shipped note types, a cloze type naming two cloze fields, and templates chevron rejects."""
    with tempfile.TemporaryDirectory() as root:
        templates = TemplateSet(Path(root))
        problems: list[Diagnostic] = []
        shipped = tuple(templates.note_type(kind, "D", "x", 1, problems) for kind in KINDS.values())
    assert problems == []
    basic, *_, cloze = shipped
    two_clozes = dataclasses.replace(
        cloze,
        id=cloze.id + 1,
        templates=(CardTemplate("Cloze", "{{cloze:Text}} {{cloze:Extra}} {{cloze:Nope}}", "x"),),
    )
    any_field = dataclasses.replace(
        basic, id=basic.id + 1, templates=(CardTemplate("A", "{{#Back}}{{Front}}{{/Back}}{{Extra}}", "x"),)
    )
    broken = dataclasses.replace(basic, id=basic.id + 2, templates=(CardTemplate("B", "{{#Front}}", "x"),))
    return (*shipped, two_clozes, any_field, broken)


FIELD = st.sampled_from(
    [
        "",
        "x",
        "{{c1::a}}",
        "{{c2::b}} {{c1::c}}",
        "{{c0::z}}",
        "{{c12::q}}{{c3::\nr}}",
        "{{c٣::d}}",
        "{{c9::x}}{{c1::y}}",
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    notes=st.lists(st.tuples(st.integers(min_value=0, max_value=6), st.lists(FIELD, min_size=5, max_size=5)))
)
def test_the_cards_of_each_note_are_those_genanki_makes(notes: list[tuple[int, list[str]]]) -> None:
    note_types = _note_types()
    records = tuple(
        NoteRecord("g", nt, tuple(fields[: len(nt.kind.fields)]), (), "D", 1)
        for index, fields in notes
        for nt in [note_types[index]]
    )
    content = PackageContent("D", "", records, {nt.id: 1 for nt in note_types}, {}, 1)
    models = _models(content)

    def genankis(note: NoteRecord) -> list[int]:
        probe = genanki.Note(model=models[note.note_type.id], fields=list(note.fields))
        try:
            return [card.ord for card in probe.cards]
        except Exception:
            return []

    def seedless(note: NoteRecord, ords: list[int]) -> list[int]:
        # genanki walks a cloze front's fields as a set: with two cloze fields its order follows
        # the hash seed, where ours follows their names (test_fastpaths holds the bytes to that)
        return sorted(ords) if note.note_type.id == note_types[-3].id else ords

    ours = [seedless(note, ords) for note, (_, ords) in zip(records, card_ordinals(content), strict=True)]
    assert ours == [seedless(note, genankis(note)) for note in records]


def _no_duplicates_before(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """lockfile's JSON object hook before its speed-up."""
    data: dict[str, object] = {}
    for key, value in pairs:
        if key in data:
            raise LockFileError(f"duplicate key '{key}'", key=key)
        data[key] = value
    return data


@settings(max_examples=300, deadline=None)
@given(pairs=st.lists(st.tuples(st.sampled_from("abcd"), st.integers(0, 3)), max_size=8))
def test_a_duplicate_key_is_found_as_before(pairs: list[tuple[str, object]]) -> None:
    def outcome(hook: Callable[[list[tuple[str, object]]], dict[str, object]]) -> object:
        try:
            return hook(pairs)
        except LockFileError as e:
            return (str(e), e.key)

    assert outcome(lockfile._no_duplicates) == outcome(_no_duplicates_before)


# lockfile's reading of one note's entry before its speed-up (the oracle of the test below).
def _entry_before(card_id: str, entry: Any, lock_format: int) -> lockfile.Entry:
    if not isinstance(entry, dict):
        raise lockfile.LockFileError(f"note '{card_id}' must be an object", card_id)
    needed = {"guid": str, "release": int} if "renamed_to" in entry else lockfile._ENTRY_KEYS
    if any(not isinstance(entry.get(k), t) or isinstance(entry.get(k), bool) for k, t in needed.items()):
        raise lockfile.LockFileError(f"note '{card_id}' lacks {', '.join(needed)}", card_id)
    if not entry["guid"] or not isinstance(entry.get("note_type", ""), str):
        raise lockfile.LockFileError(f"note '{card_id}' has an empty 'guid' or a bad 'note_type'", card_id)
    if "renamed_to" in entry:
        if not isinstance(entry["renamed_to"], str) or not entry["renamed_to"]:
            raise lockfile.LockFileError(f"note '{card_id}' has a bad 'renamed_to'", card_id)
        return lockfile.RenamedEntry(entry["renamed_to"], entry["guid"], entry["release"])
    if not lockfile._is_time(entry["mod"]):
        raise lockfile.LockFileError(f"note '{card_id}' has a 'mod' out of range", card_id)
    change = entry["change"]
    if not change or not all(isinstance(c, str) for c in change):
        raise lockfile.LockFileError(f"note '{card_id}' has a bad 'change'", card_id)
    hashes = entry["hashes"]
    if not all(isinstance(v, str) for v in hashes.values()):
        raise lockfile.LockFileError(f"note '{card_id}' has a bad 'hashes'", card_id)
    if lock_format == 1:  # what format 1 did not record, as far as its last change tells
        entry = {
            **entry,
            "added": entry["release"] if change[0] == "added" else 1,
            "moved": entry["release"] if "deck" in change[1:] else 0,
        }
    history = {k: entry.get(k, 0) for k in ("added", "moved", "removed")}
    if not all(lockfile._is_int(v) and v >= 0 for v in history.values()) or not isinstance(
        entry.get("origin", ""), str
    ):
        raise lockfile.LockFileError(
            f"note '{card_id}' has a bad 'added', 'moved', 'removed' or 'origin'", card_id
        )
    return lockfile.NoteEntry(
        guid=entry["guid"],
        note_type=entry.get("note_type", ""),
        hashes=dict(hashes),
        mod=entry["mod"],
        release=entry["release"],
        change=tuple(change),
        origin=entry.get("origin", ""),
        **history,
    )


ENTRY_VALUES = st.sampled_from(
    [
        "",
        "g",
        "deck",
        -1,
        0,
        5,
        lockfile.MAX_TIME,
        True,
        False,
        None,
        [],
        ["added"],
        ["changed", "deck"],
        [1],
        {},
        {"a": "x"},
        {"a": 1},
    ]
)
ENTRY_KEYS = st.sampled_from(
    [
        "guid",
        "hashes",
        "mod",
        "release",
        "change",
        "renamed_to",
        "note_type",
        "added",
        "moved",
        "removed",
        "origin",
    ]
)
VALID = {"guid": "g", "hashes": {"a": "x"}, "mod": 5, "release": 1, "change": ["added"]}


@settings(max_examples=1000, deadline=None)
@given(
    entry=st.one_of(
        st.dictionaries(ENTRY_KEYS, ENTRY_VALUES),
        st.dictionaries(ENTRY_KEYS, ENTRY_VALUES).map(lambda changes: {**VALID, **changes}),
        ENTRY_VALUES,
    ),
    lock_format=st.sampled_from([1, 2]),
)
def test_an_entry_is_read_as_before(entry: Any, lock_format: int) -> None:
    def outcome(read: Callable[[str, Any, int], object]) -> object:
        try:
            return read("c", entry, lock_format)
        except lockfile.LockFileError as e:
            return (str(e), e.key)

    assert outcome(lockfile._entry) == outcome(_entry_before)


@settings(max_examples=300, deadline=None)
@given(
    text=st.lists(st.sampled_from(["<" * 7, "=" * 7, "|" * 7, ">" * 7, "<", " ", "\n", "x", "\r"])).map(
        "".join
    )
)
def test_conflict_markers_are_found_as_before(text: str) -> None:
    found = lockfile._CONFLICT.search(text)
    assert any(run in text for run in lockfile._CONFLICT_RUNS) or found is None


def test_each_one_change_to_an_entry_is_read_as_before() -> None:
    """Every key of a valid entry (and of a renamed one) given each value, or left out."""
    values, keys = ENTRY_VALUES.elements, ENTRY_KEYS.elements
    renamed = {"guid": "g", "release": 1, "renamed_to": "b"}
    full = {**VALID, "note_type": "1", "added": 1, "moved": 0, "removed": 0, "origin": ""}
    cases = [{**base, key: value} for base in (VALID, full, renamed) for key in keys for value in values]
    cases += [{k: v for k, v in base.items() if k != key} for base in (full, renamed) for key in base]
    for entry in cases:
        for lock_format in (1, 2):
            try:
                expected: object = _entry_before("c", entry, lock_format)
            except lockfile.LockFileError as e:
                expected = (str(e), e.key)
            try:
                got: object = lockfile._entry("c", entry, lock_format)
            except lockfile.LockFileError as e:
                got = (str(e), e.key)
            assert got == expected, (entry, lock_format)
