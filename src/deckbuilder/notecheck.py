"""What Anki would make of each rendered note, checked before anything is written."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from html.parser import HTMLParser

from . import ankitemplate
from .activecontent import only_plain_tags
from .model import Diagnostic, Location
from .package import NoteRecord
from .render import RenderedCard

_DELETION = re.compile(r"\{\{c[0-9,]+::((?:(?!\{\{c[0-9,]+::|\}\}).)*)\}\}", re.DOTALL)
_SOURCE_DELETION = re.compile(r"\{\{c(\d+)::(.*?)\}\}", re.DOTALL)  # ends where Anki ends it
_MULTI_OR_EMPTY = re.compile(r"\{\{c\d*,[0-9,]*::|\{\{c\d+::\s*(?:::[^}]*)?\}\}")
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9]*)\b[^>]*?(/?)>")
_VOID = {"br", "hr", "img", "input", "wbr", "col", "area", "source", "meta", "link"}
_CLOZE_SYNTAX = re.compile(r"\{\{c\d+::")
_CODE = re.compile(r"<pre\b.*?</pre>|<code\b.*?</code>", re.DOTALL | re.IGNORECASE)
_VOID_ELEMENTS = _VOID | {"base", "embed", "param", "track", "keygen"}
# Elements whose end tag HTML lets a writer leave out: never reported as unclosed.
_OPTIONAL_END = {"p", "li", "dt", "dd", "tr", "td", "th", "thead", "tbody", "tfoot", "option", "colgroup"}


def anki_cards(note: NoteRecord) -> list[int]:
    """The cards Anki makes of a note (ankitemplate.card_ordinals)."""
    nt = note.note_type
    return ankitemplate.card_ordinals(
        [t.front for t in nt.templates],
        dict(zip(nt.kind.fields, note.fields, strict=True)),
        cloze=nt.kind.cloze,
        has_tags=bool(note.tags),
    )


class AnkiCards:
    """anki_cards of the notes of one package, worked out once for each note type and pattern of
    empty fields: all Anki reads of a note that is not a cloze note (and whether it has tags).
    Keyed by the note types themselves (their ids in memory: the notes hold them while it is used)."""

    def __init__(self) -> None:
        self._known: dict[tuple[int, tuple[bool, ...], bool], list[int]] = {}

    def __call__(self, note: NoteRecord) -> list[int]:
        nt = note.note_type
        if nt.kind.cloze:  # (its cards are its cloze numbers)
            return anki_cards(note)
        key = (id(nt), tuple(map(ankitemplate.field_is_empty, note.fields)), bool(note.tags))
        ords = self._known.get(key)
        if ords is None:
            ords = self._known[key] = anki_cards(note)
        return ords


class NoteChecker:
    """check_note's problems of each note of one package, as a list. A note that is not a cloze
    note passes exactly when one of the same card type and note type, with the same fields
    empty, tags or none, and the same cards from genanki passed: all check_note reads of it but
    the places it would name. Such a note is checked once for all of them."""

    def __init__(self) -> None:
        self._anki_cards = AnkiCards()
        self._passing: set[tuple[str, int, tuple[bool, ...], bool, tuple[int, ...]]] = set()

    def __call__(self, rc: RenderedCard, note: NoteRecord, genanki_ords: list[int]) -> list[Diagnostic]:
        nt = note.note_type
        if nt.kind.cloze:
            return list(check_note(rc, note, genanki_ords, self._anki_cards))
        empty = tuple(map(ankitemplate.field_is_empty, note.fields))
        key = (rc.card.type, id(nt), empty, bool(note.tags), tuple(genanki_ords))
        if key in self._passing:
            return []
        found = list(check_note(rc, note, genanki_ords, self._anki_cards))
        if not found:
            self._passing.add(key)
        return found


def check_note(
    rc: RenderedCard,
    note: NoteRecord,
    genanki_ords: list[int],
    anki_cards: Callable[[NoteRecord], list[int]] = anki_cards,
) -> Iterator[Diagnostic]:
    """`anki_cards`: the function above, or an AnkiCards of the package."""
    card, fields = rc.card, rc.fields

    def field_at(name: str) -> Location:
        return Location(card.location.path, card.field_lines.get(name, card.location.line))

    if card.type == "cloze":
        for number, content in _SOURCE_DELETION.findall(card.text):
            if content.count("{") > content.count("}"):
                yield Diagnostic(
                    field_at("text"),
                    f"card '{card.id}': cloze c{number} ends at a '}}}}' inside its math or braces; "
                    "write '} }' there so the deletion closes where you meant",
                    code="cloze-braces",
                )
                return
        written = ankitemplate.cloze_numbers([card.text])
        rendered = ankitemplate.cloze_numbers([fields["text"]])
        if written != rendered:
            lost = ", ".join(f"c{n}" for n in sorted(written - rendered)) or "a deletion"
            yield Diagnostic(
                field_at("text"),
                f"card '{card.id}': Markdown broke {lost}; keep each {{{{c…::…}}}} out of fenced code "
                "with a language and within one paragraph",
                code="cloze-markdown",
            )
            return
        for match in _DELETION.finditer(fields["text"]):
            if not _balanced(match.group(1)):
                yield Diagnostic(
                    field_at("text"),
                    f"card '{card.id}': Markdown formatting crosses a cloze boundary near "
                    f"'{match.group(0)[:40]}'; escape a literal * or _ as \\* or \\_",
                    code="cloze-formatting",
                )
                return
    else:
        sides = ["front", "back"] if card.type == "reversed" else ["front"]
        for side in sides:
            if ankitemplate.field_is_empty(fields[side]):
                yield Diagnostic(
                    field_at(side),
                    f"card '{card.id}': '{side}' shows nothing once rendered; Anki would say "
                    "the front of the card is blank",
                    code="blank-front",
                )
                return
    anki_ords = anki_cards(note)
    if sorted(genanki_ords) == anki_ords:
        return
    outside = [name for name in ("extra", "source") if ankitemplate.cloze_numbers([fields[name]])]
    if card.type == "cloze" and _MULTI_OR_EMPTY.search(card.text):
        yield Diagnostic(
            field_at("text"),
            f"card '{card.id}': genanki cannot write this cloze (several numbers in one deletion, "
            "like {{c1,2::…}}, or an empty deletion); give each deletion one number and some text",
            code="cloze-genanki",
        )
    elif card.type == "cloze" and outside:
        yield Diagnostic(
            field_at(outside[0]),
            f"card '{card.id}': a {{{{c…::…}}}} in '{outside[0]}' makes cards genanki does not "
            "write; keep deletions in 'text'",
            code="cloze-outside-text",
        )
    else:
        yield Diagnostic(
            Location(card.location.path, card.location.line),
            f"card '{card.id}': genanki would write cards {_ords(genanki_ords)} where Anki makes "
            f"{_ords(anki_ords)}; check the templates' front sides",
            code="card-mismatch",
        )


def _ords(ords: list[int]) -> str:
    return ", ".join(str(o + 1) for o in sorted(ords)) or "none"


def _balanced(fragment: str) -> bool:
    stack: list[str] = []
    for closing, name, self_closing in _TAG.findall(fragment):
        name = name.lower()
        if name in _VOID or self_closing:
            continue
        if not closing:
            stack.append(name)
        elif not stack or stack.pop() != name:
            return False
    return not stack


def cloze_syntax(rc: RenderedCard, outside_code: Callable[[str], bool] | None = None) -> Iterator[Diagnostic]:
    """Cloze deletions on a card that is not a cloze card: Anki shows them as typed.

    `outside_code`: cloze_outside_code, or what it found before (the card cache keeps it)."""
    card = rc.card
    if card.type == "cloze":
        return
    for name, value in rc.fields.items():
        if (outside_code or cloze_outside_code)(value):
            yield Diagnostic(
                Location(card.location.path, card.field_lines.get(name, card.location.line)),
                f"card '{card.id}': a {{{{c…::…}}}} deletion in '{name}' shows as typed on a "
                f"{card.type} card; make it 'type: cloze' with the deletions in 'text', or put "
                "the braces in `code`",
                code="cloze-not-cloze-card",
            )


def unbalanced_html(rc: RenderedCard, unbalanced: Callable[[str], str] | None = None) -> Iterator[Diagnostic]:
    """Warnings for HTML tags a field opens and never closes, or closes without opening.

    `unbalanced`: first_unbalanced, or what it found before (the card cache keeps it)."""
    card = rc.card
    for name, value in rc.fields.items():
        problem = (unbalanced or first_unbalanced)(value)
        if problem:
            at = Location(card.location.path, card.field_lines.get(name, card.location.line))
            yield Diagnostic(
                at, f"card '{card.id}': '{name}' {problem}", warning=True, code="unbalanced-html"
            )


def cloze_outside_code(value: str) -> bool:
    """Whether a field's HTML has cloze markup outside <pre> and <code>."""
    return "{{c" in value and bool(_CLOZE_SYNTAX.search(_CODE.sub("", value)))


