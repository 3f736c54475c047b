"""build-deck as a user runs it: messages with their lines, exit codes, what is (not) written."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import REPO, run

DECK = "name: Test Deck\noutput: test.apkg\n"
GOOD = "cards:\n  - id: one\n    front: Q\n    back: A\n"


def project_with(make_project: Callable[..., Path], cards: str | bytes, **extra: str) -> Path:
    return make_project({"decks/test.yaml": DECK, "cards/c.yaml": cards, **extra})


def diagnostic_lines(stderr: str) -> list[str]:
    """stderr without the source lines and carets shown under located problems."""
    return [line for line in stderr.splitlines() if not line.startswith(" ")]


def errors_of(root: Path) -> list[str]:
    result = run("--project", root)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert not (root / "dist" / "test.apkg").exists()
    return [line for line in result.stderr.splitlines() if re.match(r"\S+:\d+: ", line)]


@pytest.mark.parametrize(
    ("cards", "expected"),
    [
        (
            "cards:\n  - id: one\n    front: [Q\n",
            "cards/c.yaml:3:12: YAML syntax error: did not find expected ',' or ']'; "
            "quote the value: unquoted text starting with '[' or '{' is a YAML list or mapping",
        ),
        (
            "cards:\n  - id: one\n    front: Q\n    front: R\n    back: A\n",
            "cards/c.yaml:4:5: duplicate key 'front' (first at line 3)",
        ),
        (
            "cards:\n  - id: one\n    fornt: Q\n    front: Q\n    back: A\n",
            "cards/c.yaml:3:5: card 'one': unknown key 'fornt' (did you mean 'front'?)",
        ),
        (
            "cards:\n  - id: one\n    back: A\n",
            "cards/c.yaml:2:5: card 'one': 'front' is required",
        ),
        (
            "cards:\n  - id: one\n    front: '  '\n    back: A\n",
            "cards/c.yaml:3:12: card 'one': 'front' is empty",
        ),
        (
            "cards:\n  - id: one\n    front: {a: 1}\n    back: A\n",
            "cards/c.yaml:3:12: card 'one': 'front' must be text, not a mapping; "
            "quote it: unquoted text starting with '{' is a YAML mapping",
        ),
        (
            "cards:\n  - id: one\n    tags: solo\n    front: Q\n    back: A\n",
            "cards/c.yaml:3:11: card 'one': 'tags' must be a list, e.g. [tag-a, tag-b]",
        ),
        (
            "cards:\n  - id: one\n    type: clozed\n    text: '{{c1::x}}'\n",
            "cards/c.yaml:3:11: card 'one': unknown card type 'clozed' (did you mean 'cloze'?); "
            "use one of basic, reversed, type-in, cloze",
        ),
        (
            "cards:\n  - id: One_1\n    front: Q\n    back: A\n",
            "cards/c.yaml:2:9: card id 'One_1' must be lowercase letters, digits and single '-' between them",
        ),
        (
            "cards:\n  - id: one\n    front: Q\n    back: A\n  - id: one\n    front: R\n    back: B\n",
            "cards/c.yaml:5: duplicate card id 'one' (also at cards/c.yaml:2)",
        ),
        (
            "cards:\n  - id: one\n    tags: [fine, 'two words']\n    front: Q\n    back: A\n",
            "cards/c.yaml:3:18: card 'one': tag 'two words' must be one word (no spaces)",
        ),
        (
            "cards:\n  - id: one\n    type: cloze\n    text: nothing hidden\n",
            "cards/c.yaml:4:11: card 'one': cloze text has no deletion; mark one like {{c1::answer}}",
        ),
        (
            "cards:\n  - id: one\n    front: '![x](nope.png)'\n    back: A\n",
            "cards/c.yaml:3: image 'nope.png' not found (looked for cards/nope.png)",
        ),
        (
            "cards:\n  - id: one\n    front: '![x](../../secret.png)'\n    back: A\n",
            "cards/c.yaml:3: image '../../secret.png' is outside the project",
        ),
        (
            "cards:\n  - id: one\n    front: !!python/object/apply:os.system [ls]\n    back: A\n",
            "cards/c.yaml:3:12: YAML tag '!!python/object/apply:os.system' is not allowed: "
            "cards hold plain text, lists and mappings",
        ),
        (
            "cards:\n  - id: one\n    front: !custom Q\n    back: A\n",
            "cards/c.yaml:3:12: YAML tag '!custom' is not allowed; if the '!' is text, quote the value: "
            '"!custom …"',
        ),
        (
            "cards: []\n",
            "cards/c.yaml:1:8: card file: 'cards' is required and must list at least one card",
        ),
        (
            "",
            "cards/c.yaml:1: the file is empty",
        ),
        (
            b"cards:\n  - id: one\n    front: caf\xe9\n    back: A\n",
            "cards/c.yaml:3: not valid UTF-8 (byte 0xe9)",
        ),
        (
            'cards:\n  - id: one\n    front: "a\\x1fb"\n    back: A\n',
            "cards/c.yaml:3:12: card 'one': 'front' contains the control character U+001F, "
            "which Anki cannot store",
        ),
        (
            "cards:\n  - id: one\n    tags: ['a::']\n    front: Q\n    back: A\n",
            "cards/c.yaml:3:12: card 'one': tag 'a::' has an empty part around '::'",
        ),
        (
            "cards:\n  - id: one\n    type: cloze\n    text: '{{c99999999999999999999::x}}'\n",
            "cards/c.yaml:4:11: card 'one': cloze numbers go up to c500",
        ),
    ],
    ids=[
        "syntax",
        "duplicate-key",
        "unknown-key",
        "missing",
        "empty",
        "wrong-type",
        "tags-type",
        "card-type",
        "bad-id",
        "duplicate-id",
        "tag-space",
        "cloze-no-deletion",
        "image-missing",
        "image-outside",
        "python-tag",
        "custom-tag",
        "no-cards",
        "empty-file",
        "not-utf8",
        "control-char",
        "empty-tag-part",
        "huge-cloze-number",
    ],
)
def test_error_is_located(make_project: Callable[..., Path], cards: str | bytes, expected: str) -> None:
    assert errors_of(project_with(make_project, cards)) == [expected]


def test_hostile_yaml_is_refused_quickly(make_project: Callable[..., Path]) -> None:
    deep = "cards:\n  - id: one\n    front: Q\n    back: A\n    extra: " + "[" * 60 + "]" * 60 + "\n"
    assert "cards/c.yaml:5:59: nested more than 50 levels deep" in errors_of(project_with(make_project, deep))
    # Nine aliases of nine: a billion items if expanded; walked once per node it is instant.
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi", strict=False)
    )
    errors = errors_of(project_with(make_project, bomb + "cards: [*i]\n"))
    assert errors[:2] == [
        "cards/c.yaml:1:1: card file: unknown key 'a'",
        "cards/c.yaml:2:1: card file: unknown key 'b'",
    ]
    assert any(e.endswith(": card #1 must be a mapping of keys to values") for e in errors)


def test_explicit_scalar_tags_read_as_text(make_project: Callable[..., Path]) -> None:
    root = project_with(make_project, "cards:\n  - id: one\n    front: !!int abc\n    back: !!bool maybe\n")
    assert run("--project", root, "--check").exit_code == 0


def test_every_problem_of_a_run_is_reported_together(make_project: Callable[..., Path]) -> None:
    root = make_project(
        {
            "decks/test.yaml": DECK + "cards: [cards/*.yaml, missing/*.yaml]\n",
            "cards/a.yaml": "cards:\n  - id: one\n    frnot: Q\n    back: A\n",
            "cards/b.yaml": "cards:\n  - id: one\n    front: Q\n    back: A\n",
            "templates/basic.front.html": "<div>{{Frnt}}</div>\n",
        }
    )
    assert errors_of(root) == [
        "cards/a.yaml:2:5: card 'one': 'front' is required",
        "cards/a.yaml:3:5: card 'one': unknown key 'frnot' (did you mean 'front'?)",
        "cards/b.yaml:2: duplicate card id 'one' (also at cards/a.yaml:2)",
        "decks/test.yaml:3: 'missing/*.yaml' matches no card file",
        "templates/basic.front.html:1: the front shows no field, so Anki would make no card",
        "templates/basic.front.html:1: unknown field 'Frnt' in {{Frnt}}; "
        "Basic notes have Front, Back, Extra, Source, ID",
    ]


def test_deck_file_errors(make_project: Callable[..., Path]) -> None:
    root = make_project(
        {
            "decks/test.yaml": "nmae: X\noutput: x/y.zip\nlint: {max_words: 3}\n",
            "cards/c.yaml": GOOD,
        }
    )
    result = run("--project", root)
    assert result.exit_code == 1
    assert diagnostic_lines(result.stderr)[:4] == [
        "decks/test.yaml:1:1: deck file: 'name' is required",
        "decks/test.yaml:1:1: deck file: unknown key 'nmae' (did you mean 'name'?)",
        "decks/test.yaml:2:9: deck file: 'output' must be a file name ending in .apkg",
        "decks/test.yaml:3:8: deck file: lint: unknown key 'max_words' (did you mean 'max_answer_words'?)",
    ]


def test_template_syntax_error_is_located(make_project: Callable[..., Path]) -> None:
    root = project_with(make_project, GOOD, **{"templates/basic.back.html": "{{FrontSide}}\n[% if %]\n"})
    (line,) = errors_of(root)
    assert line.startswith("templates/basic.back.html:2: template error: ")


def test_failed_build_leaves_the_old_package_and_no_temporary_files(
    make_project: Callable[..., Path], tmp_path: Path
) -> None:
    root = project_with(make_project, GOOD)
    assert run("--project", root).exit_code == 0
    apkg = root / "dist" / "test.apkg"
    before = hashlib.sha256(apkg.read_bytes()).hexdigest()
    listing = sorted(p.name for p in (root / "dist").iterdir())
    (root / "cards" / "c.yaml").write_text(GOOD.replace("back: A", "back: B\n    oops: 1"))
    result = run("--project", root)
    assert result.exit_code == 1
    assert hashlib.sha256(apkg.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in (root / "dist").iterdir()) == listing


def test_no_temporary_files_leak(
    make_project: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmpdir))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    root = project_with(make_project, GOOD)
    assert run("--project", root).exit_code == 0
    assert list(tmpdir.iterdir()) == []
    assert sorted(p.name for p in (root / "dist").iterdir()) == ["test.apkg", "test.release-notes.md"]


def test_summary_and_exit_code(sample: Path) -> None:
    result = run("--project", sample)
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        f"Sample Deck: 9 notes, 11 cards, 2 media → {sample / 'dist' / 'sample.apkg'}",
        "  draft (no release yet): 9 added; the identity 'sample-deck' is free to change until "
        "`build-deck release` makes release 1",
    ]
    assert not (sample / "decks" / "sample.lock.json").exists()


def test_release_records_the_lock_and_refuses_when_nothing_changed(sample: Path, tmp_path: Path) -> None:
    result = run("release", "--project", sample, "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"Sample Deck: 9 notes, 11 cards, 2 media → {tmp_path / 'out' / 'sample.apkg'}",
        "  release 1: 9 added",
    ]
    lock = (sample / "decks" / "sample.lock.json").read_bytes()
    result = run("release", "--project", sample)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "decks/sample.yaml: nothing to release: the cards of Sample Deck are release 1 already",
        "1 problem; no package written.",
    ]
    assert not (sample / "dist").exists()
    cards = sample / "cards" / "basics.yaml"
    cards.write_text(cards.read_text().replace("back: Paris", "back: Paris, France"))
    result = run("--project", sample, "--out", tmp_path / "draft")
    assert result.stdout.splitlines()[1] == (
        "  draft (after release 1): 1 changed; `build-deck release` makes it release 2"
    )
    assert (sample / "decks" / "sample.lock.json").read_bytes() == lock
    notes = (tmp_path / "draft" / "sample.release-notes.md").read_text()
    assert notes.startswith("# Sample Deck — draft (after release 1), ")


def test_check_writes_nothing(sample: Path) -> None:
    result = run("--project", sample, "--check")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0] == "Sample Deck: 9 notes, 11 cards, 2 media checked, nothing written"
    assert result.stdout.splitlines()[1].startswith("  draft (no release yet): 9 added; ")
    assert not (sample / "dist").exists()
    assert not (sample / "decks" / "sample.lock.json").exists()


def test_out_and_deck_selection(make_project: Callable[..., Path], tmp_path: Path) -> None:
    root = make_project(
        {
            "decks/one.yaml": "name: One\ncards: [cards/a.yaml]\n",
            "decks/two.yaml": "name: Two\ncards: [cards/b.yaml]\n",
            "cards/a.yaml": GOOD,
            "cards/b.yaml": GOOD.replace("one", "two"),
        }
    )
    out = tmp_path / "elsewhere"
    result = run("--project", root, "--out", out, "two")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["two.apkg", "two.release-notes.md"]
    result = run("--project", root, "Three")
    assert result.exit_code == 2
    assert "no deck named 'Three'; decks: One, Two" in result.stderr


def test_usage_errors_exit_2(sample: Path) -> None:
    assert run("--project", sample, "--no-such-option").exit_code == 2
    assert run("--project", sample / "missing").exit_code == 2


def test_version_is_the_installed_one() -> None:
    from importlib.metadata import version

    from deckbuilder import __version__

    assert __version__ == version("deckbuilder")


def test_version_and_help() -> None:
    assert re.fullmatch(r"build-deck, version \S+\n", run("--version").stdout)
    assert "Usage: build-deck [OPTIONS] [DECK]..." in run("--help").stdout


def test_python_dash_m(sample: Path) -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "deckbuilder", "--project", str(sample), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Sample Deck: 9 notes")


def test_every_option_is_documented() -> None:
    from deckbuilder.cli import main

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    params = [param for command in main.commands.values() for param in command.params]
    options = [opt for param in params for opt in param.opts if opt.startswith("--")]
    assert "--check" in options and "--help" not in options
    missing = [opt for opt in [*options, "--help"] if f"`{opt}" not in readme]
    assert missing == []


def test_unwritable_output_is_reported_without_traceback(
    make_project: Callable[..., Path], tmp_path: Path
) -> None:
    root = project_with(make_project, GOOD)
    blocker = tmp_path / "file-not-folder"
    blocker.write_text("")
    result = run("--project", root, "--out", blocker / "dist")
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert result.stderr == f"{blocker / 'dist' / 'test.apkg'}: Not a directory\n"


def test_a_write_failure_replaces_no_file_of_any_deck(make_project: Callable[..., Path]) -> None:
    root = make_project(
        {
            "decks/a.yaml": "name: A\ncards: [cards/a.yaml]\n",
            "decks/b.yaml": "name: B\ncards: [cards/b.yaml]\n",
            "cards/a.yaml": GOOD,
            "cards/b.yaml": GOOD.replace("one", "two"),
        }
    )
    assert run("--project", root).exit_code == 0
    before = {p: p.read_bytes() for p in [*(root / "dist").iterdir(), *(root / "decks").iterdir()]}
    for name in ("a", "b"):
        cards = root / "cards" / f"{name}.yaml"
        cards.write_text(cards.read_text().replace("back: A", "back: changed"))
    (root / "dist" / "b.apkg").unlink()
    (root / "dist" / "b.apkg").mkdir()
    result = run("--project", root)
    assert result.exit_code == 1
    assert result.stderr == f"{root / 'dist' / 'b.apkg'}: Is a directory\n"
    after = {p: p.read_bytes() for p in before if p.is_file()}
    assert after == {p: c for p, c in before.items() if p.name != "b.apkg"}
    assert sorted(p.name for p in (root / "dist").iterdir()) == sorted(
        ["a.apkg", "a.release-notes.md", "b.apkg", "b.release-notes.md"]
    )


def test_project_without_decks(tmp_path: Path) -> None:
    result = run("--project", tmp_path)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == (
        "decks: no deck files (decks/*.yaml) found; start a project with `build-deck init`"
    )


def test_card_file_used_by_no_deck_is_pointed_out(make_project: Callable[..., Path]) -> None:
    root = make_project(
        {
            "decks/test.yaml": DECK + "cards: [cards/c.yaml]\n",
            "cards/c.yaml": GOOD,
            "cards/forgotten.yaml": GOOD.replace("one", "two"),
        }
    )
    result = run("--project", root)
    assert result.exit_code == 0
    assert result.stderr.splitlines()[0] == "cards/forgotten.yaml: warning: no deck uses this card file"
    assert run("--project", root, "--strict").exit_code == 1


def test_preview_of_a_failed_build_shows_the_errors(make_project: Callable[..., Path]) -> None:
    root = project_with(make_project, GOOD + "  - id: two\n    front: Q2\n    bakc: x\n")
    result = run("--project", root, "--preview")
    assert result.exit_code == 1
    assert not (root / "dist" / "test.apkg").exists()
    page = (root / "dist" / "test.html").read_text()
    assert "<code>cards/c.yaml:7:5</code> card &#39;two&#39;: unknown key &#39;bakc&#39;" in page


def test_deck_file_mistakes(make_project: Callable[..., Path]) -> None:
    root = make_project(
        {
            "decks/t.yaml": 'name: A\ncards: ["", "cards/*.yaml"]\noutput: "a\\0.apkg"\n',
            "decks/t.yml": "name: B\n",
            "cards/c.yaml": GOOD,
        }
    )
    assert errors_of(root) == [
        "decks/t.yaml:2: '' matches no card file",
        "decks/t.yaml:3:9: deck file: 'output' contains the control character U+0000, "
        "which Anki cannot store",
        "decks/t.yml:1: deck file name 't' is also used by decks/t.yaml",
    ]


def test_a_deck_whose_cards_vanished_is_an_error(make_project: Callable[..., Path]) -> None:
    root = project_with(make_project, GOOD)
    assert run("--project", root).exit_code == 0
    (root / "cards").rename(root / "Cards")
    result = run("--project", root)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == (
        "decks/test.yaml:1: deck 'Test Deck' has no cards: no file matches cards/**/*.yaml, cards/**/*.yml"
    )


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        (
            "basic.back.html",
            "{{FrontSide}}\n{{#Extra}}{{Extra}}\n",
            "templates/basic.back.html:2: "
            "Anki would show \"Back template has a problem: Missing '{{/Extra}}'\"",
        ),
        (
            "basic.front.html",
            "{{#Back}}{{Front}}\n[% include '_mine.html' %]\n",
            'templates/_mine.html:2: Anki would show "Front template has a problem: '
            "Found '{{/Extra}}', but expected '{{/Back}}'\"",
        ),
        (
            "_answer.html",
            "<div>\n{{#Extra}}{{Extra}}</div>\n",
            "templates/_answer.html:2: Anki would show \"Back template has a problem: Missing '{{/Extra}}'\"",
        ),
        (
            "_answer.html",
            "<div>\n{{Frnt}}</div>\n",
            "templates/_answer.html:2: unknown field 'Frnt' in {{Frnt}}; "
            "Basic notes have Front, Back, Extra, Source, ID",
        ),
        (
            "cloze.front.html",
            "<!-- {{cloze:Text}} -->{{Extra}}\n",
            "templates/cloze.front.html:1: a cloze front must contain {{cloze:Text}}",
        ),
        ("basic.front.html", b"{{Front}} caf\xe9\n", "templates/basic.front.html:1: not valid UTF-8"),
        (
            "_answer.html",
            '[% include "_answer.html" %]\n',
            "templates/_answer.html:1: template error: it includes or calls itself without end",
        ),
    ],
    ids=[
        "unclosed-section",
        "own-partial",
        "partial-unclosed-section",
        "partial-field",
        "cloze-in-comment",
        "not-utf8",
        "self-include",
    ],
)
def test_template_mistakes_are_located(
    make_project: Callable[..., Path], name: str, text: str | bytes, expected: str
) -> None:
    files = {f"templates/{name}": text, "templates/_mine.html": "<p>\n{{/Extra}}\n"}
    assert expected in errors_of(project_with(make_project, GOOD, **files))


@pytest.mark.parametrize(
    ("card", "expected"),
    [
        (
            "    type: cloze\n    text: '{{c1::O(n*m)}} vs {{c2::O(n*k)}}'\n",
            "cards/c.yaml:4: card 'one': Markdown formatting crosses a cloze boundary near "
            "'{{c1::O(n<em>m)}}'; escape a literal * or _ as \\* or \\_",
        ),
        (
            "    type: cloze\n    text: |\n      ```python\n      x = {{c1::compute()}}\n      ```\n",
            "cards/c.yaml:4: card 'one': Markdown broke c1; keep each {{c…::…}} out of fenced code "
            "with a language and within one paragraph",
        ),
        (
            "    front: <br>\n    back: A\n",
            "cards/c.yaml:3: card 'one': 'front' shows nothing once rendered; Anki would say the "
            "front of the card is blank",
        ),
        (
            "    type: cloze\n    text: '{{c1::$x^{y^{z}}$}} grows fast'\n",
            "cards/c.yaml:4: card 'one': cloze c1 ends at a '}}' inside its math or braces; "
            "write '} }' there so the deletion closes where you meant",
        ),
        (
            "    type: cloze\n    text: '{{c1,2::both}} and {{c3::three}}'\n",
            "cards/c.yaml:4: card 'one': genanki cannot write this cloze (several numbers in one "
            "deletion, like {{c1,2::…}}, or an empty deletion); give each deletion one number and some text",
        ),
    ],
    ids=[
        "emphasis-across-cloze",
        "cloze-in-highlighted-code",
        "blank-front",
        "braces-close-cloze",
        "multi-cloze",
    ],
)
def test_what_anki_would_make_of_a_note(make_project: Callable[..., Path], card: str, expected: str) -> None:
    assert errors_of(project_with(make_project, "cards:\n  - id: one\n" + card)) == [expected]


def test_cloze_escaped_and_in_plain_fences_works(make_project: Callable[..., Path]) -> None:
    cards = (
        "cards:\n  - id: one\n    type: cloze\n    text: '{{c1::O(n\\*m)}} vs {{c2::O(n\\*k)}}'\n"
        "  - id: two\n    type: cloze\n    text: |\n      ```\n      x = {{c1::compute()}}\n      ```\n"
        "  - id: three\n    type: cloze\n    text: '{{c1::$x^{y^{z} }$ }} grows fast'\n"
    )
    assert run("--project", project_with(make_project, cards), "--check").exit_code == 0


def test_readme_commands_are_the_ones_ci_runs() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    build_cmd, test_cmd = re.findall(r"```sh\n(.+?)\n```", readme)[:2]
    assert build_cmd.endswith("&& .venv/bin/build-deck")
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    setup, _, run_tests = test_cmd.rpartition(" && ")
    assert setup in ci and run_tests in ci


def test_templates_must_be_a_folder(make_project: Callable[..., Path]) -> None:
    root = project_with(make_project, GOOD, templates="not a folder")
    result = run("--project", root)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == "templates: must be a folder of templates"


def test_same_subdeck_spelled_differently_in_two_packages_is_fine(make_project: Callable[..., Path]) -> None:
    root = make_project(
        {
            "decks/a.yaml": "name: Math\ncards: [cards/a.yaml]\n",
            "decks/b.yaml": "name: Physics\ncards: [cards/b.yaml]\n",
            "cards/a.yaml": "deck: Basics\n" + GOOD,
            "cards/b.yaml": "deck: basics\n" + GOOD.replace("one", "two"),
        }
    )
    assert run("--project", root, "--check").exit_code == 0
    (root / "cards" / "c.yaml").write_text("deck: BASICS\n" + GOOD.replace("one", "three"))
    (root / "decks" / "a.yaml").write_text("name: Math\ncards: [cards/a.yaml, cards/c.yaml]\n")
    assert errors_of(root) == [
        "cards/c.yaml:3: card 'three': subdeck 'BASICS' differs only in case from 'Basics' "
        "(cards/a.yaml:3); Anki would make two decks"
    ]


def test_src_inside_another_attribute_is_not_the_image(make_project: Callable[..., Path]) -> None:
    png = (Path(__file__).parent / "data" / "sample" / "images" / "diagram.png").read_bytes()
    cards = (
        "cards:\n  - id: one\n    front: Q\n    back: >-\n"
        '      <img alt="use src=x to set it" data-src=lazy.png src="d.png">\n'
    )
    root = project_with(make_project, cards, **{"cards/d.png": png})
    assert run("--project", root, "--check").exit_code == 0


def test_a_cloze_outside_text_is_explained(make_project: Callable[..., Path]) -> None:
    cards = "cards:\n  - id: one\n    type: cloze\n    text: 'A {{c1::x}} B'\n    extra: '{{c2::y}}'\n"
    assert errors_of(project_with(make_project, cards)) == [
        "cards/c.yaml:5: card 'one': a {{c…::…}} in 'extra' makes cards genanki does not write; "
        "keep deletions in 'text'"
    ]


def test_locked_fails_on_a_draft(sample: Path) -> None:
    result = run("--project", sample, "--locked")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == (
        "decks/sample.lock.json: Sample Deck has no release yet; run `build-deck release` and commit "
        "the lock file"
    )
    assert run("release", "--project", sample).exit_code == 0
    assert run("--project", sample, "--locked").exit_code == 0
    cards = sample / "cards" / "basics.yaml"
    cards.write_text(cards.read_text().replace("back: Paris", "back: Paris, France"))
    result = run("--project", sample, "--locked", "--check")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == (
        "decks/sample.lock.json: the cards of Sample Deck differ from release 1; run `build-deck "
        "release` and commit the lock file"
    )


def test_the_description_and_the_preview_say_which_release(sample: Path) -> None:
    deck = sample / "decks" / "sample.yaml"
    deck.write_text(deck.read_text() + "homepage: https://example.org/deck/releases\n")
    assert run("release", "--project", sample).exit_code == 0
    cards = sample / "cards" / "basics.yaml"
    cards.write_text(cards.read_text().replace("back: Paris", "back: Paris, France"))
    assert run("--project", sample, "--preview").exit_code == 0
    page = (sample / "dist" / "sample.html").read_text()
    data = re.search(r'<script type="application/json" id="deck-data">(.*?)</script>', page, re.S)
    assert data is not None
    assert re.search(  # the description, shown in a sandboxed frame
        r'<small>Draft after release 1 · built \d{4}-\d\d-\d\d · new releases: <a href="https://example.org/'
        r'deck/releases">https://example.org/deck/releases</a></small>',
        json.loads(data.group(1))["description"],
    )
    assert "· draft (after release 1)" in page
    deck.write_text(deck.read_text().replace("https://example.org/deck/releases", "javascript:alert(1)"))
    result = run("--project", sample, "--check")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == (
        "decks/sample.yaml:7:11: deck file: 'homepage' must be an https:// or http:// address"
    )


def test_release_without_the_render_cache(sample: Path, render_cache_dir: Path) -> None:
    result = run("release", "--no-cache", "--project", sample)
    assert result.exit_code == 0, result.output
    assert "release 1" in result.stdout
    assert (sample / "decks" / "sample.lock.json").is_file()
    assert list(render_cache_dir.iterdir()) == []  # neither read nor written
    assert run("--check", "--project", sample).exit_code == 0
    assert list(render_cache_dir.iterdir()) != []  # a build without --no-cache fills it
