"""Members of release 1 of the MLE Interview deck import today's cards: real Anki, default options.

Release 1 is rebuilt exactly as it was released, by the code, cards and lock of its commit; a member
imports it and studies. Today's cards are then built (a draft, in a copy of the project) and imported
over it: every kept card id must still be the member's note, reviews included, updated in place.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from anki.collection import Collection

from .conftest import REPO, import_package, new_collection, run

RELEASE_1 = "9122890"
"""The commit of the deck as released when this test was written (release 1 of its lock)."""

STUDIED = (
    "loop-coding-rounds",
    "code-four-steps",
    "mlsd-covariate-shift",
    "ebr-triplet-margin",
    "mlsd-grokking-steps",
)
"""Cards the member answers: rewritten, unchanged, reversed, split in two, and removed from the cards."""

LOCK = "decks/mle-interview.lock.json"


@dataclass
class Upgrade:
    col: Collection
    before: dict[str, tuple[int, str, int, list[str]]]
    """Card id -> (note id, guid, note type id, fields) after release 1 was imported and studied."""
    scheduling: dict[int, tuple[int, ...]]
    revlog: list[tuple[object, ...]]
    today: dict[str, list[str]]
    """Card id -> fields of today's package, imported into an empty collection."""
    new: list[str]
    updated: list[str]
    conflicting: int
    caught_up: dict[tuple[str, int], str]
    """Where each card is for another member of release 1 who imported today's package and then
    moved cards as the notes' "If you have release 1" says."""
    fresh: dict[tuple[str, int], str]
    """Where a new member's import puts each card."""


def git(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, check=False)


def notes(col: Collection) -> dict[str, tuple[int, str, int, list[str]]]:
    found: dict[str, tuple[int, str, int, list[str]]] = {}
    for nid in col.find_notes(""):
        note = col.get_note(nid)
        assert note["ID"] not in found, f"two notes for card id {note['ID']}"
        found[note["ID"]] = (note.id, note.guid, note.mid, list(note.fields))
    return found


def scheduling(col: Collection) -> dict[int, tuple[int, ...]]:
    return {
        cid: (c.nid, c.ord, c.type, c.queue, c.due, c.ivl, c.factor, c.reps, c.lapses)
        for cid in col.find_cards("")
        for c in [col.get_card(cid)]
    }


