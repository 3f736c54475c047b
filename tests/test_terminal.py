"""Terminal manners: a progress bar and colour on a terminal only, nothing extra elsewhere."""

from __future__ import annotations

import os
import pty
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from deckbuilder.report import ProgressBar

from .conftest import REPO, run

ESCAPE = re.compile(rb"\x1b\[")


def on_a_terminal(args: list[str], env: dict[str, str]) -> tuple[bytes, bytes, float]:
    """Run build-deck with stderr on a pseudo-terminal: (stderr as the terminal got it, stdout, s)."""
    master, slave = pty.openpty()
    start = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "deckbuilder", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=slave,
        env=env,
    )
    os.close(slave)
    terminal = b""
    while True:
        try:
            chunk = os.read(master, 1 << 16)
        except OSError:  # the child closed its end
            break
        if not chunk:
            break
        terminal += chunk
    os.close(master)
    assert proc.stdout is not None
    stdout = proc.stdout.read()
    proc.wait()
    return terminal, stdout, time.monotonic() - start


@pytest.fixture(scope="module")
def big_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("terminal") / "mle"
    for name in ("decks", "cards"):
        shutil.copytree(REPO / name, root / name, ignore=shutil.ignore_patterns("*.lock.json"))
    return root


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "NO_COLOR", "GITHUB_ACTIONS")}
    return {**env, "TERM": "xterm", **extra}


def test_a_long_build_shows_a_progress_bar_on_a_terminal(big_project: Path) -> None:
    args = ["--check", "--no-cache", "--project", str(big_project)]
    terminal, stdout, seconds = on_a_terminal(args, clean_env())
    assert b"MLE Interview:" in stdout and b"\r" not in stdout
    # Start-up and imports come before the bar's clock starts: seconds on a loaded machine.
    if seconds > ProgressBar(sys.stderr).delay + 3:
        assert re.search(rb"\r\[#*-*\] rendering \d+ cards \d+ s\x1b\[K", terminal), terminal[:200]
        assert terminal.endswith(b"\r\x1b[K")  # erased: nothing of it stays on the screen
    elif seconds < ProgressBar(sys.stderr).delay:  # a build this fast shows nothing
        assert b"\r[" not in terminal
    if b"\r[" in terminal:
        assert re.search(rb"\r\[#*-*\] \w+ .* \d+ s\x1b\[K", terminal), terminal[:200]
        assert terminal.endswith(b"\r\x1b[K")
    ci, _, _ = on_a_terminal(args, clean_env(CI="true"))
    assert b"\r[" not in ci


def test_nothing_extra_when_piped(big_project: Path) -> None:
    result = run("--check", "--no-cache", "--project", big_project)
    assert result.exit_code == 0
    assert "\r" not in result.stderr and not ESCAPE.search(result.stderr.encode())


def test_colour_on_a_terminal_only_and_never_with_no_color(tmp_path: Path) -> None:
    root = tmp_path / "broken"
    (root / "decks").mkdir(parents=True)
    (root / "cards").mkdir()
    (root / "decks" / "d.yaml").write_text("name: D\n", encoding="utf-8")
    (root / "cards" / "c.yaml").write_text("cards:\n  - id: a\n    front: a: b\n", encoding="utf-8")
    args = ["--check", "--project", str(root)]
    coloured, _, _ = on_a_terminal(args, clean_env())
    assert ESCAPE.search(coloured)
    assert b"cards/c.yaml" in coloured and b"^" in coloured
    plain, _, _ = on_a_terminal(args, clean_env(NO_COLOR="1"))
    assert not ESCAPE.search(plain)
    assert plain.splitlines()[0].startswith(b"cards/c.yaml:3:13: YAML syntax error")


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("build-deck ", ["build", "init", "release", "serve", "mle-interview", "MLE Interview"]),
        ("build-deck se", ["serve"]),
        ("build-deck --check ml", ["mle-interview"]),
        ("build-deck serve ML", ["MLE Interview"]),
        ("build-deck release ", ["mle-interview", "MLE Interview"]),
    ],
)
def test_shell_completion_completes_deck_names(big_project: Path, words: str, expected: list[str]) -> None:
    """bash's completion, as `eval "$(_BUILD_DECK_COMPLETE=bash_source build-deck)"` sets it up."""
    cword = len(words.split()) - (0 if words.endswith(" ") else 1)
    env = clean_env(_BUILD_DECK_COMPLETE="bash_complete", COMP_WORDS=words, COMP_CWORD=str(cword))
    done = subprocess.run(
        [sys.executable, "-m", "deckbuilder"],
        cwd=big_project / "cards",
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert [line.split(",", 1)[1] for line in done.stdout.splitlines()] == expected


def test_the_completion_script_is_what_readme_says() -> None:
    env = clean_env(_BUILD_DECK_COMPLETE="bash_source")
    done = subprocess.run([sys.executable, "-m", "deckbuilder"], env=env, capture_output=True, text=True)
    assert "_build_deck_completion" in done.stdout
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert 'eval "$(_BUILD_DECK_COMPLETE=bash_source build-deck)"' in readme


def test_the_bar_draws_its_step_and_erases_itself() -> None:
    import io

    stream = io.StringIO()
    with ProgressBar(stream, delay=0) as bar:
        bar.update("rendering 10 cards", 0.5)
        deadline = time.monotonic() + 10
        while "rendering" not in stream.getvalue() and time.monotonic() < deadline:
            time.sleep(0.01)
    drawn = stream.getvalue()
    assert re.search(r"\r\[#{12}-{12}\] rendering 10 cards \d+ s\x1b\[K", drawn), drawn
    assert drawn.endswith("\r\x1b[K")
    quiet = io.StringIO()
    with ProgressBar(quiet, delay=5):
        pass  # over before the delay: nothing drawn
    assert quiet.getvalue() == ""


def test_a_build_on_a_terminal_writes_what_a_piped_build_writes(big_project: Path, tmp_path: Path) -> None:
    # On a terminal the progress bar's thread runs beside the Markdown worker (forked beside it):
    # the build ends, and its package is the same bytes.
    env = clean_env(SOURCE_DATE_EPOCH="1700000000", DECKBUILDER_CACHE_DIR=str(tmp_path / "cache"))
    args = ["--project", str(big_project), "--out"]
    terminal, stdout, _ = on_a_terminal([*args, str(tmp_path / "tty")], env)
    assert b"MLE Interview:" in stdout, terminal[-500:]
    piped = subprocess.run(
        [sys.executable, "-m", "deckbuilder", "--no-cache", *args, str(tmp_path / "pipe")],
        env=env,
        capture_output=True,
    )
    assert piped.returncode == 0, piped.stderr
    packages = sorted(p.name for p in (tmp_path / "pipe").glob("*.apkg"))
    assert packages
    for name in packages:
        assert (tmp_path / "tty" / name).read_bytes() == (tmp_path / "pipe" / name).read_bytes(), name
