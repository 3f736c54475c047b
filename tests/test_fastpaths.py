"""The fast paths against the slow path each stands for, on the inputs a review found them wrong on.

quick_html stands for Python-Markdown (with our extensions) on texts it calls simple: wherever it
gives HTML, that HTML must be Markdown's, its lone paragraph unwrapped.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deckbuilder import notecheck
from deckbuilder.ankitemplate import _EMPTY_FIELD, field_is_empty
from deckbuilder.quickhtml import quick_html
from deckbuilder.render import new_markdown, unwrap_paragraph

_MD = new_markdown()


def _markdown(text: str) -> str:
    return unwrap_paragraph(_MD.reset().convert(text))


@pytest.mark.parametrize(
    "text",
    ["WWW.example.com", "see Www.example.com now", "wWw.example.org", "(WWW.example.com)"],
)
def test_bare_domain_in_capitals_is_not_taken_for_plain_text(text: str) -> None:
    # magiclink's bare-link pattern is case-insensitive ((?xi) ... w{3}\.): Markdown links
    # "WWW.example.com"; quickhtml's _BARE_DOMAIN (\b(?:www|ftp)\.) only sees lower case, so the
    # fast path ships the text without its link.
    quick = quick_html(text)
    assert quick is None or quick == _markdown(text)


_TOKENS = st.sampled_from(
    [
        "a",
        "Z",
        "é",
        "😀",
        " ",
        "\n",
        "*",
        "**",
        "`",
        ".",
        ",",
        ":",
        ";",
        "!",
        "?",
        "'",
        '"',
        "(",
        ")",
        "#",
        "+",
        "-",
        "=",
        "%",
        "/",
        ">",
        "1.",
        "1)",
        "&",
        "&amp;",
        "&#x41;",
        "x.com",
        "www.",
        "\u00a0",
        "<https://a.b/c>",
        "<http://x.y/?q=1;r=(2)>",
        "<https://x:8/~u/'q'>",
        "<https://a.b/#f>",
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_TOKENS, min_size=1, max_size=10).map("".join))
def test_quick_html_is_markdowns_html(text: str) -> None:
    quick = quick_html(text)
    if quick is not None:
        assert quick == _markdown(text)


def _package_with_hash_seed(project: Path, seed: str, cache: Path) -> bytes:
    env = dict(
        os.environ, PYTHONHASHSEED=seed, SOURCE_DATE_EPOCH="1700000000", DECKBUILDER_CACHE_DIR=str(cache)
    )
    out = project / f"dist-{seed}"
    build_deck = Path(sys.executable).parent / "build-deck"
    done = subprocess.run(
        [str(build_deck), "build", "--no-cache", "--project", str(project), "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return (out / "t.apkg").read_bytes()


def test_package_bytes_do_not_depend_on_the_hash_seed(tmp_path: Path) -> None:
    # A cloze front with two cloze fields: genanki's _cloze_cards (and package._genanki_cards,
    # which copies it) walks a *set* of field names, so the order the cards' ordinals go into
    # their set, and so the cards' rows and ids, follow the string hash seed (c10 in one field
    # and c2 in the other share a slot of the set's table).
    project = tmp_path / "p"
    (project / "decks").mkdir(parents=True)
    (project / "cards").mkdir()
    (project / "templates").mkdir()
    (project / "decks" / "t.yaml").write_text(
        "name: T\nidentity: t-deck\ncards:\n  - cards/*.yaml\noutput: t.apkg\n", encoding="utf-8"
    )
    (project / "cards" / "a.yaml").write_text(
        'cards:\n  - {id: a, type: cloze, text: "{{c10::a}}", extra: "{{c2::b}}"}\n'
        '  - {id: b, type: cloze, text: "{{c2::a}} x", extra: "{{c10::b}} y"}\n',
        encoding="utf-8",
    )
    (project / "templates" / "cloze.front.html").write_text(
        '<div class="question cloze-text">{{cloze:Text}}</div>{{cloze:Extra}}\n', encoding="utf-8"
    )
    packages = {_package_with_hash_seed(project, seed, tmp_path / "cache") for seed in ("0", "1")}
    assert len(packages) == 1


def test_code_spans_do_not_backtrack_exponentially() -> None:
    # _LINE's code span `{_CODE}*(?!\s){_CODE}{_CODE}*` matches a span's text in as many ways as it
    # has characters; when the text is not simple after all (here: the '_'), the regex tries every
    # combination of every span: about 3 s for this 117-character answer, ten times more for each
    # further span (a deck project is untrusted input: a field can stall the build for hours).
    text = (
        "Use `git add -p`, `git commit -v`, `git rebase -i`, `git log -p`, `git show HEAD`, "
        "`git diff --staged` (see git_help)"
    )
    start = time.process_time()
    assert quick_html(text) is None
    assert time.process_time() - start < 0.5


_FIELD_TOKENS = st.one_of(
    _TOKENS,
    st.sampled_from(
        [
            "{{c1::",
            "{{c2::",
            "}}",
            "{",
            "}",
            "::",
            "<",
            "<b>",
            "</b>",
            "<script>",
            "<my-tag>",
            "on",
            "=",
            "`<i>`",
        ]
    ),
    # Whole spans, so that most texts are simple and have tags.
    st.sampled_from(["*a*", "**b c**", "*é*", "` x `", "`<p onload=x>`", "`{{c1::a}}`", " word "]),
)


@settings(max_examples=600, deadline=None)
@given(st.lists(_FIELD_TOKENS, min_size=1, max_size=12).map("".join))
def test_simple_htmls_findings_are_the_scans(text: str) -> None:
    # FieldChecks.learn_simple takes quick_html's HTML for having no findings but cloze markup,
    # without scanning it: the scans must find exactly that.
    from deckbuilder.cardcache import NOTHING, FieldChecks, findings

    quick = quick_html(text)
    if quick is None:
        return
    checks = FieldChecks()
    checks.learn_simple([quick])
    assert checks.of(quick) == findings(quick)
    if "{{c" not in quick:
        assert findings(quick) is NOTHING


_FRONTS = st.sampled_from(
    [
        "{{Front}}",
        "{{#Extra}}{{Back}}{{/Extra}}",
        "{{^Source}}{{Front}}{{/Source}}",
        "{{#Tags}}{{Tags}}{{/Tags}}",
        "{{Tags}}",
        "{{#Back}}{{^Extra}}{{ID}}{{/Extra}}{{/Back}}",
        "words only",
        "{{text:Back}}",
        "{{#Nope}}{{Front}}{{/Nope}}",
        "{{#Front}",
    ]
)
_VALUES = st.sampled_from(
    ["", " ", "\n", "<br>", "<BR />", "<div></div>", "x", "<br>x", "<p></p>", "{{c1::a}}"]
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.lists(_FRONTS, min_size=1, max_size=3), min_size=1, max_size=3),
    st.lists(
        st.tuples(st.integers(0, 3), st.lists(_VALUES, min_size=5, max_size=5), st.booleans()),
        min_size=1,
        max_size=30,
    ),
)
def test_anki_cards_memo_is_card_ordinals(
    fronts: list[list[str]], notes: list[tuple[int, list[str], bool]]
) -> None:
    # AnkiCards works Anki's cards out once per note type and pattern of empty fields: each
    # note's must be what card_ordinals gives for it, note types of the same kind apart.
    from deckbuilder.notecheck import AnkiCards, anki_cards
    from deckbuilder.notetypes import KINDS, CardTemplate, NoteType
    from deckbuilder.package import NoteRecord

    types = [
        NoteType(KINDS["basic"], 1, "B", tuple(CardTemplate(f"c{i}", f, "") for i, f in enumerate(fs)), "")
        for fs in fronts
    ]
    types.append(NoteType(KINDS["cloze"], 2, "C", (CardTemplate("cloze", "{{cloze:Text}}", ""),), ""))
    memo = AnkiCards()
    for which, values, tagged in notes:
        nt = types[which % len(types)]
        fields = tuple(values[: len(nt.kind.fields)])
        note = NoteRecord("g", nt, fields, ("t",) if tagged else (), "D", 1)
        assert memo(note) == anki_cards(note)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.lists(_FRONTS, min_size=1, max_size=3), min_size=1, max_size=3),
    st.lists(
        st.tuples(
            st.integers(0, 3),
            st.sampled_from(["basic", "reversed", "type-in"]),
            st.lists(_VALUES, min_size=4, max_size=4),
            st.booleans(),
            st.sets(st.integers(0, 2), min_size=1),
        ),
        min_size=1,
        max_size=30,
    ),
)
def test_note_checker_is_check_note(
    fronts: list[list[str]], notes: list[tuple[int, str, list[str], bool, set[int]]]
) -> None:
    # NoteChecker checks once each pattern of what check_note reads of a note that is not a
    # cloze note: each note's problems must be check_note's, with the note's own places.
    from deckbuilder.model import Card, Location
    from deckbuilder.notecheck import NoteChecker, check_note
    from deckbuilder.notetypes import KINDS, CardTemplate, NoteType
    from deckbuilder.package import NoteRecord
    from deckbuilder.render import RenderedCard

    types = [
        NoteType(KINDS["basic"], 1, "B", tuple(CardTemplate(f"c{i}", f, "") for i, f in enumerate(fs)), "")
        for fs in fronts
    ]
    checker = NoteChecker()
    seen = []
    for number, (which, kind, values, tagged, ords) in enumerate(notes):
        nt = types[which % len(types)]
        tags = ("t",) if tagged else ()
        card = Card(
            f"c{number}", kind, *values[:2], "", *values[2:], tags, "", (), Location("c.yaml", number + 1)
        )
        fields = dict(
            zip(("front", "back", "text", "extra", "source"), (*values[:2], "", *values[2:]), strict=True)
        )
        note = NoteRecord("g", nt, (*values, card.id), tags, "D", 1)
        expected = list(check_note(RenderedCard(card, fields), note, sorted(ords)))
        assert checker(RenderedCard(card, fields), note, sorted(ords)) == expected
        seen.append((RenderedCard(card, fields), note, sorted(ords), expected))
    # Each note again, through the same checker: a note that passed is a pattern checked
    # before, answered without check_note; the others are checked again, with their places.
    checked: list[object] = []
    real = notecheck.check_note
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(notecheck, "check_note", lambda *args: checked.append(args) or real(*args))
        for rc, note, ords, expected in seen:
            assert checker(rc, note, ords) == expected
    assert len(checked) == sum(1 for *_, expected in seen if expected)


_YAML_LINES = st.sampled_from(
    [
        "cards:",
        "notes:",
        'deck: "Part 1"',
        "deck: Part one",
        "tags: a",
        "deck:",
        'cards: "x"',
        "cards: []",
        "  - id: a-1",
        "- id: b",
        "  - id: c",
        "    - id: d",
        "  -  id: e",
        '    front: "Q: what? # not a comment"',
        '    front: "é ü 😀 \u00a0"',
        '    front: ""',
        '    front: "a" ',
        '    front: "with \\" escape"',
        "    front: 'single'",
        "    front: plain text, words (and more)?",
        "    front: it's",
        "    front: a:b",
        "    back: yes",
        "    back: On",
        "    back: 0x1F",
        "    back: 017",
        "    back: 1_000",
        "    back: 12",
        "    back: 1.5",
        "    back: 1.",
        "    back: 2001-12-14",
        "    back: null",
        "    back: Null",
        "    back: 1e3",
        "    back:",
        "    back: ",
        "      x: y",
        "    tags: [a, b]",
        "    on: yes",
        "    null: 1",
        "    id: a-1",
        '  front: "b"',
        "   front: c",
        "# a comment",
        "    # indented comment",
        "",
        "  ",
        "---",
        "...",
        "\tfront: x",
        "    text: '{{c1::a}}'",
    ]
)


@settings(max_examples=1500, deadline=None)
@given(st.lists(_YAML_LINES, min_size=1, max_size=12), st.sampled_from(["", "\n", "\r\n"]))
def test_simple_yaml_is_what_libyaml_reads(lines: list[str], end: str) -> None:
    # read_yaml reads a file of the simplest shape line by line, without libyaml: the values,
    # their lines and columns, and the problems must be the walker's of libyaml's nodes.
    from pathlib import Path

    from deckbuilder import yamlsource

    text = "\n".join(lines) + end
    raw = text.encode()

    def read(fast: bool) -> object:
        problems: list[object] = []
        saved = yamlsource._simple_document
        if not fast:
            yamlsource._simple_document = lambda text, rel: None
        try:
            return yamlsource.read_yaml(Path("x.yaml"), "x.yaml", problems, raw), problems  # type: ignore[arg-type]
        except yamlsource.YamlProblems as e:
            return "problems", e.diagnostics
        finally:
            yamlsource._simple_document = saved

    assert read(True) == read(False)


_KEYS = st.sampled_from(["id", "front", "back", "type", "deck", "on", "null", "deck_was", "x"])
_WORDS = st.sampled_from(
    [
        '"Q: what? # not a comment"',
        '"é ü 😀"',
        '""',
        '"a  b "',
        '" lead"',
        "plain-1",
        "basic",
        "plain words, (and more)?",
        "it's",
        "yes",
        "No",
        "off",
        "0x1F",
        "017",
        "0b101",
        "1_000",
        "12",
        "1.5",
        "1.",
        "2001-12-14",
        "2001-12-14 21:59:43.10",
        "null",
        "NULL",
        "1e3",
        "a - b",
        "a/b+c;d",
        "y",
        "true",
        "True",
        "Tree",
        "onion",
        "Off-site",
        "nothing",
        "-1",
        "+1",
        "0.5",
        ".5",
        "zero",
        "'single'",
        '"with \\" escape \\\\ and \\\\\\" more"',
        '"\\n newline"',
        '"\\t tab \\x41"',
        '"ends \\\\"',
        '"open \\"',
        "'it''s'",
        "' spaced '",
        "''",
        "'a''",
        "'a: b # c'",
        "[a, b-c]",
        "[]",
        "[yes, 1, null, x.y]",
        "[a,b]",
        "[ a ]",
        "What is $x_{2}^2$ when **x** is 2?",
        "https://example.org/a:b",
        "a{b}, [c] d, e]",
        "C# and F#",
        "a :b",
        "a: b",
        "a #b",
        "trailing ",
        "é ü 😀",
        "a\u00a0b",
        "<< merge",
        "<<",
        "=",
        "~",
        "-x",
        "?x",
        "%x",
        "@x",
        "|",
        "|\n{I}  line one\n{I}  line two",
        "|\n{I}  one\n\n{I}    more\n{I}  # not a comment\n",
        "|\n{I}  one\n{I}   \n{I}  two",
        "|\n{I} shallow",
        "|\n{I}",
        "|\n\n{I}  late",
        ">-\n{I}  folded one\n{I}  folded two",
        ">-\n{I}  one\n\n{I}  two",
        ">-\n{I}  one\n{I}    more",
        ">-\n{I}  one: two # three",
        "|-\n{I}  x",
        ">\n{I}  x",
    ]
)


_GOOD_WORDS = st.sampled_from(
    [
        '"a: b"',
        "plain-1",
        "What is $x_{2}^2$ when **x** is 2?",
        "https://example.org/a:b",
        "C# and F#",
        "'it''s'",
        "[a, b-c]",
        "[]",
        "yes",
        "12",
        "|\n{I}  line one\n{I}  line two",
        "|\n{I}  one\n\n{I}    more\n{I}  # not a comment\n",
        "|\n{I}   deeper first\n{I}   x",
        "|\n{I}  one\n\n\n",
        ">-\n{I}  folded one\n{I}  folded two ",
        ">-\n{I}  one: two # three\n\n",
        ">-\n{I}  x",
    ]
)
_VALUES_OF_FILES = st.one_of(_WORDS, _GOOD_WORDS, _GOOD_WORDS)


@st.composite
def _simple_yaml(draw: st.DrawFn) -> str:
    """A file of the simplest shape (mostly): lists of flat mappings, top-level scalars, blank and
    comment lines, now and then one line from _YAML_LINES instead."""
    lines = []
    for _ in range(draw(st.integers(1, 3))):
        key = draw(_KEYS)
        if draw(st.booleans()):
            lines += f"{key}: {draw(_VALUES_OF_FILES)}".replace("{I}", "").split("\n")
            continue
        lines.append(f"{key}:")
        indent = " " * draw(st.sampled_from([0, 2, 4]))
        for _ in range(draw(st.integers(0, 3))):
            unique = draw(st.booleans()) or draw(st.booleans())  # (a duplicate now and then)
            pairs = draw(
                st.lists(
                    st.tuples(_KEYS, _VALUES_OF_FILES),
                    min_size=1,
                    max_size=4,
                    unique_by=(lambda p: p[0]) if unique else None,
                )
            )
            for n, (k, v) in enumerate(pairs):
                lines += f"{indent}{'- ' if n == 0 else '  '}{k}: {v}".replace("{I}", indent + "  ").split(
                    "\n"
                )
            lines += draw(st.sampled_from([[], [""], ["# c"], [f"{indent}  # c"]]))
    if draw(st.booleans()):
        at = draw(st.integers(0, len(lines)))
        lines.insert(at, draw(_YAML_LINES))
    return "\n".join(lines) + draw(st.sampled_from(["", "\n"]))


@settings(max_examples=2500, deadline=None)
@given(_simple_yaml())
def test_simple_yaml_files_are_what_libyaml_reads(text: str) -> None:
    test_simple_yaml_is_what_libyaml_reads.hypothesis.inner_test(text.split("\n"), "")  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "text",
    [
        "front: |\n  a\r\n  b\n",
        "front: |\n  a\n  b\r\n",
        "front: >-\n  a\r\n  b\n",
        "cards:\n- front: |\n    a\r\n  back: x\n",
        "cards:\n- front: >-\n    a\r\n    b\n  back: x\n",
    ],
)
def test_simple_yaml_blocks_with_windows_line_ends(text: str) -> None:
    # A block's lines are split at "\n" only: a line ending "\r\n" (a file edited on Windows,
    # a line pasted into one) kept its "\r" in the text, where YAML reads one line break.
    test_simple_yaml_is_what_libyaml_reads.hypothesis.inner_test(text.split("\n"), "")  # type: ignore[attr-defined]


@pytest.mark.parametrize("length", [1024, 1025, 3000])
@pytest.mark.parametrize("shape", ["{key}: x\n", "cards:\n  - {key}: x\n", 'deck: a\n{key}: "b"\n'])
def test_simple_yaml_keys_as_long_as_libyaml_takes(length: int, shape: str) -> None:
    # A plain key is a YAML "simple key": libyaml takes one of at most 1024 characters and
    # stops at a longer one ("mapping values are not allowed in this context"). The line by
    # line reader must not take a file libyaml stops at (its key reported as unknown instead).
    text = shape.format(key="k" * length)
    test_simple_yaml_is_what_libyaml_reads.hypothesis.inner_test(text.split("\n"), "")  # type: ignore[attr-defined]


def test_quick_html_character_classes_are_the_lookaheads() -> None:
    # quickhtml's _LINE_CHAR and _INNER_CHAR stand for "(?!(?! )\s)" and "(?!\s)" before _PLAIN:
    # the same characters, every code point checked.
    import re

    from deckbuilder import quickhtml

    pairs = [
        (re.compile(rf"(?!(?! )\s){quickhtml._PLAIN}"), re.compile(quickhtml._LINE_CHAR)),
        (re.compile(rf"(?!\s){quickhtml._PLAIN}"), re.compile(quickhtml._INNER_CHAR)),
    ]
    text = "".join(map(chr, range(0x110000)))
    for old, new in pairs:
        assert [m.start() for m in old.finditer(text)] == [m.start() for m in new.finditer(text)]


# quickhtml's test of a whole text before its runs of plain characters were taken at once.
_OLD_PLAIN = r"[^\x00-\x1f\x7f-\x9f$*<@\[\\\]^_`|~]"
_OLD_INNER_CHAR = rf"(?!\s){_OLD_PLAIN}"
_OLD_INNER = rf"{_OLD_INNER_CHAR}(?:(?:(?!(?! )\s){_OLD_PLAIN})*{_OLD_INNER_CHAR})?"
_OLD_CODE = r"[^`\\$\x00-\x1f\x7f-\x9f]"
_OLD_URL = r"https?://[A-Za-z0-9\-._~:/?#@'()+,;=%]+"
_OLD_LINE = (
    r"(?![-+#>=<\s]|\d+[.)][^\S\n]|\*[^\S\n])"
    rf"(?:(?!(?! )\s){_OLD_PLAIN}"
    rf"|(?<!\*)(?:\*\*{_OLD_INNER}\*\*|\*{_OLD_INNER}\*)(?!\*)"
    rf"|(?<!`)`(?=[^\S\n]*[^\s`]){_OLD_CODE}+`(?!`)"
    rf"|<{_OLD_URL}>)+"
    r"(?<![ :])"
)


@settings(max_examples=1500, deadline=None)
@given(
    st.lists(
        st.one_of(_FIELD_TOKENS, st.sampled_from(["\u2003", "\u3000", "\t", "\x85", "\xa0"])), max_size=14
    )
)
def test_quick_html_takes_the_texts_it_took(tokens: list[str]) -> None:
    import re

    from deckbuilder import quickhtml

    text = "".join(tokens)
    old = re.compile(rf"{_OLD_LINE}(?:\n{_OLD_LINE})*\n*")
    assert (old.fullmatch(text) is None) == (quickhtml._TEXT.fullmatch(text) is None)


@settings(max_examples=2000, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "",
                " ",
                "\t",
                "\n",
                "\r",
                "\x0b",
                "\f",
                "\xa0",
                "<br>",
                "<BR/>",
                "</div>",
                "<div >",
                "<b>",
                "x",
                "<",
                ">",
                "/",
            ]
        ),
        max_size=6,
    )
)
def test_field_is_empty_is_ankis_pattern(pieces: list[str]) -> None:
    # The test of a field's first character answers only for a field the pattern refuses.
    text = "".join(pieces)
    assert field_is_empty(text) == (_EMPTY_FIELD.fullmatch(text) is not None)
