"""The release workflows: this repository's, and the one `build-deck init` gives a deck repository."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement

from .conftest import REPO

BUILD_DECK = Path(sys.executable).with_name("build-deck")
SKELETON_WORKFLOW = REPO / "src" / "deckbuilder" / "skeleton" / "release.yml"


def run_steps(path: Path) -> list[str]:
    workflow: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [step["run"] for step in workflow["jobs"]["release"]["steps"] if "run" in step]


def test_this_repositorys_workflow_builds_the_checkout_locked() -> None:
    steps = "\n".join(run_steps(REPO / ".github" / "workflows" / "release.yml"))
    assert "pip install -c constraints.txt -e ." in steps  # the MLE deck lives next to the code
    assert ".venv/bin/build-deck --strict --locked" in steps


def test_a_deck_repository_installs_a_pinned_deckbuilder() -> None:
    install, build, *_ = run_steps(SKELETON_WORKFLOW)
    assert "-e ." not in install and "pip install -r requirements.txt" in install
    assert build.startswith(".venv/bin/build-deck --strict --locked")
    (line,) = re.findall(r"^deckbuilder @ \S+$", (REPO / "README.md").read_text(), re.M)
    requirement = Requirement(line)  # the line README tells a deck repository to pin
    assert requirement.name == "deckbuilder" and requirement.url is not None
    assert requirement.url.startswith("git+https://github.com/") and requirement.url.endswith("@COMMIT")


def git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            "git",
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.org",
            "-c",
            "advice.detachedHead=false",
            *args,
        ],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )


def run_step(script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """A workflow step as GitHub runs it (bash -e), this checkout's build-deck standing in .venv/bin."""
    bin_dir = cwd / ".venv" / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    if not (bin_dir / "build-deck").exists():
        (bin_dir / "build-deck").symlink_to(BUILD_DECK)
    env = {**os.environ, "GITHUB_REF_NAME": "v1"}
    return subprocess.run(
        ["bash", "-e", "-c", script], cwd=cwd, capture_output=True, text=True, env=env, check=False
    )


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_a_deck_repository_releases_from_a_tag(tmp_path: Path) -> None:
    """Made as README says: init, the pinned requirement, a release, a tag; the workflow on a clone."""
    author = tmp_path / "author"
    done = subprocess.run([BUILD_DECK, "init", str(author), "--name", "Group Deck"], capture_output=True)
    assert done.returncode == 0, done.stderr
    requirements = author / "requirements.txt"
    pinned = re.sub(
        r"^deckbuilder==\S+$",
        "deckbuilder @ git+https://github.com/OWNER/deckbuilder@COMMIT",
        requirements.read_text(),
        flags=re.M,
    )
    requirements.write_text(pinned)
    for line in pinned.splitlines():
        if line and not line.startswith("#"):
            Requirement(line)  # pip would read every line
    assert (author / ".github" / "workflows" / "release.yml").read_text() == SKELETON_WORKFLOW.read_text()
    git(author, "init", "-q", "-b", "main")
    subprocess.run([BUILD_DECK, "release"], cwd=author, check=True, capture_output=True)
    git(author, "add", "-A")
    git(author, "commit", "-qm", "release 1")
    git(author, "tag", "v1")
    cards = author / "cards" / "example.yaml"
    text = cards.read_text()
    cards.write_text(text + "  - id: unreleased\n    front: Not released yet?\n    back: No.\n")
    git(author, "commit", "-qam", "a card, not released")
    git(author, "tag", "v2")

    _, build, *checks, publish = run_steps(SKELETON_WORKFLOW)
    ci = tmp_path / "ci"
    git(tmp_path, "clone", "-q", "--branch", "v1", str(author), str(ci))
    done = run_step(build, ci)
    assert done.returncode == 0, done.stdout + done.stderr
    assert git(ci, "status", "--porcelain").stdout == "?? .venv/\n"  # CI never writes the lock
    for check in checks:
        assert run_step(check, ci).returncode == 0
    assert sorted(p.name for p in (ci / "dist").iterdir()) == [
        "group-deck.apkg",
        "group-deck.release-notes.md",
    ]
    gather = publish.splitlines()[0]  # the notes it publishes; `gh` itself needs GitHub
    assert run_step(gather, ci).returncode == 0
    assert (ci / "release-notes.md").read_text().startswith("# Group Deck — release 1 (")

    shutil.rmtree(ci)
    git(tmp_path, "clone", "-q", "--branch", "v2", str(author), str(ci))
    done = run_step(build, ci)
    assert done.returncode == 1
    assert (
        "the cards of Group Deck differ from release 1; run `build-deck release`" in done.stdout + done.stderr
    )
    assert not (ci / "dist").exists()
