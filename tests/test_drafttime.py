"""A draft rebuilt with nothing changed keeps its time and its package; anything else as before."""

from __future__ import annotations

import dataclasses
import io
import json
import shutil
import sqlite3
import time
import zipfile
from pathlib import Path

import pytest

from deckbuilder import build, rendercache
from deckbuilder.drafttime import DraftRecord, DraftTimes, plan_inputs
from deckbuilder.load import load_project
from deckbuilder.lock import Lock, NoteInput
from deckbuilder.lockfile import LockState
from deckbuilder.model import DeckSpec, LintLimits, Location
from deckbuilder.notetypes import KINDS, TemplateSet
from deckbuilder.packagecache import file_digest
from deckbuilder.rendercache import RenderCache

from .conftest import import_package, new_collection, run
from .test_rendercache import counting

START = int(time.time()) - 100_000
"""The first build's clock: in the past, as the lock's own check of its times wants."""
REAL_NOW = build._now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The build's clock, set by the test (a second's resolution would make "a new time" flaky)."""
    now = [START]
    monkeypatch.setattr(build, "_now", lambda problems: now[0])
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    return now


def built(root: Path, out: Path | None = None, *options: str) -> Path:
    result = run("--project", root, "--out", out or root / "dist", *options)
    assert result.exit_code == 0, result.output
    return (out or root / "dist") / "sample.apkg"


def note_mods(apkg: Path) -> dict[str, int]:
    """Each note's mod in a package, by guid."""
    db_path = apkg.with_name(apkg.name + ".inspect.anki2")
    db_path.write_bytes(zipfile.ZipFile(io.BytesIO(apkg.read_bytes())).read("collection.anki2"))
    try:
        with sqlite3.connect(db_path) as db:
            return dict(db.execute("SELECT guid, mod FROM notes"))
    finally:
        db_path.unlink()


def times(apkg: Path) -> set[int]:
    return set(note_mods(apkg).values())


