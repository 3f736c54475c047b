"""A study group re-imports each release: real Anki, Anki's default import options."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import time
from pathlib import Path

import pytest
from anki.collection import Collection

from .conftest import import_package, new_collection, run

SHIPPED_CSS = Path(__file__).parent.parent / "src" / "deckbuilder" / "templates" / "style.css"


def build(root: Path) -> str:
    """A draft: the lock is left as it is."""
    result = run("--project", root)
    assert result.exit_code == 0, result.output
    return result.stdout


def release(root: Path) -> str:
    result = run("release", "--project", root)
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
        release(sample)
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
    return release(root)


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
    # A draft without changes keeps describing the latest release, byte for byte.
    assert "release 2: no changes since" in build(root)
    assert (root / "dist" / "sample.release-notes.md").read_text() == notes


def test_unchanged_rebuild_changes_nothing_in_anki(group: tuple[Path, Collection]) -> None:
    root, col = group
    lock = (root / "decks" / "sample.lock.json").read_bytes()
    summary = build(root)
    assert "release 1: no changes since" in summary
    assert (root / "decks" / "sample.lock.json").read_bytes() == lock
    log = import_package(col, root / "dist" / "sample.apkg")
    assert list(log.new) == [] and list(log.updated) == []
    assert note_by_id(col, "math-sample")["Extra"] == "my own mnemonic"


def test_released_field_list_is_frozen_and_a_version_bump_releases_new_notes(
    group: tuple[Path, Collection],
) -> None:
    root, col = group
    lock_path = root / "decks" / "sample.lock.json"
    lock = json.loads(lock_path.read_text())
    key, entry = next((k, v) for k, v in lock["note_types"].items() if v["name"].endswith("Basic"))
    entry["fields"] = ["Front", "Back"]  # as if an older deckbuilder had released these fields
    lock_path.write_text(json.dumps(lock, indent=1, sort_keys=True))
    before = (root / "dist" / "sample.apkg").read_bytes()
    result = run("--project", root)
    assert result.exit_code == 1
    line = next(i for i, t in enumerate(lock_path.read_text().splitlines(), 1) if f'"{key}"' in t)
    assert result.stderr.splitlines()[0] == (
        f"decks/sample.lock.json:{line}: note type 'Sample Deck: Basic' was released with "
        "fields Front, Back; this build has Front, Back, Extra, Source, ID. Anki would import "
        "it as a copy and update none of the members' notes. Keep the released fields, or "
        "release new note types: set 'note_type_version: 2' in decks/sample.yaml (members then "
        "get every note anew; their old notes and reviews stay, and the release notes tell them "
        "how to find the old ones)"
    )
    assert (root / "dist" / "sample.apkg").read_bytes() == before

    deck = root / "decks" / "sample.yaml"
    deck.write_text(deck.read_text() + "note_type_version: 2\n")
    release(root)
    log = import_package(col, root / "dist" / "sample.apkg")
    assert len(log.new) == 9 and list(log.conflicting) == [] and list(log.updated) == []
    assert col.note_count() == 18  # old notes keep their reviews; new ones arrive beside them
    old = col.find_notes('note:"Sample Deck: Basic"')
    assert len(old) == 6 and col.find_cards('note:"Sample Deck: Basic" -is:new')
    notes = (root / "dist" / "sample.release-notes.md").read_text()
    assert "## Added (9)" in notes
    assert 'note:"Sample Deck: Basic" OR note:"Sample Deck: Basic and reversed"' in notes
    # A member still on release 1 when release 3 comes learns of the replaced note types too.
    edit(root / "cards" / "basics.yaml", "back: Paris", "back: Paris, France")
    release(root)
    notes = (root / "dist" / "sample.release-notes.md").read_text()
    line = notes.split("### If you have release 1\n\n")[1].splitlines()[0]
    assert line.startswith('- Note types replaced since: search `note:"Sample Deck: Basic" OR ')


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_same_input_same_bytes(sample: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")
    twin = tmp_path / "twin"
    shutil.copytree(sample, twin)
    release(sample)
    release(twin)
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
    release(sample)
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


def test_renaming_the_deck_keeps_every_note(group: tuple[Path, Collection]) -> None:
    """The released identity wins over the default one, so members' notes still update."""
    root, col = group
    deck = root / "decks" / "sample.yaml"
    edit(deck, "name: Sample Deck", "name: Renamed Deck")
    edit(root / "cards" / "basics.yaml", "back: Paris", "back: Paris, on the Seine")
    release(root)
    log = import_package(col, root / "dist" / "sample.apkg")
    assert list(log.conflicting) == [] and list(log.new) == []
    assert note_by_id(col, "capital-of-france")["Back"] == "Paris, on the Seine"
    assert col.note_count() == 9
    assert "Renamed Deck: Basic" in {m.name for m in col.models.all_names_and_ids()}
    notes = (root / "dist" / "sample.release-notes.md").read_text()
    assert "moved to another subdeck. Anki keeps the cards you already have where they are" in notes

    edit(deck, "name: Renamed Deck", "name: Renamed Deck\nidentity: another-identity")
    result = run("--project", root)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == (
        "decks/sample.yaml:2: identity 'another-identity' differs from 'sample-deck', released in "
        "release 2 (decks/sample.lock.json); every note would become new for members. Set "
        "'identity: sample-deck' (an identity is free to change only before the first release)"
    )


