"""The lock is checked against itself; two releases made on parallel branches have a way out."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import REPO, run

LOCK = "decks/sample.lock.json"


RELEASE_1 = "9122890"
"""The commit of the MLE deck's release 1, whose lock is format 1."""


def released(sample: Path) -> Path:
    result = run("release", "--project", sample)
    assert result.exit_code == 0, result.output
    return sample / LOCK


def line_of(path: Path, text: str, nth: int = 1) -> int:
    lines = [i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line]
    return lines[nth - 1]


def only_error(sample: Path) -> str:
    before = {p.name: p.read_bytes() for p in (sample / "dist").iterdir()}
    result = run("--project", sample)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert {p.name: p.read_bytes() for p in (sample / "dist").iterdir()} == before
    (line,) = [x for x in result.stderr.splitlines() if x.startswith(LOCK)]
    return line


def rewrite(path: Path, change) -> None:  # type: ignore[no-untyped-def]
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data, indent=1, sort_keys=True))


def test_a_bom_is_named(sample: Path) -> None:
    lock = released(sample)
    lock.write_bytes(b"\xef\xbb\xbf" + lock.read_bytes())
    assert only_error(sample) == (
        f"{LOCK}:1: the lock file starts with a byte order mark (U+FEFF); save it as UTF-8 without one"
    )


def test_a_duplicate_key_is_located(sample: Path) -> None:
    lock = released(sample)
    text = lock.read_text()
    lock.write_text(text.replace(' "release": 1,\n', ' "release": 1,\n "release": 2,\n', 1))
    line = line_of(lock, '"release": 2')
    assert only_error(sample) == (
        f"{LOCK}:{line}: unreadable lock file (duplicate key 'release'); restore it from version control"
    )


def test_an_edited_guid_is_refused(sample: Path) -> None:
    lock = released(sample)
    rewrite(lock, lambda d: d["notes"]["capital-of-france"].update(guid="hand-made"))
    line = line_of(lock, '"capital-of-france": {')
    assert only_error(sample) == (
        f"{LOCK}:{line}: note 'capital-of-france' has guid "
        "'hand-made', which identity 'sample-deck' does not give any of its ids (capital-of-france); "
        "members would get a second copy; restore it from version control"
    )


def test_a_renamed_card_keeps_its_guid_check(sample: Path) -> None:
    """Guids of renamed cards (by the lock's record or by the card's `was`) are not false alarms."""
    cards = sample / "cards" / "basics.yaml"
    cards.write_text(
        cards.read_text().replace("  - id: term-latency\n", "  - id: latency\n    was: term-latency\n")
    )
    released(sample)  # the lock never knew 'term-latency'
    cards.write_text(
        cards.read_text().replace(
            "  - id: capital-of-france\n", "  - id: capital\n    was: capital-of-france\n"
        )
    )
    released(sample)
    text = cards.read_text()
    cards.write_text(text[: text.index("  - id: latency")])  # both gone: only the lock knows them
    assert "removed" in run("release", "--project", sample).stdout
    assert run("--project", sample).exit_code == 0
    data = json.loads((sample / LOCK).read_text())
    assert data["notes"]["latency"]["origin"] == "term-latency"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d["notes"]["capital-of-france"].update(mod=d["time"] + 5),
            "note 'capital-of-france' has mod {mod}, after the release time {time}",
        ),
        (
            lambda d: d.update(time=4102444800, built=4102444800),
            "the release time 4102444800 (2100-01-01) is in the future: a hand edit, or the releasing "
            "machine's clock was wrong",
        ),
        (lambda d: d.update(time=253402300800), "unreadable lock file ('time' or 'release' is out of range)"),
        (
            lambda d: d["notes"]["capital-of-france"].update(mod=253402300800),
            "unreadable lock file (note 'capital-of-france' has a 'mod' out of range)",
        ),
        (
            lambda d: d["notes"]["capital-of-france"].update(release=7),
            "note 'capital-of-france' names a release after release 1",
        ),
    ],
)
def test_times_no_build_writes_are_refused(sample: Path, change, message: str) -> None:  # type: ignore[no-untyped-def]
    lock = released(sample)
    data = json.loads(lock.read_text())
    rewrite(lock, change)
    error = only_error(sample)
    expected = message.format(mod=data["time"] + 5, time=data["time"])
    assert error.split(": ", 1)[1] == f"{expected}; restore it from version control"