def identity(path: Path) -> tuple[int, int]:
    """What a rewrite changes even with the same bytes: the file's inode and mtime."""
    stat = path.stat()
    return stat.st_ino, stat.st_mtime_ns


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_a_draft_rebuilt_with_nothing_changed_is_left_as_it_is(
    sample: Path, tmp_path: Path, clock: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    apkg = built(sample)
    notes = sample / "dist" / "sample.release-notes.md"
    first, first_notes, first_file = apkg.read_bytes(), notes.read_bytes(), identity(apkg)
    assert times(apkg) == {START}  # no release yet: every note is new, at the draft's time
    writes = counting(monkeypatch, build, "write_package")
    for later in (100, 200):
        clock[0] = START + later
        assert built(sample) == apkg
        assert writes == []
        assert identity(apkg) == first_file and apkg.read_bytes() == first
        assert notes.read_bytes() == first_notes
    # The bytes a build without the cache writes at that time: nothing but the time is kept.
    clock[0] = START
    assert built(sample, tmp_path / "fresh", "--no-cache").read_bytes() == first
    assert (tmp_path / "fresh" / "sample.release-notes.md").read_bytes() == first_notes


CHANGES = {
    "card text": ("cards/basics.yaml", "back: Paris", "back: Lyon"),
    "tags": ("cards/basics.yaml", "tags: [sample]", "tags: [sample, geography]"),
    "template file": ("templates/basic.front.html", "overridden", "overridden again"),
    "deck description": ("decks/sample.yaml", "A *sample* deck", "A *small* deck"),
    "deck homepage": (
        "decks/sample.yaml",
        "output: sample.apkg",
        "output: sample.apkg\nhomepage: https://x.org",
    ),
    "deck lint setting": (
        "decks/sample.yaml",
        "output: sample.apkg",
        "output: sample.apkg\nlint:\n  max_answer_words: 99",
    ),
}


@pytest.mark.parametrize("change", [*CHANGES, "card image", "description image"])
def test_any_input_changed_gives_a_new_time_and_a_new_package(
    sample: Path, tmp_path: Path, clock: list[int], monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    image = sample / "cards" / "extra" / "diagram.png"
    if change == "description image":  # an image no card has
        image = sample / "decks" / "cover.png"
        shutil.copy(sample / "images" / "diagram.png", image)
        edit(sample / "decks" / "sample.yaml", "for the tests.", "for the tests. ![cover](cover.png)")
    apkg = built(sample)
    first_file = identity(apkg)
    if change.endswith("image"):  # the same Markdown; the package's media are other bytes
        image.write_bytes(image.read_bytes() + b"\0")
    else:
        rel, old, new = CHANGES[change]
        edit(sample / rel, old, new)
    clock[0] = START + 100
    writes = counting(monkeypatch, build, "write_package")
    built(sample)
    assert len(writes) == 1 and identity(apkg) != first_file
    assert times(apkg) == {START + 100}
    # What the cache-less build writes at that time.
    assert built(sample, tmp_path / "fresh", "--no-cache").read_bytes() == apkg.read_bytes()
    clock[0] = START + 200  # and then it is kept
    built(sample)
    assert len(writes) == 2 and times(apkg) == {START + 100}


def test_a_changed_lock_gives_a_new_time(sample: Path, clock: list[int]) -> None:
    assert run("release", "--project", sample).exit_code == 0
    edit(sample / "cards" / "basics.yaml", "back: Paris", "back: Lyon")
    clock[0] = START + 100
    apkg = built(sample)
    changed = {guid for guid, mod in note_mods(apkg).items() if mod != START}
    assert len(changed) == 1 and note_mods(apkg)[changed.pop()] == START + 100
    clock[0] = START + 200
    built(sample)
    assert START + 200 not in times(apkg)  # kept
    lock = sample / "decks" / "sample.lock.json"
    lock.write_text(json.dumps(json.loads(lock.read_text(encoding="utf-8")), indent=4), encoding="utf-8")
    clock[0] = START + 300
    built(sample)
    assert START + 300 in times(apkg)


def draft_entries(cache_folder: Path) -> list[tuple[bytes, str]]:
    """The cache's draft records (the entries that decode as one)."""
    with sqlite3.connect(cache_folder / "render.sqlite") as db:
        rows = list(db.execute("SELECT key, html FROM entries"))
    return [(key, html) for key, html in rows if DraftRecord.decode(html) is not None]


def rewrite_entry(cache_folder: Path, key: bytes, html: str) -> None:
    """An entry the cache's own check accepts, with other contents."""
    with sqlite3.connect(cache_folder / "render.sqlite") as db:
        db.execute(
            "UPDATE entries SET html = ?, check_ = ? WHERE key = ?",
            (html, rendercache._check(key, html), key),
        )


def corrupt(cache: Path) -> None:
    ((key, html),) = draft_entries(cache)
    rewrite_entry(cache, key, html[:-3])


def foreign(cache: Path) -> None:
    ((key, html),) = draft_entries(cache)
    record = DraftRecord.decode(html)
    assert record is not None
    rewrite_entry(cache, key, DraftRecord("0" * 64, record.time, record.rest, record.package).encode())


def future(cache: Path) -> None:
    """A record of a time after the build's clock (a made-up entry, or the clock went back)."""
    ((key, html),) = draft_entries(cache)
    record = DraftRecord.decode(html)
    assert record is not None
    rewrite_entry(cache, key, DraftRecord(record.inputs, START + 1000, record.rest, record.package).encode())


@pytest.mark.parametrize(
    "what",
    [
        "no cache",
        "package deleted",
        "package edited",
        "entry corrupt",
        "entry foreign",
        "entry in the future",
    ],
)
def test_without_the_last_draft_as_it_was_a_build_is_todays(
    sample: Path, clock: list[int], monkeypatch: pytest.MonkeyPatch, render_cache_dir: Path, what: str
) -> None:
    apkg = built(sample)
    first = apkg.read_bytes()
    options = ["--no-cache"] if what == "no cache" else []
    if what == "package deleted":
        apkg.unlink()
    elif what == "package edited":
        apkg.write_bytes(first[:-1] + b"!")
    elif what.startswith("entry"):
        {"entry corrupt": corrupt, "entry foreign": foreign, "entry in the future": future}[what](
            render_cache_dir
        )
    clock[0] = START + 100
    writes = counting(monkeypatch, build, "write_package")
    built(sample, None, *options)
    assert len(writes) == 1 and times(apkg) == {START + 100}


def test_only_the_decks_last_draft_gives_its_time(sample: Path, tmp_path: Path, clock: list[int]) -> None:
    """An author who imported a later draft (from another folder) has newer notes than an
    earlier draft: its time would update nothing."""
    apkg = built(sample)
    card_file = sample / "cards" / "basics.yaml"
    edit(card_file, "back: Paris", "back: Lyon")
    clock[0] = START + 100
    assert times(built(sample, tmp_path / "other")) == {START + 100}
    edit(card_file, "back: Lyon", "back: Paris")  # the first draft's cards again
    clock[0] = START + 200
    assert times(built(sample)) == {START + 200} and apkg.exists()


def test_source_date_epoch_and_releases_get_their_own_time(
    sample: Path, clock: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    apkg = built(sample)
    draft = apkg.read_bytes()
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(START + 50))
    monkeypatch.setattr(build, "_now", REAL_NOW)
    writes = counting(monkeypatch, build, "write_package")
    for _ in range(2):
        assert times(built(sample)) == {START + 50} and len(writes) in (1, 2)
    assert len(writes) == 2  # written each time, as always
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    monkeypatch.setattr(build, "_now", lambda problems: clock[0])
    clock[0] = START + 100
    assert times(built(sample)) == {START + 100}  # that build's package was no draft to keep
    draft = apkg.read_bytes()
    clock[0] = START + 200
    assert run("release", "--project", sample).exit_code == 0
    assert times(apkg) == {START + 200}  # a release: its own time
    # Back to the cards and package of the last draft, as if the release had not been: the
    # release dropped the draft's record (its time would be older than the release's notes).
    (sample / "decks" / "sample.lock.json").unlink()
    apkg.write_bytes(draft)
    clock[0] = START + 300
    assert times(built(sample)) == {START + 300}


def test_a_record_is_taken_only_within_the_lock_and_the_clock(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "deck.apkg").write_bytes(b"package")
    spec = DeckSpec(
        "Deck", "deck", 0, "", (), "deck.apkg", 1, 0, LintLimits(), Location("decks/deck.yaml", 1)
    )
    cache = RenderCache(tmp_path / "cache", b"fingerprint")
    record = DraftRecord("inputs", 1000, "rest", file_digest(out / "deck.apkg") or "")
    cache.store({f"{tmp_path}\0decks/deck.yaml": record.encode()}, "draft-time")
    cache.save()

    def earlier(inputs: str, now: int, released: int) -> DraftRecord | None:
        return DraftTimes(RenderCache(tmp_path / "cache", b"fingerprint"), tmp_path, out).earlier(
            spec, inputs, now, released
        )

    assert earlier("inputs", 1000, 1000) == record
    assert earlier("inputs", 5000, 0) == record
    assert earlier("other", 5000, 0) is None
    assert earlier("inputs", 999, 0) is None  # after the clock
    assert earlier("inputs", 5000, 1001) is None  # before the lock's release
    (out / "deck.apkg").write_bytes(b"packagf")
    assert earlier("inputs", 5000, 0) is None
    assert (
        DraftTimes(RenderCache(tmp_path / "cache", b"other code"), tmp_path, out).earlier(
            spec, "inputs", 5000, 0
        )
        is None
    )
    for text in ("", "[]", "null", '["a", 1, "b"]', '["a", "1", "b", "c"]', '["a", 0, "b", "c"]', "[" * 5000):
        assert DraftRecord.decode(text) is None, text


def test_the_plan_inputs_change_with_everything_the_notes_are_made_of(sample: Path) -> None:
    lock = Lock(sample / "decks" / "sample.lock.json", "decks/sample.lock.json", LockState())
    spec = load_project(sample, [], None).decks[0]
    templates = TemplateSet(sample)
    note_types = {k.type: templates.note_type(k, spec.name, "sample", 1, []) for k in KINDS.values()}
    note = NoteInput(
        "a", (), "guid", "1", {"Front": "f", "Back": "b", "tags": "t", "deck": "D"}, Location("x", 1)
    )
    base = plan_inputs(lock, "sample", spec, note_types, [note], [("t",)])
    assert plan_inputs(lock, "sample", spec, note_types, [note], [("t",)]) == base
    variants = [
        (lock, "other", spec, note_types, [note], [("t",)]),
        (Lock(lock.path, lock.rel, lock.state, "{}"), "sample", spec, note_types, [note], [("t",)]),
        (lock, "sample", dataclasses.replace(spec, description="x"), note_types, [note], [("t",)]),
        (lock, "sample", spec, {**note_types, "basic": note_types["cloze"]}, [note], [("t",)]),
        (lock, "sample", spec, note_types, [note._replace(card_id="b")], [("t",)]),
        (lock, "sample", spec, note_types, [note._replace(was=("z",))], [("t",)]),
        (lock, "sample", spec, note_types, [note._replace(default_guid="g")], [("t",)]),
        (lock, "sample", spec, note_types, [note._replace(note_type="2")], [("t",)]),
        (lock, "sample", spec, note_types, [note._replace(parts={**note.parts, "Back": "c"})], [("t",)]),
        (lock, "sample", spec, note_types, [note._replace(deck_was=Location("x", 2))], [("t",)]),
        (lock, "sample", spec, note_types, [note._replace(deck_was_name="E")], [("t",)]),
        (lock, "sample", spec, note_types, [note], [("u",)]),
        (lock, "sample", spec, note_types, [note], [("t", "u")]),
        (lock, "sample", spec, note_types, [note, note], [("t",), ("t",)]),
        # Strings that join to the same text: told apart by their lengths.
        (
            lock,
            "sample",
            spec,
            note_types,
            [note._replace(parts={**note.parts, "Front": "f\0", "Back": "b"})],
            [("t",)],
        ),
        (
            lock,
            "sample",
            spec,
            note_types,
            [note._replace(parts={**note.parts, "Front": "f", "Back": "\0b"})],
            [("t",)],
        ),
    ]
    digests = [plan_inputs(*variant) for variant in variants]  # type: ignore[arg-type]
    assert len({base, *digests}) == len(variants) + 1


def test_anki_sees_a_kept_draft_as_the_same_and_a_changed_card_as_an_update(
    sample: Path, tmp_path: Path, clock: list[int]
) -> None:
    assert run("release", "--project", sample).exit_code == 0
    card_file = sample / "cards" / "basics.yaml"
    edit(card_file, "back: Paris", "back: Lyon")
    clock[0] = START + 100
    col = new_collection(tmp_path / "anki" / "collection.anki2")
    log = import_package(col, built(sample))
    count = len(log.new)
    assert count == col.note_count() > 0
    ids = sorted(col.find_notes(""))
    types = {m["id"]: m["mod"] for m in col.models.all()}
    clock[0] = START + 200
    kept = built(sample)
    assert START + 200 not in times(kept)
    log = import_package(col, kept)
    assert not log.new and not log.updated and not log.conflicting and len(log.duplicate) == count
    assert sorted(col.find_notes("")) == ids and col.note_count() == count
    assert {m["id"]: m["mod"] for m in col.models.all()} == types  # no note type updated or copied
    edit(card_file, "back: the time one request takes", "back: the time a request takes")
    clock[0] = START + 300
    log = import_package(col, built(sample))
    # The card just changed, and the one changed since the release (the draft's time is newer).
    assert sorted(note.fields[-1] for note in log.updated) == ["capital-of-france", "term-latency"]
    assert not log.new and sorted(col.find_notes("")) == ids
    (note_id,) = col.find_notes('"ID:term-latency"')
    assert col.get_note(note_id)["Back"] == "the time a request takes"
    col.close()


def test_an_image_saved_while_the_package_is_written_is_not_kept_as_the_draft(
    sample: Path, tmp_path: Path, clock: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The record's digest of the media is made as the deck is planned; the package is written
    # afterwards from the files as they are then. An image saved in between (an author saving
    # while `serve` or a build runs) is packed with its new bytes under the record of the old:
    # undoing the edit then kept that package, a package no build of the files writes.
    image = sample / "cards" / "extra" / "diagram.png"
    before = image.read_bytes()
    real = build.write_all

    def write_all(files: object) -> None:
        image.write_bytes(before + b"\0saved meanwhile")
        real(files)  # type: ignore[arg-type]

    with monkeypatch.context() as patch:
        patch.setattr(build, "write_all", write_all)
        apkg = built(sample)
    image.write_bytes(before)  # undone
    clock[0] = START + 100
    built(sample)
    (when,) = times(apkg)
    clock[0] = when  # (the bytes a build without the cache writes at the package's time)
    assert apkg.read_bytes() == built(sample, tmp_path / "fresh", "--no-cache").read_bytes()