def released(commit: str, folder: Path) -> str:
    """Build `commit`'s cards and lock with that commit's own code into `folder`: the package
    members imported then. Returns what the build printed."""
    if shutil.which("git") is None or git("cat-file", "-e", f"{commit}^{{commit}}").returncode != 0:
        pytest.skip(f"needs the git history that holds commit {commit}")
    archive = git("archive", "--format=tar", commit, "decks", "cards", "src")
    assert archive.returncode == 0, archive.stderr.decode()
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        # Python 3.12 (and patched 3.10/3.11) refuse unsafe members themselves.
        safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tar.extractall(folder, **safe)
    env = {**os.environ, "PYTHONPATH": str(folder / "src")}
    old = subprocess.run(
        [sys.executable, "-m", "deckbuilder", "--project", str(folder)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert old.returncode == 0, old.stdout + old.stderr
    return old.stdout


def todays_package(folder: Path) -> Path:
    """Today's cards built in a copy (the repository's lock is never written)."""
    lock = (REPO / LOCK).read_bytes()
    for part in ("decks", "cards", "templates"):
        if (REPO / part).is_dir():
            shutil.copytree(REPO / part, folder / part)
    result = run("--project", folder)
    assert result.exit_code == 0, result.output
    assert (REPO / LOCK).read_bytes() == lock
    return folder / "dist" / "mle-interview.apkg"


def study(col: Collection, card_ids: tuple[str, ...]) -> None:
    """Answer the first card of each note "good"."""
    for card_id in card_ids:
        (nid,) = col.find_notes(f'"ID:{card_id}"')
        card = col.get_note(nid).cards()[0]
        card.start_timer()
        col.sched.answerCard(card, 3)


@pytest.fixture(scope="module")
def upgrade(tmp_path_factory: pytest.TempPathFactory) -> Upgrade:
    released_1 = tmp_path_factory.mktemp("release-1")
    printed = released(RELEASE_1, released_1)
    assert "release 1 (unchanged): 149 added" in printed, printed
    assert (released_1 / LOCK).read_bytes() == git("show", f"{RELEASE_1}:{LOCK}").stdout

    col = new_collection(tmp_path_factory.mktemp("member") / "collection.anki2")
    import_package(col, released_1 / "dist" / "mle-interview.apkg")
    study(col, STUDIED)
    before = notes(col)
    schedule = scheduling(col)
    revlog = col.db.all("select id, cid, ease, ivl, lastIvl, factor, type from revlog order by id")
    assert len(revlog) == len(STUDIED)

    current = tmp_path_factory.mktemp("current")
    package = todays_package(current)

    reference = new_collection(tmp_path_factory.mktemp("fresh") / "collection.anki2")
    import_package(reference, package)
    today = {card_id: fields for card_id, (_, _, _, fields) in notes(reference).items()}

    log = import_package(col, package)

    release_notes = (current / "dist" / "mle-interview.release-notes.md").read_text("utf-8")
    catch_up = release_notes.split("### If you have release 1\n", 1)[1].split("\n### ", 1)[0]
    late = new_collection(tmp_path_factory.mktemp("member-1-late") / "collection.anki2")
    import_package(late, released_1 / "dist" / "mle-interview.apkg")
    import_package(late, package)
    moves = re.findall(r'^  - `([^`]+)`: `("ID:[^`]+)`$', catch_up, re.M)
    assert moves
    for deck, search in moves:
        late.set_deck(late.find_cards(search), late.decks.id_for_name(deck))
    return Upgrade(
        col=col,
        before=before,
        scheduling=schedule,
        revlog=revlog,
        today=today,
        new=sorted(n.fields[-1] for n in log.new),
        updated=sorted(n.fields[-1] for n in log.updated),
        conflicting=len(log.conflicting),
        caught_up=decks_of(late),
        fresh=decks_of(reference),
    )


def test_kept_ids_are_the_same_notes(upgrade: Upgrade) -> None:
    after = notes(upgrade.col)  # one note per card id: nothing duplicated
    kept = upgrade.before.keys() & upgrade.today.keys()
    assert len(kept) > 100
    for card_id in kept:
        nid, guid, mid, _ = upgrade.before[card_id]
        assert after[card_id][:3] == (nid, guid, mid), card_id
    assert len({guid for _, guid, _, _ in after.values()}) == len(after)
    assert upgrade.conflicting == 0


def test_kept_notes_are_updated_in_place(upgrade: Upgrade) -> None:
    after = notes(upgrade.col)
    kept = upgrade.before.keys() & upgrade.today.keys()
    for card_id in kept:
        assert after[card_id][3] == upgrade.today[card_id], card_id
    changed = sorted(c for c in kept if upgrade.before[c][3] != upgrade.today[c])
    # Release 3 numbered every subdeck: a new subdeck is a change too, so every kept note updates
    # (test_updates.py shows that otherwise only notes that changed do).
    assert set(changed) < set(upgrade.updated) and upgrade.updated == sorted(kept)
    for card_id in ("loop-coding-rounds", "ebr-triplet-margin", "mlsd-covariate-shift"):
        assert card_id in changed
    assert "code-four-steps" not in changed


def test_reviews_survive_the_import(upgrade: Upgrade) -> None:
    col = upgrade.col
    assert {cid: s for cid, s in scheduling(col).items() if cid in upgrade.scheduling} == upgrade.scheduling
    assert (
        col.db.all("select id, cid, ease, ivl, lastIvl, factor, type from revlog order by id")
        == upgrade.revlog
    )
    for card_id in STUDIED:
        (nid,) = col.find_notes(f'"ID:{card_id}"')
        assert col.get_note(nid).cards()[0].reps == 1, card_id


def test_new_ids_arrive_as_new_notes_and_removed_ones_stay(upgrade: Upgrade) -> None:
    after = notes(upgrade.col)
    added = sorted(upgrade.today.keys() - upgrade.before.keys())
    removed = upgrade.before.keys() - upgrade.today.keys()
    assert upgrade.new == added and len(added) > 100
    assert "mlsd-grokking-steps-early" in added and "mlsd-grokking-steps" in removed
    assert set(after) == upgrade.before.keys() | upgrade.today.keys()
    for card_id in removed:  # Anki never deletes on import: members keep these, reviews and all
        assert after[card_id] == upgrade.before[card_id], card_id


def test_a_member_of_release_1_who_follows_the_notes_has_every_card_where_a_new_member_has_it(
    upgrade: Upgrade,
) -> None:
    kept = {key: deck for key, deck in upgrade.caught_up.items() if key[0] in upgrade.today}
    assert kept == upgrade.fresh


# Release 2 -> today: the subdecks were renamed (numbered in study order) in release 3
# ----------------------------------------------------------------------------------------

RELEASE_2 = "a3dd0e2"
"""The commit that made release 2 of the deck's lock."""


def decks_of(col: Collection) -> dict[tuple[str, int], str]:
    """(card id, card number) -> the deck the card is in."""
    return {
        (card.note()["ID"], card.ord): col.decks.name(card.did)
        for cid in col.find_cards("")
        for card in [col.get_card(cid)]
    }


@dataclass
class Renamed:
    col: Collection
    before: dict[str, tuple[int, str, int, list[str]]]
    scheduling: dict[int, tuple[int, ...]]
    expected: dict[tuple[str, int], str]
    """Where a fresh import of today's package puts each card."""
    expected_decks: set[str]
    notes: str
    imported_first: Collection
    """A member of release 2 who imported release 3, then followed the notes' searches."""


@pytest.fixture(scope="module")
def renamed(tmp_path_factory: pytest.TempPathFactory) -> Renamed:
    released_2 = tmp_path_factory.mktemp("release-2")
    printed = released(RELEASE_2, released_2)
    assert "release 2: no changes since" in printed, printed

    col = new_collection(tmp_path_factory.mktemp("member-2") / "collection.anki2")
    import_package(col, released_2 / "dist" / "mle-interview.apkg")
    assert "MLE Interview::Interview Loop" in {d.name for d in col.decks.all_names_and_ids()}
    study(col, ("loop-coding-rounds", "ebr-triplet-margin", "cache-why-in-front-of-db"))
    before, schedule = notes(col), scheduling(col)

    current = tmp_path_factory.mktemp("current-3")
    package = todays_package(current)
    reference = new_collection(tmp_path_factory.mktemp("fresh-3") / "collection.anki2")
    import_package(reference, package)
    expected = decks_of(reference)
    expected_decks = {d.name for d in reference.decks.all_names_and_ids()}
    release_notes = (current / "dist" / "mle-interview.release-notes.md").read_text("utf-8")

    # The member does what the release notes say, before importing.
    section = release_notes.split("## Subdecks renamed", 1)[1].split("\n## ", 1)[0]
    renames = re.findall(r"^- `([^`]+)` → `([^`]+)`$", section, re.M)
    assert len(renames) == 30
    for old_name, new_name in renames:
        col.decks.rename(col.decks.by_name(old_name), new_name)
    (listed,) = re.findall(r"these old parent subdecks hold no cards: (.*?)\. Check", section)
    for parent in re.findall(r"`([^`]+)`", listed):
        assert not col.find_cards(f'"deck:{parent}"'), parent
        col.decks.remove([col.decks.id_for_name(parent)])
    log = import_package(col, package)
    assert not log.conflicting

    # Another member imports first, then moves the cards by the searches the notes give.
    late = new_collection(tmp_path_factory.mktemp("member-2-late") / "collection.anki2")
    import_package(late, released_2 / "dist" / "mle-interview.apkg")
    import_package(late, package)
    searches = re.findall(r'^- `([^`]+)`: `("deck:[^`]+)`$', section.split("Imported already?", 1)[1], re.M)
    assert [new for new, _ in searches] == [new for _, new in renames]
    for (old_name, _), (new_name, search) in zip(renames, searches, strict=True):
        assert late.find_cards(search), search
        late.set_deck(late.find_cards(search), late.decks.id_for_name(new_name))
        late.decks.remove([late.decks.id_for_name(old_name)])
    for parent in re.findall(r"`([^`]+)`", listed):
        assert not late.find_cards(f'"deck:{parent}"'), parent
        late.decks.remove([late.decks.id_for_name(parent)])
    return Renamed(col, before, schedule, expected, expected_decks, release_notes, late)


def test_release_3_numbers_the_subdecks_in_study_order(renamed: Renamed) -> None:
    names = sorted(renamed.expected_decks - {"Default", "MLE Interview"})
    assert names[0] == "MLE Interview::1 Interview Loop"
    assert all(re.fullmatch(r"MLE Interview(::\d [^:]+)+", name) for name in names), names


def test_members_who_rename_first_have_every_card_where_a_new_member_has_it(renamed: Renamed) -> None:
    col = renamed.col
    assert decks_of(col) == renamed.expected
    assert {d.name for d in col.decks.all_names_and_ids()} == renamed.expected_decks  # no "+", no old


def test_members_who_imported_first_and_searched_have_every_card_where_a_new_member_has_it(
    renamed: Renamed,
) -> None:
    col = renamed.imported_first
    assert decks_of(col) == renamed.expected
    assert {d.name for d in col.decks.all_names_and_ids()} == renamed.expected_decks


def test_the_renames_keep_members_notes_and_reviews(renamed: Renamed) -> None:
    col = renamed.col
    after = notes(col)  # one note per card id
    for card_id, (nid, guid, mid, _) in renamed.before.items():
        assert after[card_id][:3] == (nid, guid, mid), card_id
    assert len(after) == len(renamed.before)  # release 3 adds no note
    kept = {cid: s for cid, s in scheduling(col).items() if cid in renamed.scheduling}
    assert kept == renamed.scheduling
    assert sum(s[7] for s in kept.values()) == 3  # the three reviews
