"""A deck project is untrusted input: what a hostile contributor can put in one, tried for real.

Every build here runs `python -m deckbuilder` as a separate process (as a maintainer runs it on a
pull request): it must end in one-line located messages, exit 1, no traceback, nothing read
from outside the project, nothing written on failure. Nothing in this module is skipped.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

SECRET = "TOP-SECRET-0xC0FFEE"
GOOD_CARDS = "cards:\n  - id: one\n    front: Q\n    back: A\n"
DECK = "name: Test Deck\n"


def deckbuilder(root: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 60) -> Result:
    """Run the real command in a fresh process."""
    environment = {**os.environ, "DECKBUILDER_SECRET": SECRET, **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-m", "deckbuilder", "--project", str(root), *args],
        capture_output=True,
        env=environment,
        timeout=timeout,
        check=False,
    )
    return Result(
        proc.returncode, proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace")
    )


class Result:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    @property
    def errors(self) -> list[str]:
        """The diagnostics (every stderr line but the count at the end)."""
        return [line for line in self.err.splitlines() if not line.endswith("no package written.")]

    def assert_clean_failure(self, *expected: str) -> None:
        """Exit 1, each expected line among the diagnostics, no traceback, no secret anywhere."""
        assert self.code == 1, (self.out, self.err)
        assert "Traceback" not in self.err + self.out
        assert SECRET not in self.err + self.out
        for line in expected:
            assert line in self.errors, (line, self.errors)
        for line in self.errors:
            assert ": " in line, line  # path[:line]: message


@pytest.fixture
def project(make_project: Callable[..., Path]) -> Callable[..., Path]:
    def make(files: dict[str, str | bytes] | None = None, cards: str = GOOD_CARDS) -> Path:
        return make_project({"decks/test.yaml": DECK, "cards/c.yaml": cards, **(files or {})})

    return make


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder outside every project, holding a secret."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.txt").write_text(SECRET + "\n")
    (folder / "secret.png").write_bytes(b"\x89PNG\r\n\x1a\n" + SECRET.encode())
    (folder / "deck.yaml").write_text(f"name: Leak\ndescription: {SECRET}\n")
    return folder


# Templates run in a sandbox, with limits
# ----------------------------------------------------------------------------------------

TEMPLATE_ATTACKS = {
    "shell": (
        "<p>\n[[ cycler.__init__.__globals__.os.popen('echo " + SECRET + "').read() ]]\n",
        "templates/_answer.html:2: template error: "
        "access to attribute '__init__' of 'type' object is unsafe.",
    ),
    "environment": (
        "[[ lipsum.__globals__['os'].environ ]]\n",
        "templates/_answer.html:1: template error: access to attribute '__globals__' of 'function' "
        "object is unsafe.",
    ),
    "mro": (
        "[[ ''.__class__.__mro__[1].__subclasses__() ]]\n",
        "templates/_answer.html:1: template error: "
        "access to attribute '__class__' of 'str' object is unsafe.",
    ),
    "division": (
        "<div>\n\n[[ 1 // 0 ]]</div>\n",
        "templates/_answer.html:3: template error: ZeroDivisionError: integer division or modulo by zero",
    ),
    "missing-include": (
        "x\n[% include 'nowhere.html' %]\n",
        "templates/_answer.html:2: template error: 'nowhere.html' not found",
    ),
    "loop": (
        "[% for a in range(100000) %][% for b in range(100000) %][% endfor %][% endfor %]\n",
        "templates/_answer.html:1: template error: it ran for more than 2 seconds (a runaway loop?)",
    ),
    "output": (
        "\n[% for a in range(100000) %][[ 'x' * 1000 ]][% endfor %]\n",
        "templates/_answer.html:2: template error: it produces more than 1,000,000 characters",
    ),
    "doubling": (
        "[% set ns = namespace(s='ab') %]\n"
        "[% for i in range(64) %][% set ns.s = ns.s ~ ns.s %][% endfor %]\n",
        "templates/_answer.html:2: template error: it builds a value longer than 1,000,000 characters",
    ),
    "power": (
        "[[ 9 ** 999999 ]]\n",
        "templates/_answer.html:1: template error: it builds a number over 4096 bits",
    ),
    "padding": (
        "[[ 'x'.ljust(10 ** 9) ]]\n",
        "templates/_answer.html:1: template error: it passes the number 1000000000 (at most 1,000,000 here)",
    ),
    "format-width": (
        "[[ '%999999999s' % 'x' ]]\n",
        "templates/_answer.html:1: template error: it formats with a width over a million characters",
    ),
    "self-include": (
        "[% include '_answer.html' %]\n",
        "templates/_answer.html:1: template error: it includes or calls itself without end",
    ),
}


@pytest.mark.parametrize("attack", list(TEMPLATE_ATTACKS))
def test_template_attack_is_one_located_error(project: Callable[..., Path], attack: str) -> None:
    text, expected = TEMPLATE_ATTACKS[attack]
    root = project({"templates/_answer.html": text})
    for args in (("--check",), ()):
        result = deckbuilder(root, *args)
        result.assert_clean_failure(expected)
        # _answer.html is included by every back of every note type: still one error.
        assert result.errors == [expected]
    assert not (root / "dist").exists() and not list(root.glob("decks/*.lock.json"))


def test_template_links_outside_are_refused(project: Callable[..., Path], outside: Path) -> None:
    root = project({"templates/basic.front.html": "{{Front}}\n[% include 'sub/secret.txt' %]\n"})
    (root / "templates" / "sub").symlink_to(outside)
    (root / "templates" / "_answer.html").symlink_to(outside / "secret.txt")
    result = deckbuilder(root, "--check")
    result.assert_clean_failure(
        "templates/basic.front.html:2: template error: 'sub/secret.txt' links to a file outside the project",
        "templates/_answer.html: links to a file outside the project",
    )
    assert len(result.errors) == 2


def test_harmless_template_logic_still_works(project: Callable[..., Path]) -> None:
    text = (
        "[% set parts = ['a', 'b'] %][[ parts|join('-') ]] [[ '%05d' % 42 ]] [[ 2 ** 10 ]] [[ 'x' * 3 ]]"
        "[% for i in range(3) %][[ loop.index ]][% endfor %] [[ note_type|upper ]]\n"
    )
    root = project({"templates/_answer.html": text})
    result = deckbuilder(root)
    assert result.code == 0, result.err
    assert (root / "dist" / "test-deck.apkg").is_file()
