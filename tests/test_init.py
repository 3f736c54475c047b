"""`build-deck init`: from an empty folder to a package of one's own; finding the project root."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from .conftest import import_package, new_collection, run


def test_init_builds_a_package_of_ones_own(tmp_path: Path) -> None:
    root = tmp_path / "python-basics"
    result = run("init", root, "--name", "Python Basics")
    assert result.exit_code == 0, result.output
    apkg = root / "dist" / "python-basics.apkg"
    assert apkg.is_file()
    assert f"Python Basics: 9 notes, 11 cards, 1 media → {apkg}" in result.stdout
    deck = yaml.safe_load((root / "decks" / "python-basics.yaml").read_text(encoding="utf-8"))
    assert deck["name"] == "Python Basics"
    assert re.fullmatch(r"python-basics-[0-9a-f]{6}", deck["identity"])
    assert deck["lint"] == {
        "max_answer_words": 25,
        "max_list_items": 3,
        "max_deletions_per_card": 1,
        "max_deletions_per_note": 4,
        "paper_tag": "paper",
        "study_order": True,
    }
    assert not list((root / "decks").glob("*.lock.json"))  # a draft: no release yet
    # The example shows every card type, a hint, code, math, a table, an image, tags, a subdeck.
    col = new_collection(tmp_path / "anki" / "collection.anki2")
    try:
        import_package(col, apkg)
        notes = [col.get_note(nid) for nid in col.find_notes("")]
        assert {n.note_type()["name"] for n in notes} == {
            f"Python Basics: {kind}" for kind in ("Basic", "Basic and reversed", "Type the answer", "Cloze")
        }
        fields = " ".join(value for n in notes for value in n.values())
        for shown in ("{{c1::Paris::a city}}", 'class="highlight"', r"\(x^2\)", "<table>", "<img"):
            assert shown in fields, shown
        assert {"example", "tools"} <= {tag for n in notes for tag in n.tags}
        assert "Python Basics::Examples::Deeper" in {d.name for d in col.decks.all_names_and_ids()}
        assert col.card_count() == 11
        assert len(list((Path(col.media.dir())).iterdir())) == 1
    finally:
        col.close()
    strict = run("--project", root, "--check", "--strict")
    assert strict.exit_code == 0, strict.output  # the example passes its own lint
    workflow = yaml.safe_load((root / ".github" / "workflows" / "release.yml").read_text(encoding="utf-8"))
    assert "release" in workflow["jobs"]
    assert (root / ".gitignore").read_text(encoding="utf-8").splitlines()[1:4:2] == [
        "dist/",
        ".deckbuilder-cache/",
    ]
    assert (root / "requirements.txt").read_text(encoding="utf-8").count("deckbuilder==") == 1


def test_init_never_overwrites(tmp_path: Path) -> None:
    root = tmp_path / "mine"
    root.mkdir()
    (root / "README.md").write_text("my own words\n", encoding="utf-8")
    result = run("init", root, "--name", "Mine", "--identity", "mine-for-us")
    assert result.exit_code == 0, result.output
    assert f"kept  {root / 'README.md'} (it exists)" in result.stdout
    assert (root / "README.md").read_text(encoding="utf-8") == "my own words\n"
    assert "identity: mine-for-us\n" in (root / "decks" / "mine.yaml").read_text(encoding="utf-8")
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    again = run("init", root)
    assert again.exit_code == 2
    assert "already holds deck files" in again.stderr
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--identity", "Not Valid"], "identity 'Not Valid' must be lowercase letters, digits and '-'"),
        (["--name", "A::"], "deck name 'A::' is empty or has an empty part"),
    ],
)
def test_init_refuses_bad_names(tmp_path: Path, args: list[str], message: str) -> None:
    result = run("init", tmp_path / "x", *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert not (tmp_path / "x").exists()


def test_no_project_suggests_init(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = run()
    assert result.exit_code == 1
    assert result.stderr == (
        "decks: not found here or in any folder above; start a project with `build-deck init`\n"
    )


def test_a_subfolder_finds_the_project_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "deck"
    assert run("init", root, "--name", "Deck").exit_code == 0
    monkeypatch.chdir(root / "cards" / "images")
    result = run("--check")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Deck: 9 notes, 11 cards, 1 media checked, nothing written")
    (root / "cards" / "example.yaml").write_text("cards:\n  - id: x\n    front: [\n", encoding="utf-8")
    broken = run("--check")
    assert broken.stderr.startswith("cards/example.yaml:4:1: YAML syntax error")


def test_a_deckbuilder_installed_from_git_is_pinned_to_its_commit() -> None:
    from deckbuilder.scaffold import pinned_source

    commit = "0123456789abcdef0123456789abcdef01234567"
    from_git = {
        "url": "https://github.com/group/deckbuilder",
        "vcs_info": {"vcs": "git", "commit_id": commit},
    }
    assert (
        pinned_source(json.dumps(from_git))
        == f"deckbuilder @ git+https://github.com/group/deckbuilder@{commit}"
    )
    editable = {"url": "file:///home/me/deckbuilder", "dir_info": {"editable": True}}
    local_clone = {"url": "file:///home/me/deckbuilder", "vcs_info": {"vcs": "git", "commit_id": commit}}
    for other in (editable, local_clone, {"url": "x", "vcs_info": {"vcs": "hg", "commit_id": commit}}):
        assert pinned_source(json.dumps(other)) is None
    assert pinned_source(None) is None and pinned_source("not json") is None
