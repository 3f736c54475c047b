"""Every problem of a run at once, YAML errors that teach, and diagnostics for tools."""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from deckbuilder.codes import CODES

from .conftest import REPO, run

DECK = "name: Test Deck\noutput: test.apkg\n"
LOCATED = re.compile(r"\S+?:\d+(?::\d+)?: ")


def located(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if LOCATED.match(line)]


def check(root: Path, *args: str) -> tuple[int, str, str]:
    result = run("--project", root, "--check", *args)
    assert "Traceback" not in result.output
    return result.exit_code, result.stdout, result.stderr


def test_every_problem_of_one_file_at_once(make_project: Callable[..., Path]) -> None:
    """A bad type, a duplicate id and a missing image in one file; lint warnings beside them."""
    cards = (
        "cards:\n"
        "  - id: one\n    front: Q\n    back: A\n"
        "  - id: two\n    type: clozd\n    text: '{{c1::x}}'\n"
        "  - id: one\n    front: '![d](missing.png)'\n    back: B\n"
        "  - id: long\n    front: L\n    back: " + " ".join(["word"] * 30) + "\n"
    )
    root = make_project({"decks/test.yaml": DECK + "lint: {max_answer_words: 25}\n", "cards/c.yaml": cards})
    code, _, stderr = check(root)
    assert code == 1
    assert located(stderr) == [
        "cards/c.yaml:6:11: card 'two': unknown card type 'clozd' (did you mean 'cloze'?); "
        "use one of basic, reversed, type-in, cloze",
        "cards/c.yaml:8: duplicate card id 'one' (also at cards/c.yaml:2)",
        "cards/c.yaml:9: image 'missing.png' not found (looked for cards/missing.png)",
        "cards/c.yaml:13: warning: card 'long': answer has 30 words (limit 25); "
        "move the explanation to 'extra'",
    ]
    assert stderr.splitlines()[-1] == "3 errors; no package written."


def test_every_file_of_a_project_at_once(make_project: Callable[..., Path]) -> None:
    root = make_project(
        {
            "decks/test.yaml": DECK + "cards: [cards/*.yaml]\nnote_type_version: 0\n",
            "cards/a.yaml": "cards:\n  - id: a\n    front: What: this\n    back: A\n",
            "cards/b.yaml": "cards:\n  - id: b\n    front: B\n    bakc: B\n",
            "cards/c.yaml": b"cards:\n  - id: c\n    front: caf\xe9\n    back: C\n",
        }
    )
    code, _, stderr = check(root)
    assert code == 1
    assert [line.split(": ")[0] for line in located(stderr)] == [
        "cards/a.yaml:3:16",
        "cards/b.yaml:2:5",
        "cards/b.yaml:4:5",
        "cards/c.yaml:3",
        "decks/test.yaml:4:20",
    ]


@pytest.mark.parametrize(
    ("value", "where", "hint"),
    [
        (
            "front: What is it: this?",
            "3:22",
            "quote the value: an unquoted ': ' inside text starts a mapping",
        ),
        ("front: `code` first", "3:12", "unquoted text cannot start with '`'"),
        ("front: @home", "3:12", "unquoted text cannot start with '@'"),
        ("front: *bold*", "3:12", "unquoted text starting with '*' is a YAML alias"),
        ("front: & more", "3:12", "unquoted text starting with '&' is a YAML anchor"),
        ("front: &copy 2024", "3:12", "unquoted text starting with '&' is an anchor"),
        ("front: !important", "3:12", "if the '!' is text, quote the value"),
        ("\tfront: Q", "3:5", "tabs are not allowed in YAML indentation: indent with spaces"),
        ("front: [draft] Q", "3:20", "unquoted text starting with '[' or '{' is a YAML list or mapping"),
        ("front: 'it's'", "3:16", "text follows a quoted value: quote the whole value"),
        ('front: "open', "3:12", "a quote is never closed"),
    ],
)
def test_yaml_mistakes_say_how_to_fix_them(
    make_project: Callable[..., Path], value: str, where: str, hint: str
) -> None:
    cards = f"cards:\n  - id: one\n    {value}\n    back: A\n"
    root = make_project({"decks/test.yaml": DECK, "cards/c.yaml": cards})
    code, _, stderr = check(root)
    assert code == 1
    first = located(stderr)[0]
    assert first.startswith(f"cards/c.yaml:{where}: "), first
    assert hint in first


def test_a_cloze_with_one_colon(make_project: Callable[..., Path]) -> None:
    cards = "cards:\n  - id: one\n    type: cloze\n    text: 'Paris is {{c1:the capital}}'\n"
    root = make_project({"decks/test.yaml": DECK, "cards/c.yaml": cards})
    assert located(check(root)[2]) == [
        "cards/c.yaml:4:11: card 'one': '{{c1:' needs two colons: {{c1::answer}}"
    ]
    unquoted = "cards:\n  - id: one\n    type: cloze\n    text: {{c1::the capital}}\n"
    root = make_project({"decks/test.yaml": DECK, "cards/c.yaml": unquoted}, name="unquoted")
    line = located(check(root)[2])[0]
    assert line.startswith("cards/c.yaml:4:11: card 'one': 'text' must be text, not a mapping; quote it")