def test_moving_a_card_to_a_subdeck_is_announced(group: tuple[Path, Collection]) -> None:
    root, col = group
    edit(root / "cards" / "basics.yaml", "    back: Paris\n", "    back: Paris\n    deck: Geography\n")
    release(root)
    log = import_package(col, root / "dist" / "sample.apkg")
    assert [n.fields[-1] for n in log.updated] == ["capital-of-france"]
    card = note_by_id(col, "capital-of-france").cards()[0]
    assert col.decks.name(card.did) == "Sample Deck"  # Anki does not move existing cards
    notes = (root / "dist" / "sample.release-notes.md").read_text()
    assert "- `capital-of-france` — What is the capital of France? (subdeck)" in notes
    (deck, search) = re.findall(r'^- `([^`]+)`: `("ID:[^`]+)`$', notes, re.M)[0]
    assert (deck, search) == ("Sample Deck::Geography", '"ID:capital-of-france"')
    col.set_deck(col.find_cards(search), col.decks.id_for_name(deck))  # what the notes say to do
    assert col.decks.name(note_by_id(col, "capital-of-france").cards()[0].did) == "Sample Deck::Geography"


def test_an_id_freed_by_a_rename_is_never_reused(sample: Path) -> None:
    release(sample)
    cards = sample / "cards" / "basics.yaml"
    edit(cards, "  - id: capital-of-france\n", "  - id: capital-france\n    was: capital-of-france\n")
    release(sample)
    edit(cards, "    was: capital-of-france\n", "")
    cards.write_text(
        cards.read_text() + "  - id: capital-of-france\n    front: What is a cap?\n    back: A hat\n"
    )
    result = run("--project", sample)
    assert result.exit_code == 1
    line = cards.read_text().splitlines().index("  - id: capital-of-france") + 1
    assert result.stderr.splitlines()[0] == (
        f"cards/basics.yaml:{line}: card id 'capital-of-france' belonged to the card renamed to "
        "'capital-france' in release 2; ids are never reused (members' notes know it), choose another"
    )


def test_a_released_card_keeps_its_type(sample: Path) -> None:
    release(sample)
    edit(sample / "cards" / "basics.yaml", "    back: Paris\n", "    back: Paris\n    type: reversed\n")
    result = run("--project", sample)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == (
        "cards/basics.yaml:3: card 'capital-of-france' was released as a 'Sample Deck: Basic' note; "
        "Anki cannot change a note's type on import, so members' copies would stop updating. Keep its "
        "type, or give the card a new id without 'was' (members then get a new note and keep the old one)"
    )


