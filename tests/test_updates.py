"""A study group re-imports each release: real Anki, Anki's default import options."""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path

import pytest
from anki.collection import Collection

from .conftest import import_package, new_collection, run

SHIPPED_CSS = Path(__file__).parent.parent / "src" / "deckbuilder" / "templates" / "style.css"


def build(root: Path) -> str:
    result = run("--project", root)
    assert result.exit_code == 0, result.output
    return result.stdout


def note_by_id(col: Collection, card_id: str):  # type: ignore[no-untyped-def]
    (nid,) = col.find_notes(f'"ID:{card_id}"')
    return col.get_note(nid)


def scheduling(col: Collection) -> dict[int, tuple[int, ...]]:
    return {
        cid: (c.type, c.queue, c.due, c.ivl, c.factor, c.reps, c.lapses, c.did)
        for cid in col.find_cards("")
        for c in [col.get_card(cid)]
    }


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.fixture
def group(sample: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Collection]:
    """Release 1, built a day ago, imported by a member who studied and edited a note of their own."""
    with monkeypatch.context() as env:
        env.setenv("SOURCE_DATE_EPOCH", str(int(time.time()) - 86400))
        build(sample)
    col = new_collection(tmp_path / "member" / "collection.anki2")
    import_package(col, sample / "dist" / "sample.apkg")
    for card_id in ("capital-of-france", "code-sample"):
        card = note_by_id(col, card_id).cards()[0]
        card.start_timer()
        col.sched.answerCard(card, 3)
    own = note_by_id(col, "math-sample")
    own["Extra"] = "my own mnemonic"
    col.update_note(own)
    return sample, col


def release_2(root: Path) -> str:
    cards = root / "cards" / "basics.yaml"
    edit(cards, "back: Paris", "back: Paris, on the Seine")
    edit(cards, "  - id: term-latency\n", "  - id: term-latency-definition\n    was: term-latency\n")
    cards.write_text(cards.read_text() + "  - id: brand-new\n    front: A new question?\n    back: Yes.\n")
    extra = root / "cards" / "extra" / "more.yaml"
    text = extra.read_text()
    extra.write_text(text[: text.index("  - id: extra-table")])
    (root / "templates" / "style.css").write_text(
        SHIPPED_CSS.read_text() + "\n.card { border-top: 3px solid #0a58ca; }\n"
    )
    return build(root)


def test_a_release_updates_exactly_what_changed(group: tuple[Path, Collection]) -> None:
    root, col = group
    before = scheduling(col)
    revlog = col.db.scalar("select count() from revlog")
    model_names = sorted(m.name for m in col.models.all_names_and_ids())
    summary = release_2(root)
    assert "removed from the cards: extra-table" in summary

    log = import_package(col, root / "dist" / "sample.apkg")
    updated = sorted(n.fields[-1] for n in log.updated)
    assert updated == ["capital-of-france", "term-latency-definition"]
    assert [n.fields[-1] for n in log.new] == ["brand-new"]
    assert list(log.conflicting) == []

    assert note_by_id(col, "capital-of-france")["Back"] == "Paris, on the Seine"
    renamed = note_by_id(col, "term-latency-definition")
    assert renamed["Front"] == "latency"
    assert col.find_notes('"ID:term-latency"') == []  # renamed, not duplicated
    assert note_by_id(col, "math-sample")["Extra"] == "my own mnemonic"
    assert note_by_id(col, "extra-table")["Front"] == "Which row holds b?"  # never deleted
    assert col.note_count() == 10

    after = scheduling(col)
    assert {cid: after[cid] for cid in before} == before
    assert col.db.scalar("select count() from revlog") == revlog
    assert sorted(m.name for m in col.models.all_names_and_ids()) == model_names
    basic = col.models.by_name("Sample Deck: Basic")
    assert basic is not None and "border-top: 3px solid #0a58ca" in basic["css"]
    card = note_by_id(col, "capital-of-france").cards()[0]
    assert "border-top: 3px solid #0a58ca" in card.question()

    again = import_package(col, root / "dist" / "sample.apkg")
    assert list(again.new) == [] and list(again.updated) == []
    assert scheduling(col) == after