def test_anchors_that_aliases_use_are_fine(make_project: Callable[..., Path]) -> None:
    cards = (
        "cards:\n  - id: one\n    front: Q\n    back: A\n    source: &paper 'A paper'\n"
        "  - id: two\n    front: R\n    back: B\n    source: *paper\n"
    )
    root = make_project({"decks/test.yaml": DECK, "cards/c.yaml": cards})
    assert check(root)[0] == 0


def test_the_source_line_and_a_caret_follow_the_diagnostic(make_project: Callable[..., Path]) -> None:
    cards = "cards:\n  - id: one\n    front:\tWhat is it: this?\n    back: A\n"
    root = make_project({"decks/test.yaml": DECK, "cards/c.yaml": cards})
    _, _, stderr = check(root)
    lines = stderr.splitlines()
    assert lines[0].startswith("cards/c.yaml:3:22: YAML syntax error: mapping values are not allowed")
    # The tab is shown as one character, so the caret stands under the ':' it points at.
    assert lines[1:3] == [
        "    3 |     front:\u2192What is it: this?",
        "      |                      ^",
    ]
    assert lines[1][lines[2].index("^")] == ":"
    assert "\x1b[" not in stderr  # no colour when not on a terminal


def broken(make_project: Callable[..., Path]) -> Path:
    return make_project(
        {
            "decks/test.yaml": DECK + "lint: {max_answer_words: 2}\n",
            "cards/c.yaml": "cards:\n  - id: one\n    front: Q\n    bakc: A\n"
            "  - id: two\n    front: R\n    back: three words here\n",
        }
    )


def test_json_diagnostics(make_project: Callable[..., Path]) -> None:
    code, stdout, stderr = check(broken(make_project), "--format", "json")
    assert code == 1
    objects = [json.loads(line) for line in stdout.splitlines()]
    assert objects == [
        {
            "file": "cards/c.yaml",
            "line": 2,
            "column": 5,
            "severity": "error",
            "code": "required",
            "message": "card 'one': 'back' is required",
            "source": "  - id: one",
        },
        {
            "file": "cards/c.yaml",
            "line": 4,
            "column": 5,
            "severity": "error",
            "code": "unknown-key",
            "message": "card 'one': unknown key 'bakc' (did you mean 'back'?)",
            "source": "    bakc: A",
        },
        {
            "file": "cards/c.yaml",
            "line": 7,
            "column": None,
            "severity": "warning",
            "code": "lint-answer-words",
            "message": "card 'two': answer has 3 words (limit 2); move the explanation to 'extra'",
            "source": "    back: three words here",
        },
    ]
    assert stderr == "2 errors; no package written.\n"


def test_github_annotations(make_project: Callable[..., Path]) -> None:
    code, stdout, _ = check(broken(make_project), "--format", "github")
    assert code == 1
    assert stdout.splitlines() == [
        "::error file=cards/c.yaml,line=2,col=5,title=required::card 'one': 'back' is required",
        "::error file=cards/c.yaml,line=4,col=5,title=unknown-key::"
        "card 'one': unknown key 'bakc' (did you mean 'back'?)",
        "::warning file=cards/c.yaml,line=7,title=lint-answer-words::"
        "card 'two': answer has 3 words (limit 2); move the explanation to 'extra'",
    ]


def test_quiet_prints_problems_only(make_project: Callable[..., Path]) -> None:
    root = make_project(
        {"decks/test.yaml": DECK, "cards/c.yaml": "cards:\n  - id: one\n    front: Q\n    back: A\n"}
    )
    result = run("--project", root, "--check", "--quiet")
    assert result.exit_code == 0
    assert result.output == ""


def _code_arguments() -> tuple[list[str], set[str]]:
    """Diagnostics made without a code, and every code passed as `code="…"` in the sources."""
    missing, used = [], set()
    for path in sorted((REPO / "src" / "deckbuilder").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            keywords = {k.arg: k.value for k in node.keywords}
            if isinstance(node.func, ast.Name) and node.func.id == "Diagnostic" and "code" not in keywords:
                missing.append(f"{path.name}:{node.lineno}")
            code = keywords.get("code")
            if isinstance(code, ast.Constant):
                used.add(code.value)
    return missing, used


def test_every_diagnostic_has_a_documented_code() -> None:
    missing, used = _code_arguments()
    assert missing == []
    assert used == set(CODES)  # every code used is in the table, and every code in it is used
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert [code for code in CODES if f"| `{code}` |" not in readme] == []