@pytest.mark.parametrize(
    ("lock", "message"),
    [
        ("[]", "unreadable lock file (not a JSON object)"),
        ('{"format": 1, "notes": []', "unreadable lock file (Expecting ',' delimiter: line 1 column 26"),
        ('{"format": 1, "notes": []}', "unreadable lock file ('notes' must be an object)"),
        ('{"format": 1, "release": "1"}', "unreadable lock file ('release' must be a number)"),
        ('{"format": 1, "notes": {"a": []}}', "unreadable lock file (note 'a' must be an object)"),
        (
            '{"format": 1, "notes": {"a": {"guid": "x"}}}',
            "unreadable lock file (note 'a' lacks guid, hashes, mod, release, change)",
        ),
        ('{"format": 9}', "unreadable lock file (unknown lock format 9)"),
        ('{"format": 1, "time": -5}', "unreadable lock file ('time' or 'release' is out of range)"),
        ('{"format": 1, "retired": null}', "unreadable lock file ('retired' must list"),
        ('{"format": 1, "note_type_version": "1"}', "unreadable lock file ('note_type_version' must be"),
        (
            '{"format": 1, "notes": {"a": {"guid": "", "hashes": {}, "mod": 1, "release": 1, '
            '"change": ["added"]}}}',
            "unreadable lock file (note 'a' has an empty 'guid' or a bad 'note_type')",
        ),
        (
            '{"format": 1, "notes": {"a": {"guid": "g", "hashes": {}, "mod": 1, "release": 1, '
            '"change": []}}}',
            "unreadable lock file (note 'a' has a bad 'change')",
        ),
        (
            '{"format": 1, "note_types": {"1": {"name": "n", "fields": [1], "fingerprint": "f", "mod": 1}}}',
            "unreadable lock file (note type 1 lacks name, fields, fingerprint, mod or release)",
        ),
        ("[" * 100000 + "]" * 100000, "unreadable lock file (maximum recursion depth exceeded"),
    ],
)
def test_a_damaged_lock_file_is_reported(sample: Path, lock: str, message: str) -> None:
    (sample / "decks" / "sample.lock.json").write_text(lock)
    result = run("--project", sample)
    assert result.exit_code == 1
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("decks/sample.lock.json:")]
    assert line.split(": ", 1)[1].startswith(message)
    assert line.endswith("restore it from version control")
    assert not (sample / "dist").exists()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("soon", "SOURCE_DATE_EPOCH: 'soon' is not a number of seconds"),
        ("²", "SOURCE_DATE_EPOCH: '²' is not a number of seconds"),
        ("99999999999999999999", "SOURCE_DATE_EPOCH: '99999999999999999999' is not a number of seconds"),
        ("4102444800", "SOURCE_DATE_EPOCH: 4102444800 is in the future; check the clock"),
    ],
)
def test_source_date_epoch_is_checked(
    sample: Path, monkeypatch: pytest.MonkeyPatch, value: str, message: str
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", value)
    result = run("--project", sample)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == message


def test_an_earlier_id_is_never_given_to_a_new_card(sample: Path) -> None:
    cards = sample / "cards" / "basics.yaml"
    edit(cards, "  - id: capital-of-france\n", "  - id: capital-france\n    was: capital-of-france\n")
    release(sample)  # the lock never knew 'capital-of-france' itself
    text = cards.read_text()
    start = text.index("  - id: capital-france")
    text = text[:start] + text[text.index("  - id: term-latency") :]
    cards.write_text(text + "  - id: capital-of-france\n    front: What is a cap?\n    back: A hat\n")
    result = run("--project", sample)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0].endswith(
        "card 'capital-of-france' would take over the note of card 'capital-france': they share "
        "one identity (an earlier id of one, or a 'was' of the other); ids are never reused, so "
        "choose another id or 'was'"
    )


def test_a_restored_card_keeps_members_edits(group: tuple[Path, Collection]) -> None:
    root, col = group
    extra = root / "cards" / "extra" / "more.yaml"
    text = extra.read_text()
    extra.write_text(text[: text.index("  - id: extra-table")])
    release(root)
    own = note_by_id(col, "extra-table")
    own["Extra"] = "kept while the card was away"
    col.update_note(own)
    extra.write_text(text)
    assert "1 changed" in release(root)
    log = import_package(col, root / "dist" / "sample.apkg")
    assert list(log.updated) == [] and list(log.new) == []
    assert note_by_id(col, "extra-table")["Extra"] == "kept while the card was away"


def test_source_date_epoch_older_than_the_release_is_refused(
    sample: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    release(sample)
    edit(sample / "cards" / "basics.yaml", "back: Paris", "back: Paris, on the Seine")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "315532800")
    result = run("--project", sample)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0].startswith(
        "SOURCE_DATE_EPOCH: 315532800 is older than release 1 of Sample Deck ("
    )


def test_each_deck_keeps_an_identity_of_its_own(sample: Path) -> None:
    release(sample)
    deck = sample / "decks" / "sample.yaml"
    edit(deck, "name: Sample Deck", "name: Old Sample")
    (sample / "decks" / "new.yaml").write_text("name: Sample Deck\ncards: [cards/extra/*.yaml]\n")
    result = run("--project", sample)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == (
        "decks/sample.yaml:1: identity 'sample-deck' is also decks/new.yaml's; "
        "give this deck an identity of its own"
    )


