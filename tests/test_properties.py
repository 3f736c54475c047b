"""Properties over many generated inputs (hypothesis)."""

from __future__ import annotations

import functools
import html
import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown import Markdown

from deckbuilder.load import CARD_ID
from deckbuilder.lock import Lock, NoteInput, NoteTypeInput
from deckbuilder.lockfile import LockState, dump, parse
from deckbuilder.model import Diagnostic, Location
from deckbuilder.render import MarkdownRenderer, MediaFiles

from .conftest import run

MATH = st.text(alphabet="abcxyz0123456789_*^{}+=-<> ", min_size=1, max_size=30).filter(
    lambda s: s.strip() == s and "  " not in s
)


@settings(max_examples=60, deadline=None)
@given(MATH)
def test_inline_math_reaches_anki_verbatim(math: str) -> None:
    renderer = MarkdownRenderer(Path("."), MediaFiles())
    out = renderer.html(f"Compute \\({math}\\) now.", Path("."), Location("c.yaml", 1), [])
    assert f"\\({html.escape(math, quote=False)}\\)" in out


@settings(max_examples=60, deadline=None)
@given(MATH)
def test_display_math_reaches_anki_verbatim(math: str) -> None:
    renderer = MarkdownRenderer(Path("."), MediaFiles())
    out = renderer.html(f"$${math}$$", Path("."), Location("c.yaml", 1), [])
    assert f"\\[{html.escape(math, quote=False)}\\]" in out


