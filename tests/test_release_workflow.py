"""The release workflows: this repository's, and the one README gives a deck repository of its own."""

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

from .conftest import DATA, REPO

BUILD_DECK = Path(sys.executable).with_name("build-deck")


def readme_section(title: str) -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    start = text.index(f"### {title}\n")
    end = min(i for i in (text.find("\n## ", start), text.find("\n### ", start + 4), len(text)) if i >= 0)
    return text[start:end]


def deck_repository_workflow() -> dict[str, Any]:
    (block,) = re.findall(r"```yaml\n(.*?)```", readme_section("A deck repository of its own"), re.S)
    workflow: dict[str, Any] = yaml.safe_load(block)
    return workflow


def run_steps(workflow: dict[str, Any]) -> list[str]:
    return [step["run"] for step in workflow["jobs"]["release"]["steps"] if "run" in step]


def test_this_repositorys_workflow_builds_the_checkout_locked() -> None:
    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "release.yml").read_text())
    steps = "\n".join(run_steps(workflow))
    assert "pip install -c constraints.txt -e ." in steps  # the MLE deck lives next to the code
    assert ".venv/bin/build-deck --strict --locked" in steps


def test_the_deck_repository_workflow_pins_deckbuilder() -> None:
    install, build, publish = run_steps(deck_repository_workflow())
    assert "-e ." not in install
    (requirement,) = re.findall(r'"(deckbuilder @ [^"]+)"', install)
    parsed = Requirement(requirement)
    assert parsed.name == "deckbuilder" and parsed.url is not None
    assert parsed.url.startswith("git+https://github.com/") and parsed.url.endswith("@COMMIT")
    assert "-c constraints.txt" in install
    # The set-up README gives authors is the workflow's own install.
    (setup,) = re.findall(r"```sh\n(.*?)```", readme_section("A deck repository of its own"), re.S)
    assert install.strip().splitlines()[-1] in setup
    assert build.strip() == ".venv/bin/build-deck --strict --locked"
    assert "gh release create" in publish


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
    """A workflow step as GitHub runs it (bash -e), with this checkout's build-deck as .venv/bin's."""
    (cwd / ".venv" / "bin").mkdir(parents=True, exist_ok=True)
    link = cwd / ".venv" / "bin" / "build-deck"
    if not link.exists():
        link.symlink_to(BUILD_DECK)
    env = {**os.environ, "GITHUB_REF_NAME": "v1"}
    return subprocess.run(
        ["bash", "-e", "-c", script], cwd=cwd, capture_output=True, text=True, env=env, check=False
    )


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_a_deck_repository_releases_from_a_tag(tmp_path: Path) -> None:
    """Made as README says: cards, a release, a tag; the workflow's build step on a clone of the tag."""
    author = tmp_path / "author"
    for part in ("decks", "cards", "images", "templates"):
        shutil.copytree(DATA / "sample" / part, author / part)
    shutil.copy(REPO / "constraints.txt", author / "constraints.txt")
    (author / ".gitignore").write_text("dist/\n.venv/\n")
    git(author, "init", "-q", "-b", "main")
    subprocess.run([BUILD_DECK, "release"], cwd=author, check=True, capture_output=True)
    git(author, "add", "-A")
    git(author, "commit", "-qm", "release 1")
    git(author, "tag", "v1")
    cards = author / "cards" / "basics.yaml"
    cards.write_text(cards.read_text().replace("back: Paris", "back: Paris, France"))
    git(author, "commit", "-qam", "an edit, not released")
    git(author, "tag", "v2")

    _, build, publish = run_steps(deck_repository_workflow())
    ci = tmp_path / "ci"
    git(tmp_path, "clone", "-q", "--branch", "v1", str(author), str(ci))
    done = run_step(build, ci)
    assert done.returncode == 0, done.stderr
    assert "release 1: no changes since" in done.stdout
    assert git(ci, "status", "--porcelain").stdout == ""  # CI never writes the lock
    assert sorted(p.name for p in (ci / "dist").iterdir()) == ["sample.apkg", "sample.release-notes.md"]
    notes = publish.splitlines()[0]  # the step's first line gathers the notes it publishes
    assert run_step(notes, ci).returncode == 0
    assert (ci / "release-notes.md").read_text().startswith("# Sample Deck — release 1 (")

    shutil.rmtree(ci)
    git(tmp_path, "clone", "-q", "--branch", "v2", str(author), str(ci))
    done = run_step(build, ci)
    assert done.returncode == 1
    assert done.stderr.splitlines()[0] == (
        "decks/sample.lock.json: the cards of Sample Deck differ from release 1; run `build-deck "
        "release` and commit the lock file"
    )
    assert not (ci / "dist").exists()