def test_decks_named_without_latin_letters_get_distinct_identities(make_project) -> None:  # type: ignore[no-untyped-def]
    cards = "cards:\n  - id: q1\n    front: Q\n    back: A\n"
    root = make_project(
        {
            "decks/a.yaml": "name: Физика\ncards: [cards/a.yaml]\noutput: a.apkg\n",
            "decks/b.yaml": "name: Химия\ncards: [cards/b.yaml]\noutput: b.apkg\n",
            "cards/a.yaml": cards,
            "cards/b.yaml": cards.replace("q1", "q2"),
        }
    )
    release(root)
    identities = {json.loads((root / "decks" / f"{n}.lock.json").read_text())["identity"] for n in "ab"}
    assert len(identities) == 2 and all(i.startswith("deck-") for i in identities)


def test_a_lock_without_identity_learns_it(sample: Path) -> None:
    release(sample)
    before = sha256(sample / "dist" / "sample.apkg")
    lock_path = sample / "decks" / "sample.lock.json"
    lock = json.loads(lock_path.read_text())
    del lock["identity"]  # as written before identities were recorded
    lock_path.write_text(json.dumps(lock))
    assert "release 1: no changes since" in build(sample)
    assert sha256(sample / "dist" / "sample.apkg") == before
    edit(sample / "cards" / "basics.yaml", "back: Paris", "back: Paris, France")
    release(sample)
    assert json.loads(lock_path.read_text())["identity"] == "sample-deck"


@pytest.mark.parametrize(
    ("history", "line"),
    [(["", "note_type_version: 2\n"], 7), (["note_type_version: 2\n"], 1)],
    ids=["after-a-bump", "first-release-at-2"],
)
def test_note_type_versions_only_go_up(sample: Path, history: list[str], line: int) -> None:
    deck = sample / "decks" / "sample.yaml"
    original = deck.read_text()
    for version_line in history:
        deck.write_text(original + version_line)
        release(sample)
    deck.write_text(original + ("note_type_version: 1\n" if line == 7 else ""))
    result = run("--project", sample)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == (
        f"decks/sample.yaml:{line}: note_type_version 1 was already released "
        "(decks/sample.lock.json); versions only go up: the next is 3"
    )


