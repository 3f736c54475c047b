"""Release notes show a project's text as it is: a deck's or subdeck's name and a card's words
are never read as Markdown or HTML where the notes are shown (GitHub's release page, which the
release workflow fills from them), and every code span and search in them still works."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from pathlib import Path

import markdown
from hypothesis import given, settings
from hypothesis import strategies as st

from deckbuilder.releasenotes import _code, _text

from .conftest import import_package, new_collection, run

MARKUP = "`*_[]()<>&~!#\\|-+.:;\"'=/ "
NAMES = (
    st.text(
        alphabet=st.sampled_from(MARKUP) | st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")),
        min_size=1,
        max_size=40,
    )
    .map(str.strip)
    .filter(bool)
)


def inline(rendered: str) -> str:
    """What Python-Markdown made of one line of text after "x ": the HTML inside its paragraph."""
    assert rendered.startswith("<p>x ") and rendered.endswith("</p>"), rendered
    return rendered[len("<p>x ") : -len("</p>")]


@settings(max_examples=400, deadline=None)
@given(NAMES)
def test_a_code_span_holds_any_name_as_it_is(name: str) -> None:
    got = inline(markdown.markdown("x " + _code(name)))
    assert got == f"<code>{html.escape(name, quote=False)}</code>"


@settings(max_examples=400, deadline=None)
@given(NAMES)
def test_running_text_is_shown_as_it_is(text: str) -> None:
    got = inline(markdown.markdown("x " + _text(text)))
    assert "<" not in got, got  # no element: no emphasis, link, image or tag of the text's own
    assert html.unescape(got) == text


class _Page(HTMLParser):
    """The elements of rendered notes, and the text of each code span and heading."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.codes: list[str] = []
        self.items: list[list[str]] = []
        self.headings: list[str] = []
        self._open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self._open.append(tag)
        if tag == "code":
            self.codes.append("")
            if "li" in self._open:
                self.items[-1].append("")
        elif tag == "li":
            self.items.append([])
        elif tag == "h1":
            self.headings.append("")

    def handle_endtag(self, tag: str) -> None:
        self._open.pop()

    def handle_data(self, data: str) -> None:
        if self._open and self._open[-1] == "code":
            self.codes[-1] += data
            if "li" in self._open:
                self.items[-1][-1] += data
        if "h1" in self._open:
            self.headings[-1] += data


def page(notes: str) -> _Page:
    parsed = _Page()
    parsed.feed(markdown.markdown(notes))
    return parsed


DECK = 'Deck `one` *two* <b>three</b> [four](https://example.com) _five_ ~~six~~ "seven" &copy;'
OLD = "Tick `a` *b*"
NEW = "1 Tick `a`` _c_"
QUESTION = "What does `<img src=x>` or **[a link](https://example.com)** show?"


def project(root: Path, subdeck: str, deck_was: str = "", version: int = 1) -> None:
    (root / "decks").mkdir(parents=True, exist_ok=True)
    (root / "cards").mkdir(exist_ok=True)
    (root / "decks" / "odd.yaml").write_text(
        f"name: {DECK!r}\nidentity: odd-names\ncards: [cards/*.yaml]\noutput: 'odd `x`.apkg'\n"
        + (f"note_type_version: {version}\n" if version > 1 else ""),
        encoding="utf-8",
    )
    was = f"deck_was: {deck_was!r}\n" if deck_was else ""
    (root / "cards" / "a.yaml").write_text(
        f"deck: {subdeck!r}\n{was}cards:\n"
        f"  - id: odd-a\n    front: {QUESTION!r}\n    back: 'An image, a link'\n"
        "  - id: odd-b\n    front: 'Plain?'\n    back: 'Yes'\n",
        encoding="utf-8",
    )


def release(root: Path) -> str:
    result = run("release", "--project", root)
    assert result.exit_code == 0, result.output
    return release_notes(root)


def test_release_notes_with_odd_names_show_them_and_their_searches_work(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    project(root, OLD)
    first = page(release(root))
    assert first.headings[0].startswith(f"{DECK} — release 1 (")
    assert "odd `x`.apkg" in first.codes
    assert added(first_notes := release_notes(root)) == "odd-a — What does <img src=x> or a link show?"
    col = new_collection(tmp_path / "member" / "collection.anki2")
    import_package(col, root / "dist" / "odd `x`.apkg")
    old_notes = set(col.find_notes(""))
    late = new_collection(tmp_path / "late" / "collection.anki2")  # imports before reading the notes
    import_package(late, root / "dist" / "odd `x`.apkg")

    # Release 2: the subdeck renamed. A member renames theirs before importing, as the notes say.
    project(root, NEW, deck_was=OLD)
    second = page(release(root))
    assert second.tags <= {"h1", "h2", "h3", "p", "ul", "li", "code", "pre", "strong"}, second.tags
    renames = [item for item in second.items if len(item) == 2 and item[0] == f"{DECK}::{OLD}"]
    assert renames == [[f"{DECK}::{OLD}", f"{DECK}::{NEW}"]]
    for old, new in renames:
        col.decks.rename(col.decks.by_name(old), new)
    import_package(col, root / "dist" / "odd `x`.apkg")
    assert set(col.find_notes("")) == old_notes
    assert {col.decks.name(col.get_card(cid).did) for cid in col.find_cards("")} == {f"{DECK}::{NEW}"}
    # A member who imported first moves the old subdeck's cards by the search given.
    (imported_first,) = [item for item in second.items if len(item) == 2 and item[0] == f"{DECK}::{NEW}"]
    import_package(late, root / "dist" / "odd `x`.apkg")
    late.set_deck(late.find_cards(imported_first[1]), late.decks.id_for_name(imported_first[0]))
    assert {late.decks.name(late.get_card(cid).did) for cid in late.find_cards("")} == {f"{DECK}::{NEW}"}

    # Release 3: new note types: every note arrives anew; the notes' search finds the old ones.
    project(root, NEW, version=2)
    notes = release(root)
    third = page(notes)
    assert third.tags <= {"h1", "h2", "h3", "p", "ul", "li", "code", "pre", "strong"}, third.tags
    import_package(col, root / "dist" / "odd `x`.apkg")
    assert col.note_count() == 2 * len(old_notes)
    searches = {code.strip() for code in third.codes if code.strip().startswith("note:")}
    assert len(searches) == 1  # the same search twice: above, and for members on release 1
    assert set(col.find_notes(searches.pop())) == old_notes  # the replaced notes, and only those
    assert first_notes != notes


def release_notes(root: Path) -> str:
    return (root / "dist" / "odd `x`.release-notes.md").read_text("utf-8")


def added(notes: str) -> str:
    """The text of the first card's line in the list of cards added, as a reader sees it."""
    item = next(i for i in re.findall(r"<li>(.*?)</li>", markdown.markdown(notes)) if "odd-a" in i)
    assert re.sub(r"</?code>", "", item).count("<") == 0, item  # nothing but the id's code span
    return html.unescape(re.sub(r"</?code>", "", item))