@settings(max_examples=40, deadline=None)
@given(
    blank=st.integers(min_value=0, max_value=5),
    before=st.integers(min_value=0, max_value=4),
    card_id=st.text(alphabet="abz09-_X ", min_size=1, max_size=12),
)
def test_errors_point_at_the_right_line(blank: int, before: int, card_id: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        check_error_line(Path(tmp), blank, before, card_id)


def check_error_line(root: Path, blank: int, before: int, card_id: str) -> None:
    (root / "decks").mkdir()
    (root / "cards").mkdir()
    (root / "decks" / "d.yaml").write_text("name: D\n")
    good = "".join(f"  - id: good-{i}\n    front: Q{i}\n    back: A\n" for i in range(before))
    text = "# comment\n" * blank + "cards:\n" + good
    text += f"  - id: '{card_id}'\n    front: Q\n    back: A\n    bakc: B\n"
    (root / "cards" / "c.yaml").write_text(text)
    line = blank + 1 + 3 * before + 1
    result = run("--project", root, "--check")
    if CARD_ID.fullmatch(card_id) and not card_id.startswith("good-"):
        assert result.exit_code == 1
        assert result.stderr.splitlines()[0] == (
            f"cards/c.yaml:{line + 3}:5: card '{card_id}': unknown key 'bakc' (did you mean 'back'?)"
        )
    else:
        assert result.exit_code == 1
        assert re.match(rf"cards/c\.yaml:{line}(:\d+)?: ", result.stderr.splitlines()[0])


NOTE_TYPES = [NoteTypeInput("1", "T: Basic", ("Front", "Back"), "fp")]


@settings(max_examples=60, deadline=None)
@given(
    releases=st.lists(
        st.dictionaries(st.sampled_from("abcdef"), st.sampled_from(["x", "y", "z"]), min_size=1),
        min_size=1,
        max_size=6,
    ),
    times=st.lists(st.integers(min_value=1_000_000_000, max_value=1_000_000_100), min_size=6, max_size=6),
)
def test_a_note_moves_forward_exactly_when_it_changes(
    releases: list[dict[str, str]], times: list[int]
) -> None:
    """Over any history of releases, a note's mod changes iff its content changed."""
    lock = Lock(Path("unused.lock.json"), "decks/x.lock.json", LockState())
    previous: dict[str, tuple[str, int]] = {}
    for cards, now in zip(releases, times, strict=False):
        notes = [
            NoteInput(cid, (), f"guid-{cid}", "1", {"Front": text, "ID": cid}, Location("c.yaml", 1))
            for cid, text in sorted(cards.items())
        ]
        problems: list[Diagnostic] = []
        release = lock.plan(notes, NOTE_TYPES, "x", 1, now, problems)
        assert problems == []
        for cid, text in cards.items():
            mod = release.mods[cid]
            if cid in previous and previous[cid][0] == text:
                assert mod == previous[cid][1]
            elif cid in previous:
                assert mod > previous[cid][1]
            assert release.guids[cid] == f"guid-{cid}"
        kinds = {c.card_id: c.kind for c in release.changes}
        for cid in previous.keys() - cards.keys():
            assert kinds[cid] == "removed"
        previous = {cid: (text, release.mods[cid]) for cid, text in cards.items()}
        lock.state = parse(dump(release.state).decode(), "decks/x.lock.json")
        assert lock.state == release.state


PLAINISH = st.text(alphabet="abcXYZ019 ,.;:?!'\"()%/+=@-*_#<>&`$\\\t\n~[]{}|^\u00e9", max_size=40)
_UNICODE = "\u00e9\u2019\u2013\u00a7\u00a0\u2028\ufeff\u200b\u0301\u0663\U0001f600\x85\u3000"
_WORD = st.text(alphabet="abXZ09,.;:?!'\"()%/+=-&>#{} " + _UNICODE, min_size=1, max_size=6)
_CODE = st.text(alphabet="ab <>&*_#!-/?[]{}|~^@;\"'=\t" + _UNICODE, min_size=1, max_size=8)
_NEAR_MISS = [
    "\n", " ", "*", "`", "1. ", "\u0663. ", "- ", "#", ":", "\n\n", "_", "  \n", "<", "&", "&amp;", "&#1;",
    "> ", "\r", "\t", "www.", "://", "$", "\\", "[", "@", "|", "~~~", "===",
]  # fmt: skip
# Links: addresses of the characters the shortcut takes, and of some it leaves to Markdown.
_LINK = st.tuples(
    st.sampled_from(["https://", "http://", "HTTPS://", "ftp://", "https:/"]),
    st.text(alphabet="abZ09-._~:/?#@'()+,;=%!$&*[]`\\ _<>\"", max_size=10),
).map(lambda parts: f"<{parts[0]}{parts[1]}>")
# Texts made of the pieces the shortcut takes, and of the pieces that make it step aside.
SIMPLE_ISH = st.lists(
    st.one_of(
        _WORD,
        _WORD.map(lambda w: f"*{w.strip() or 'x'}*"),
        _WORD.map(lambda w: f"**{w.strip() or 'x'}**"),
        _CODE.map(lambda c: f"`{c}`"),
        _LINK,
        st.sampled_from(_NEAR_MISS),
    ),
    max_size=12,
).map("".join)


@functools.cache
def _markdown() -> Markdown:
    from deckbuilder.render import new_markdown

    return new_markdown()


@settings(max_examples=1000, deadline=None)
@given(st.one_of(PLAINISH, SIMPLE_ISH))
def test_quick_html_is_what_markdown_makes(text: str) -> None:
    """Text the shortcut takes gets exactly the HTML Markdown (and our extensions) would make."""
    from deckbuilder.quickhtml import quick_html
    from deckbuilder.render import unwrap_paragraph

    fast = quick_html(text)
    if fast is None:
        return
    out = _markdown().reset().convert(text)
    assert fast == unwrap_paragraph(out)


def test_quick_html_takes_the_common_short_texts() -> None:
    """The shortcut is for texts like these (else it saves nothing); the rest go to Markdown."""
    from deckbuilder.quickhtml import quick_html

    assert quick_html("What is the *capital* of France?") == "What is the <em>capital</em> of France?"
    assert quick_html("**Paris**, since 508.\n") == "<strong>Paris</strong>, since 508."
    assert quick_html("Use `a < b` here") == "Use <code>a &lt; b</code> here"
    assert quick_html("two\nlines") == "two\nlines"
    assert quick_html("*Title.* Press. <https://x.org/a-b>") == (
        '<em>Title.</em> Press. <a href="https://x.org/a-b">https://x.org/a-b</a>'
    )
    assert (
        quick_html("Wide & Deep \u2013 *\u00e9t\u00e9* -> x")
        == "Wide &amp; Deep \u2013 <em>\u00e9t\u00e9</em> -&gt; x"
    )
    for markdown_needed in (
        "* item",
        "1. first",
        "# Title",
        "a\n\nb",
        "see www.example.org",
        "$x$",
        "a_b",
        "&amp;",
        "AT&T",
        "&#0",
    ):
        assert quick_html(markdown_needed) is None


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_a_damaged_lock_is_a_located_problem(
    data: st.DataObject, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Whatever happens to a lock's text, reading it gives its state or located problems, never a crash."""
    from deckbuilder.model import DeckSpec, LintLimits

    valid = dump(LockState(identity="x", release=1, time=1_700_000_000, built=1_700_000_000)).decode()
    text = data.draw(
        st.one_of(
            st.text(max_size=200),
            st.builds(
                lambda cut, junk, at: valid[:at] + junk + valid[at + cut :],
                st.integers(0, 20),
                st.text(alphabet='{}[]",:0123456789-<=>|\ufeff\n abcegilmnorstu', max_size=20),
                st.integers(0, len(valid)),
            ),
        )
    )
    root = tmp_path_factory.mktemp("lock")
    (root / "decks").mkdir()
    (root / "decks" / "x.lock.json").write_text(text, encoding="utf-8")
    spec = DeckSpec("X", "x", 0, "", (), "x.apkg", 1, 0, LintLimits(), Location("decks/x.yaml", 1))
    problems: list[Diagnostic] = []
    Lock.for_deck(root, spec, problems)
    for problem in problems:
        assert problem.location.path == "decks/x.lock.json" and problem.location.line >= 1
        assert "\n" not in str(problem)


TEMPLATE_PIECES = [
    "[[ ", " ]]", "[% ", " %]", "[# ", " #]", "{{Front}}", "{{Back}}", "{{#Extra}}", "{{/Extra}}",
    "include '_answer.html'", "include '_mine.html'", "include 'nope.html'", "for i in range(3)",
    "endfor", "if x", "endif", "set x = 1", "x", "1 // 0", "'a' * 3", "9 ** 99999", "note_type",
    "fields", "deck_name", "card", "cycler.__init__", "lipsum.__globals__", "''.__class__",
    "range(10 ** 9)", "|upper", "|join(',')", "'%9999999s' % 1", "loop.index", "(", ")", ",",
    "namespace(a=1)", "macro m()", "endmacro", "m()", "<div>", "</div>", "\n", " ",
]  # fmt: skip


@settings(max_examples=80, deadline=None)
@given(
    front=st.lists(st.sampled_from(TEMPLATE_PIECES), max_size=12).map("".join),
    partial=st.lists(st.sampled_from(TEMPLATE_PIECES), max_size=12).map("".join),
)
def test_any_template_renders_or_gives_located_one_line_errors(front: str, partial: str) -> None:
    """Whatever a project's templates say, rendering gives note types or located problems, quickly."""
    import time

    from deckbuilder.notetypes import KINDS, TemplateSet

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "templates").mkdir()
        (root / "templates" / "basic.front.html").write_text("{{Front}}" + front, encoding="utf-8")
        (root / "templates" / "_mine.html").write_text(partial, encoding="utf-8")
        (root / "templates" / "_answer.html").write_text("[% include '_mine.html' %]", encoding="utf-8")
        templates = TemplateSet(root)
        problems: list[Diagnostic] = []
        started = time.monotonic()
        templates.check_override_names(problems)
        for kind in KINDS.values():
            templates.note_type(kind, "Deck", "deck", 1, problems)
        assert time.monotonic() - started < 30  # every template is stopped after 2 seconds
    assert len(problems) == len(set(problems))  # each problem once, not once per note type
    for problem in problems:
        assert problem.location.path.startswith(("templates/", "<deckbuilder>/templates/")), problem
        assert "\n" not in str(problem)
        assert "Traceback" not in problem.message


_MARKUP = st.lists(
    st.sampled_from(
        [
            "<p>", "</p>", "<em>", "</em>", "<code>", "</code>", "<pre>", "</pre>", "<li>", "</li>",
            "<ul>", "</ul>", "<td>", "</td>", "<h2>", "</h2>", '<span class="k">', "</span>", "<br>",
            "<br />", "<hr/>", "</br>", "<P>", '<span class="a b">', '<div class="x" onclick="y">',
            "<script>", "</script>", "<style>", "<!--", "-->", "<em", ">", "<", "&lt;", "&", "a", " ",
            "\n", "<a href='javascript:x'>", "</a>", "<img src=x onerror=y>", "<![CDATA[", "<?x>",
            '<td class="">', "<textarea>", "<title>", '<a href="https://x.org/a?b=c">', '<a href="http://x/">',
            '<a href="https://x" onclick="y">', '<a href="javascript:x">', '<a class="k">', "<a>",
        ]
    ),
    max_size=14,
).map("".join)  # fmt: skip


@settings(max_examples=600, deadline=None)
@given(_MARKUP)
def test_plain_markup_is_scanned_as_an_html_parser_would(html_text: str) -> None:
    """The shortcut for plain formatting markup finds what the HTML parser would, no more, no less."""
    from deckbuilder import activecontent, notecheck

    fast_balance = notecheck.first_unbalanced(html_text)
    fast_scripts = activecontent.scripts_in(html_text)
    saved = notecheck.only_plain_tags
    saved_re = activecontent._PLAIN_TAGS
    try:
        notecheck.only_plain_tags = lambda html: False  # type: ignore[assignment]
        activecontent._PLAIN_TAGS = re.compile(r"(?!)")  # never matches: always the parser
        assert notecheck.first_unbalanced(html_text) == fast_balance
        assert activecontent.scripts_in(html_text) == fast_scripts
    finally:
        notecheck.only_plain_tags = saved  # type: ignore[assignment]
        activecontent._PLAIN_TAGS = saved_re