def test_same_source_date_epoch_for_two_releases(sample: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A commit time reused for a second build before committing is not 'older'."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    release(sample)
    edit(sample / "cards" / "basics.yaml", "back: Paris", "back: Paris, France")
    release(sample)
    edit(sample / "cards" / "basics.yaml", "back: Paris, France", "back: Paris, on the Seine")
    assert "release 3: 1 changed" in release(sample)


def test_identities_are_compared_as_released(sample: Path) -> None:
    """The renamed deck keeps 'sample-deck'; its new name's slug is free for another deck."""
    release(sample)
    edit(sample / "decks" / "sample.yaml", "name: Sample Deck", "name: Lang French")
    (sample / "decks" / "new.yaml").write_text(
        "name: Lang::French\ncards: [cards/extra/*.yaml]\noutput: new.apkg\n"
    )
    result = run("release", "--project", sample)
    assert result.exit_code == 0, result.output
    identities = {
        json.loads((sample / "decks" / f"{n}.lock.json").read_text())["identity"] for n in ("sample", "new")
    }
    assert identities == {"sample-deck", "lang-french"}


def test_twenty_drafts_then_one_release(
    group: tuple[Path, Collection], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Drafts never write the lock; the author's Anki follows every draft, then the release."""
    root, _ = group
    lock_path = root / "decks" / "sample.lock.json"
    lock = lock_path.read_bytes()
    author = new_collection(tmp_path / "author" / "collection.anki2")
    import_package(author, root / "dist" / "sample.apkg")
    cards = root / "cards" / "basics.yaml"
    start = json.loads(lock)["time"]
    for n in range(20):
        monkeypatch.setenv("SOURCE_DATE_EPOCH", str(start + 60 * (n + 1)))  # an editing session
        edit(cards, "back: Paris" if n == 0 else f"back: Paris {n - 1}\n", f"back: Paris {n}\n")
        summary = build(root)
        assert "draft (after release 1): 1 changed; `build-deck release` makes it release 2" in summary
        assert lock_path.read_bytes() == lock
        if n % 5 == 0:
            log = import_package(author, root / "dist" / "sample.apkg")
            assert [note.fields[-1] for note in log.updated] == ["capital-of-france"]
            assert note_by_id(author, "capital-of-france")["Back"] == f"Paris {n}"
    edit(cards, "back: Paris 19\n", "back: Paris, on the Seine\n")
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    assert "release 2: 1 changed" in release(root)
    log = import_package(author, root / "dist" / "sample.apkg")
    assert [note.fields[-1] for note in log.updated] == ["capital-of-france"]
    assert note_by_id(author, "capital-of-france")["Back"] == "Paris, on the Seine"
    assert json.loads(lock_path.read_text())["release"] == 2


def test_a_member_who_skips_a_release_learns_everything_from_the_newest_notes(
    group: tuple[Path, Collection],
) -> None:
    """Release 1 imported; releases 2 (removal, rename, move) and 3 (an edit) made; only 3 imported."""
    root, col = group
    before = scheduling(col)
    revlog = col.db.scalar("select count() from revlog")
    cards = root / "cards" / "basics.yaml"
    edit(cards, "  - id: term-latency\n", "  - id: term-latency-definition\n    was: term-latency\n")
    edit(cards, "  - id: code-sample\n", "  - id: code-sample\n    deck: Code\n")
    extra = root / "cards" / "extra" / "more.yaml"
    text = extra.read_text()
    extra.write_text(text[: text.index("  - id: extra-table")])
    assert "release 2: 1 changed, 1 renamed, 1 removed" in release(root)
    edit(cards, "back: Paris", "back: Paris, on the Seine")
    assert "release 3: 1 changed" in release(root)

    log = import_package(col, root / "dist" / "sample.apkg")
    assert sorted(n.fields[-1] for n in log.updated) == [
        "capital-of-france",
        "code-sample",
        "term-latency-definition",
    ]
    assert list(log.new) == [] and list(log.conflicting) == []
    assert col.note_count() == 9  # no duplicates: the renamed note is the same note
    assert note_by_id(col, "capital-of-france")["Back"] == "Paris, on the Seine"
    assert note_by_id(col, "math-sample")["Extra"] == "my own mnemonic"
    after = scheduling(col)
    assert {cid: after[cid] for cid in before} == before
    assert col.db.scalar("select count() from revlog") == revlog
    description = col.decks.get(col.decks.id_for_name("Sample Deck"))["desc"]
    assert re.search(r"<small>Release 3 · \d{4}-\d\d-\d\d</small></p>$", description)

    notes = (root / "dist" / "sample.release-notes.md").read_text()
    assert notes.startswith("# Sample Deck — release 3 (")
    assert "## Changed (1)\n\n- `capital-of-france` — What is the capital of France? (Back)\n" in notes
    assert "Removed" not in notes.split("## Coming from an earlier release")[0]
    catch_up = notes.split("## Coming from an earlier release")[1]
    assert "### If you have release 2" not in catch_up  # release 2's members read the changes above
    assert catch_up.split("### If you have release 1\n\n")[1].splitlines()[:3] == [
        '- Removed since: search `"ID:extra-table"`, then delete or suspend them.',
        "- Moved to another subdeck since: search each line's notes, select the cards and use Change "
        "Deck to the subdeck named:",
        '  - `Sample Deck::Code`: `"ID:code-sample"`',
    ]
    # The searches find what they say, in the member's own collection.
    assert len(col.find_notes('"ID:extra-table"')) == 1
    (moved,) = col.find_cards('"ID:code-sample"')
    assert col.decks.name(col.get_card(moved).did) == "Sample Deck"


def test_a_note_renamed_and_then_removed_is_found_by_the_id_the_member_has(
    group: tuple[Path, Collection],
) -> None:
    root, col = group
    cards = root / "cards" / "basics.yaml"
    edit(cards, "  - id: term-latency\n", "  - id: latency\n    was: term-latency\n")
    release(root)
    edit(
        cards,
        "  - id: latency\n    was: term-latency\n",
        "  - id: latency-time\n    was: [latency, term-latency]\n",
    )
    release(root)
    text = cards.read_text()
    start = text.index("  - id: latency-time")
    cards.write_text(text[:start] + text[text.index("  - id: ", start + 1) :])
    assert "release 4: 1 removed" in release(root)
    import_package(col, root / "dist" / "sample.apkg")  # the member had release 1
    notes = (root / "dist" / "sample.release-notes.md").read_text()
    line = notes.split("### If you have release 1\n\n")[1].splitlines()[0]
    search = line.split("`")[1]
    assert search == '"ID:latency-time" OR "ID:latency" OR "ID:term-latency"'
    assert len(col.find_notes(search)) == 1  # the note is still 'term-latency' in their collection