def test_release_notes_say_what_changed(group: tuple[Path, Collection]) -> None:
    root, _ = group
    release_2(root)
    notes = (root / "dist" / "sample.release-notes.md").read_text()
    assert notes.startswith("# Sample Deck — release 2 (")
    assert "## Added (1)\n\n- `brand-new` — A new question?\n" in notes
    assert "## Changed (1)\n\n- `capital-of-france` — What is the capital of France? (Back)\n" in notes
    assert "## Renamed (same note, new id) (1)\n\n- `term-latency` → `term-latency-definition`" in notes
    assert "## Removed (1)\n\n- `extra-table`\n" in notes
    assert '    "ID:extra-table"\n' in notes
    assert "## Note types (templates or styling updated)\n\n- Sample Deck: Basic\n" in notes
    # A rebuild without changes keeps describing the latest release, byte for byte.
    build(root)
    assert (root / "dist" / "sample.release-notes.md").read_text() == notes


def test_unchanged_rebuild_changes_nothing_in_anki(group: tuple[Path, Collection]) -> None:
    root, col = group
    summary = build(root)
    assert "release 1 (unchanged): 9 added" in summary
    log = import_package(col, root / "dist" / "sample.apkg")
    assert list(log.new) == [] and list(log.updated) == []
    assert note_by_id(col, "math-sample")["Extra"] == "my own mnemonic"


def test_released_field_list_is_frozen(sample: Path) -> None:
    build(sample)
    lock_path = sample / "decks" / "sample.lock.json"
    lock = json.loads(lock_path.read_text())
    key, entry = next((k, v) for k, v in lock["note_types"].items() if v["name"].endswith("Basic"))
    entry["fields"] = ["Front", "Back"]
    lock_path.write_text(json.dumps(lock, indent=1, sort_keys=True))
    before = (sample / "dist" / "sample.apkg").read_bytes()
    result = run("--project", sample)
    assert result.exit_code == 1
    line = next(i for i, t in enumerate(lock_path.read_text().splitlines(), 1) if f'"{key}"' in t)
    assert result.stderr.splitlines()[0] == (
        f"decks/sample.lock.json:{line}: note type 'Sample Deck: Basic' was released with "
        "fields Front, Back; this build has Front, Back, Extra, Source, ID. Anki would import "
        "it as a copy and update none of the members' notes. Keep the released fields, or "
        "release new note types: set 'note_type_version: 2' in decks/sample.yaml (members' old "
        "notes then stay as they are)"
    )
    assert (sample / "dist" / "sample.apkg").read_bytes() == before
    deck = sample / "decks" / "sample.yaml"
    deck.write_text(deck.read_text() + "note_type_version: 2\n")
    assert run("--project", sample).exit_code == 0


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_same_input_same_bytes(sample: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")
    twin = tmp_path / "twin"
    shutil.copytree(sample, twin)
    build(sample)
    build(twin)
    first = sha256(sample / "dist" / "sample.apkg")
    assert sha256(twin / "dist" / "sample.apkg") == first
    # The lock now holds the release; a later build of the same input is identical too.
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1790000000")
    build(sample)
    assert sha256(sample / "dist" / "sample.apkg") == first
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    build(sample)
    assert sha256(sample / "dist" / "sample.apkg") == first


def test_clone_with_committed_lock_builds_identical_package(sample: Path, tmp_path: Path) -> None:
    build(sample)
    clone = tmp_path / "clone"
    shutil.copytree(sample, clone, ignore=shutil.ignore_patterns("dist"))
    build(clone)
    assert sha256(clone / "dist" / "sample.apkg") == sha256(sample / "dist" / "sample.apkg")


def test_always_would_overwrite_a_members_edit(group: tuple[Path, Collection]) -> None:
    """Why the README tells members to keep Anki's default "If newer"."""
    root, col = group
    always = 1
    log = import_package(col, root / "dist" / "sample.apkg", update=always)
    assert [n.fields[-1] for n in log.updated] == ["math-sample"]
    assert note_by_id(col, "math-sample")["Extra"] == ""