def first_unbalanced(value: str) -> str:
    """What is unbalanced in a field's HTML, described for a message; "" when nothing is."""
    if "<" not in value:
        return ""
    fragment = _CODE.sub("", value)
    if only_plain_tags(fragment):  # most fields: their tags are all an HTML parser would find
        # ("/" for an end tag; a <br/> leaves nothing open)
        return _unbalanced([(end, name) for end, name, slash in _TAG.findall(fragment) if end or not slash])
    parser = _TagBalance()
    parser.feed(fragment)
    parser.close()
    return _unbalanced(parser.tags)


def _unbalanced(tags: list[tuple[str, str]]) -> str:
    """What is unbalanced in a fragment's tags, each ("/" for an end tag or "", its name)."""
    stack: list[str] = []
    for end, name in tags:
        if name in _VOID_ELEMENTS:
            continue
        if not end:
            stack.append(name)
            continue
        while stack and stack[-1] != name and stack[-1] in _OPTIONAL_END:
            stack.pop()
        if not stack or stack[-1] != name:
            return f"has </{name}> without its <{name}>; Anki shows the rest of the card oddly"
        stack.pop()
    unclosed = [n for n in stack if n not in _OPTIONAL_END]
    if unclosed:
        return f"leaves <{unclosed[-1]}> open; close it with </{unclosed[-1]}>"
    return ""


class _TagBalance(HTMLParser):
    """The tags of a fragment as an HTML parser reads them (attributes stay attributes)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(("", tag))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        pass  # <br/>, <img/>: nothing stays open

    def handle_endtag(self, tag: str) -> None:
        self.tags.append(("/", tag))