def test_the_committed_format_1_lock_is_read_and_migrated(tmp_path: Path) -> None:
    # Today's cards and deck file over release 1's lock (format 1, from git history).
    root = tmp_path / "mle"
    for part in ("decks", "cards"):
        shutil.copytree(REPO / part, root / part)
    released = subprocess.run(
        ["git", "-C", str(REPO), "show", f"{RELEASE_1}:decks/mle-interview.lock.json"],
        capture_output=True,
        check=False,
    )
    if released.returncode != 0:  # a shallow clone, as test_deck_upgrade.py
        pytest.skip(f"needs the git history that holds release 1 (commit {RELEASE_1})")
    (root / "decks" / "mle-interview.lock.json").write_bytes(released.stdout)
    lock = root / "decks" / "mle-interview.lock.json"
    old = json.loads(lock.read_text())
    assert old["format"] == 1
    cards = root / "cards"
    first = sorted(old["notes"])[0]
    hit = next(p for p in sorted(cards.rglob("*.yaml")) if f"id: {first}\n" in p.read_text())
    hit.write_text(hit.read_text().replace(f"id: {first}\n", f"id: {first}-renamed\n    was: {first}\n"))
    result = run("release", "--project", root)
    assert result.exit_code == 0, result.output
    new = json.loads(lock.read_text())
    assert new["format"] == 2 and new["release"] == old["release"] + 1
    assert new["notes"][first] == {
        "renamed_to": f"{first}-renamed",
        "guid": old["notes"][first]["guid"],
        "release": 2,
    }
    for card_id, entry in old["notes"].items():
        if card_id != first:
            assert new["notes"][card_id]["guid"] == entry["guid"]
            assert new["notes"][card_id]["added"] == 1


def git(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout + done.stderr


def add_card(root: Path, name: str, card_id: str) -> None:
    (root / "cards" / "extra" / f"{name}.yaml").write_text(
        f"cards:\n  - id: {card_id}\n    front: {card_id}?\n    back: Yes.\n"
    )


@pytest.fixture
def repo(sample: Path) -> Path:
    assert git(sample, "init", "-q", "-b", "main") == ""
    (sample / ".gitignore").write_text("dist/\n")
    released(sample)
    git(sample, "add", "-A")
    git(sample, "commit", "-qm", "release 1")
    return sample


def test_card_branches_merge_without_conflict(repo: Path) -> None:
    lock = (repo / LOCK).read_bytes()
    git(repo, "checkout", "-qb", "alice")
    add_card(repo, "alice", "alice-card")
    edit = repo / "cards" / "basics.yaml"
    edit.write_text(edit.read_text().replace("back: Paris", "back: Paris, France"))
    assert run("--project", repo).exit_code == 0  # a draft, as contributors build
    git(repo, "add", "cards")
    git(repo, "commit", "-qm", "alice")
    git(repo, "checkout", "-q", "main")
    git(repo, "checkout", "-qb", "bob")
    add_card(repo, "bob", "bob-card")
    assert run("--project", repo, "--preview").exit_code == 0
    git(repo, "add", "cards")
    git(repo, "commit", "-qm", "bob")
    git(repo, "checkout", "-q", "main")
    assert "CONFLICT" not in git(repo, "merge", "-q", "alice", "bob", "-m", "merge")
    assert git(repo, "status", "--porcelain", "--untracked-files=no") == ""
    assert (repo / LOCK).read_bytes() == lock
    result = run("release", "--project", repo)
    assert result.stdout.splitlines()[1] == "  release 2: 2 added, 1 changed"


def test_two_releases_on_parallel_branches_give_the_way_out(repo: Path) -> None:
    git(repo, "checkout", "-qb", "alice")
    add_card(repo, "alice", "alice-card")
    released(repo)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "alice: release 2")
    git(repo, "checkout", "-q", "main")
    add_card(repo, "bob", "bob-card")
    released(repo)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "main: release 2")
    assert "CONFLICT (content): Merge conflict in decks/sample.lock.json" in git(repo, "merge", "alice")

    result = run("--project", repo)
    assert result.exit_code == 1
    lock = repo / LOCK
    marker = line_of(lock, "<<<<<<< HEAD")
    assert result.stderr.splitlines()[0] == (
        f"{LOCK}:{marker}: git left conflict markers in the lock: release 2 was made on two branches. "
        f"Keep HEAD's lock: `git checkout --ours -- {LOCK}`, then run `build-deck release` (it "
        f"releases the cards from alice as release 3) and `git add {LOCK}` to finish the merge"
    )
    # Follow the advice word for word.
    git(repo, "checkout", "--ours", "--", LOCK)
    result = run("release", "--project", repo)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1] == "  release 3: 1 added"
    git(repo, "add", LOCK)
    git(repo, "commit", "-qm", "merge alice")
    data = json.loads(lock.read_text())
    assert {"alice-card", "bob-card"} <= data["notes"].keys() and data["release"] == 3
    assert run("--project", repo, "--locked").exit_code == 0


