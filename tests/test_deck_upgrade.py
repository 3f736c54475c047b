"""Members of release 1 of the MLE Interview deck import today's cards: real Anki, default options.

Release 1 is rebuilt exactly as it was released, by the code, cards and lock of its commit; a member
imports it and studies. Today's cards are then built (a draft, in a copy of the project) and imported
over it: every kept card id must still be the member's note, reviews included, updated in place.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass

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


@pytest.fixture(scope="module")
def upgrade(tmp_path_factory: pytest.TempPathFactory) -> Upgrade:
    if shutil.which("git") is None or git("cat-file", "-e", f"{RELEASE_1}^{{commit}}").returncode != 0:
        pytest.skip(f"needs the git history that holds release 1 (commit {RELEASE_1})")
    released = tmp_path_factory.mktemp("release-1")
    archive = git("archive", "--format=tar", RELEASE_1, "decks", "cards", "src")
    assert archive.returncode == 0, archive.stderr.decode()
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        # Python 3.12 (and patched 3.10/3.11) refuse unsafe members themselves.
        safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tar.extractall(released, **safe)
    # The code of that commit, run on its own cards and lock: the package members imported.
    env = {**os.environ, "PYTHONPATH": str(released / "src")}
    old = subprocess.run(
        [sys.executable, "-m", "deckbuilder", "--project", str(released)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert old.returncode == 0, old.stdout + old.stderr
    assert "release 1 (unchanged): 149 added" in old.stdout, old.stdout
    assert (released / LOCK).read_bytes() == git("show", f"{RELEASE_1}:{LOCK}").stdout

    col = new_collection(tmp_path_factory.mktemp("member") / "collection.anki2")
    import_package(col, released / "dist" / "mle-interview.apkg")
    for card_id in STUDIED:
        (nid,) = col.find_notes(f'"ID:{card_id}"')
        card = col.get_note(nid).cards()[0]
        card.start_timer()
        col.sched.answerCard(card, 3)
    before = notes(col)
    schedule = scheduling(col)
    revlog = col.db.all("select id, cid, ease, ivl, lastIvl, factor, type from revlog order by id")
    assert len(revlog) == len(STUDIED)

    # Today's cards, built in a copy: the repository's lock is never written.
    lock = (REPO / LOCK).read_bytes()
    current = tmp_path_factory.mktemp("current")
    for part in ("decks", "cards"):
        shutil.copytree(REPO / part, current / part)
    if (REPO / "templates").is_dir():
        shutil.copytree(REPO / "templates", current / "templates")
    result = run("--project", current)
    assert result.exit_code == 0, result.output
    assert (REPO / LOCK).read_bytes() == lock
    package = current / "dist" / "mle-interview.apkg"

    reference = new_collection(tmp_path_factory.mktemp("fresh") / "collection.anki2")
    import_package(reference, package)
    today = {card_id: fields for card_id, (_, _, _, fields) in notes(reference).items()}

    log = import_package(col, package)
    return Upgrade(
        col=col,
        before=before,
        scheduling=schedule,
        revlog=revlog,
        today=today,
        new=sorted(n.fields[-1] for n in log.new),
        updated=sorted(n.fields[-1] for n in log.updated),
        conflicting=len(log.conflicting),
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
    assert upgrade.updated == changed
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