def test_the_identity_is_free_until_the_first_release(sample: Path) -> None:
    deck = sample / "decks" / "sample.yaml"
    original = deck.read_text()
    for identity in ("first-choice", "second-choice"):
        deck.write_text(original.replace("name: Sample Deck\n", f"name: Sample Deck\nidentity: {identity}\n"))
        result = run("--project", sample)
        assert result.exit_code == 0, result.output
        assert f"the identity '{identity}' is free to change until `build-deck release`" in result.stdout
    released(sample)
    deck.write_text(deck.read_text().replace("second-choice", "third-choice"))
    result = run("--project", sample)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0].endswith(
        "Set 'identity: second-choice' (an identity is free to change only before the first release)"
    )


def conflicted(ours: str, theirs: str, base: str = "") -> str:
    middle = f"||||||| base\n{base}" if base else ""
    return f"<<<<<<< HEAD\n{ours}{middle}=======\n{theirs}>>>>>>> feature\n"


@pytest.mark.parametrize(
    ("ours", "theirs", "base", "keep", "then"),
    [
        (
            '{"format": 2, "release": 3}\n',
            '{"format": 2, "release": 2}\n',
            "",
            "HEAD's lock: `git checkout --ours",
            "from feature as release 4",
        ),
        (
            '{"format": 2, "release": 2}\n',
            '{"format": 2, "release": 4}\n',
            '{"format": 2, "release": 1}\n',
            "feature's lock: `git checkout --theirs",
            "from HEAD as release 5",
        ),
    ],
)
def test_the_way_out_of_a_conflict_keeps_the_newer_side(
    ours: str, theirs: str, base: str, keep: str, then: str
) -> None:
    from deckbuilder.lockfile import LockConflict, parse

    with pytest.raises(LockConflict) as caught:
        parse(conflicted(ours, theirs, base), LOCK)
    assert caught.value.line == 1
    assert "releases were made on two branches (HEAD: release " in str(caught.value)
    assert f"Keep {keep} -- {LOCK}`" in str(caught.value) and then in str(caught.value)


def test_a_lock_that_links_outside_the_project_is_refused(sample: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.json"
    outside.write_bytes(released(sample).read_bytes())
    (sample / LOCK).unlink()
    (sample / LOCK).symlink_to(outside)
    result = run("--project", sample, "--check")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == f"{LOCK}: the lock file links to a file outside the project"


def test_a_build_reads_each_lock_once(sample: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from deckbuilder import lock

    released(sample)
    calls: list[str] = []
    real = lock.parse

    def counted(text: str, rel: str, clock: int | None = None) -> lock.LockState:
        calls.append(rel)
        return real(text, rel, clock)

    monkeypatch.setattr(lock, "parse", counted)
    assert run("--project", sample, "--check").exit_code == 0
    assert calls == ["decks/sample.lock.json"]
