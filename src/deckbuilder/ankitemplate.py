"""Anki's card template language, rendered in Python the way Anki's own backend renders it.

The preview shows every card with the note type's templates, so that what an author sees is
what Anki shows. This module follows Anki's Rust renderer (rslib `template.rs`, `cloze.rs`,
`template_filters.rs`) and returns what `Card.render_output()` returns for a card: field
substitution, `{{#F}}`/`{{^F}}` sections, `{{FrontSide}}`, the standard filters (`cloze`,
`cloze-only`, `text`, `type`, `hint`, `furigana`, `kana`, `kanji`, `tts`) and the special
fields (Tags, Type, Deck, Subdeck, Card, CardFlag, CardID). `{{type:F}}` becomes
`[[type:F]]` there, as in Anki; `type_answer()` then does what Anki's reviewer does with it.

Not covered: sounds and TTS playback, LaTeX images, image occlusion and add-on filters.
"""

from __future__ import annotations

import functools
import hashlib
import html
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

SPECIAL_FIELDS = ("FrontSide", "Card", "CardFlag", "Deck", "Subdeck", "Tags", "Type", "CardID")
TYPE_ANSWER = re.compile(r"\[\[type:(.+?)\]\]")

_ALT_SYNTAX = "{{=<% %>=}}"
_COMMENT_START, _COMMENT_END = "<!--", "-->"
_EMPTY_FIELD = re.compile(r"(?:[\t\n\x0b\f\r ]|</?(?:br|div) ?/?>)*", re.IGNORECASE)
_EMPTY_STARTS = frozenset("\t\n\x0b\f\r <")
"""The characters an empty field's text can start with (_EMPTY_FIELD's first ones)."""
_HTML = re.compile(
    r"(<!--.*?-->)|(<style.*?>.*?</style>)|(<script.*?>.*?</script>)|(<.*?>)",
    re.IGNORECASE | re.DOTALL,
)
_MATHJAX = re.compile(r"(\\[(\[])(.*?)(\\[\])])", re.IGNORECASE | re.DOTALL)
_CLOZE_OPEN = re.compile(r"\{\{c([0-9,]*)::")
_CLOZE_TOKEN = re.compile(r"\{\{c[0-9,]*::|\}\}")
_FURIGANA = re.compile(r" ?([^ >]+?)\[(.+?)\]")
_LINEBREAKS = re.compile(r"(\n|<br\s?/?>|</?div>)+", re.IGNORECASE | re.DOTALL)
_SOUND = re.compile(r"\[sound:.+?\]|\[anki:tts[^\]]*\].*?\[/anki:tts\]", re.DOTALL)
_MINIMAL_ENTITIES = {'"': "&quot;", "&": "&amp;", "'": "&#x27;", "<": "&lt;", ">": "&gt;"}
_CLOZE_DEPTH = 10
_MAX_CLOZE_CARD = 499
# Anki's English messages for cards it would not generate.
_MORE_INFO = "<br><a href='https://docs.ankiweb.net/templates/errors.html#{}'>More information</a></div>"
_BLANK_FRONT = "<div>The front of this card is blank." + _MORE_INFO.format("front-of-card-is-blank")
_MISSING_CLOZE = (
    "<div>No cloze \u2068{n}\u2069 found on card.\nPlease either add a cloze deletion, or use the "
    "Empty Cards tool." + _MORE_INFO.replace("{}", "no-cloze-filter-on-cloze-note-type")
)
_ALNUM = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


class TemplateError(ValueError):
    """A template Anki would refuse to render."""


@dataclass(frozen=True)
class RenderedCard:
    """Both sides of a card as `Card.render_output()` gives them (without the CSS)."""

    question: str
    answer: str


# Lexing and parsing templates
# ----------------------------------------------------------------------------------------


class _Token(NamedTuple):
    kind: str
    """text, comment, replacement, open, open-negated or close."""
    text: str


def _tokens(template: str) -> Iterator[_Token]:
    start, end = "{{", "}}"
    stripped = template.lstrip()
    if stripped.startswith(_ALT_SYNTAX):
        while stripped.startswith(_ALT_SYNTAX):
            stripped = stripped[len(_ALT_SYNTAX) :]
        template, start, end = stripped, "<%", "%>"
    candidates = re.compile(f"{re.escape(start)}|{re.escape(_COMMENT_START)}")
    pos = 0
    while pos < len(template):
        found = None
        for match in candidates.finditer(template, pos):
            i = match.start()
            opener, closer = (start, end) if match.group(0) == start else (_COMMENT_START, _COMMENT_END)
            close = template.find(closer, i + len(opener))
            if close >= 0:
                found = (i, opener, close, closer)
                break
        if found is None:
            yield _Token("text", template[pos:])
            return
        i, opener, close, closer = found
        if i > pos:
            yield _Token("text", template[pos:i])
        inner = template[i + len(opener) : close]
        yield _Token("comment", inner) if opener == _COMMENT_START else _classify(inner)
        pos = close + len(closer)


def _classify(handle: str) -> _Token:
    start = handle.lstrip("{").strip()
    if len(start.encode()) < 2:
        return _Token("replacement", start)
    kinds = {"#": "open", "/": "close", "^": "open-negated"}
    if start[0] in kinds:
        return _Token(kinds[start[0]], start[1:].lstrip())
    return _Token("replacement", start)


@dataclass(frozen=True)
class _Node:
    kind: str
    """text, comment, replacement, conditional or negated."""
    text: str = ""
    """The text, or the field name."""
    filters: tuple[str, ...] = ()
    """In the order they apply (the rightmost first, as written)."""
    children: tuple[_Node, ...] = ()


def _parse(tokens: Iterator[_Token], open_tag: str | None = None) -> tuple[_Node, ...]:
    nodes: list[_Node] = []
    for token in tokens:
        if token.kind in ("text", "comment"):
            nodes.append(_Node(token.kind, token.text))
        elif token.kind == "replacement":
            *filters, key = token.text.split(":")
            nodes.append(_Node("replacement", key, tuple(reversed(filters))))
        elif token.kind in ("open", "open-negated"):
            kind = "conditional" if token.kind == "open" else "negated"
            nodes.append(_Node(kind, token.text, children=_parse(tokens, token.text)))
        elif open_tag == token.text:
            return tuple(nodes)
        elif open_tag is not None:
            raise TemplateError(f"Found '{{{{/{token.text}}}}}', but expected '{{{{/{open_tag}}}}}'")
        else:
            raise TemplateError(
                f"Found '{{{{/{token.text}}}}}', but missing '{{{{#{token.text}}}}}' "
                f"or '{{{{^{token.text}}}}}'"
            )
    if open_tag is not None:
        raise TemplateError(f"Missing '{{{{/{open_tag}}}}}'")
    return tuple(nodes)


@functools.lru_cache(maxsize=256)  # a note type's few templates, parsed again for every note
def parse(template: str) -> tuple[_Node, ...]:
    """Parse a template; raise TemplateError where Anki reports a template error."""
    return _parse(_tokens(template))


# Rendering
# ----------------------------------------------------------------------------------------


def field_is_empty(text: str) -> bool:
    """Anki's test: only whitespace and empty <br>/<div> tags."""
    if text and text[0] not in _EMPTY_STARTS:  # (most fields: a build asks six times a note)
        return False
    return _EMPTY_FIELD.fullmatch(text) is not None


def _is_cloze_conditional(key: str) -> bool:
    return key.startswith("c") and key[1:].isascii() and key[1:].isdigit()


@dataclass(frozen=True)
class _Context:
    fields: Mapping[str, str]
    nonempty: frozenset[str]
    card_ord: int
    frontside: str | None
    """None while rendering the question."""


def _render(nodes: Sequence[_Node], ctx: _Context, out: list[str]) -> None:
    for node in nodes:
        if node.kind == "text":
            out.append(node.text)
        elif node.kind == "comment":
            out.append(f"{_COMMENT_START}{node.text}{_COMMENT_END}")
        elif node.kind == "replacement":
            out.append(_replacement(node, ctx))
        else:
            shown = _evaluate(node.text, ctx, negated=node.kind == "negated")
            _render(node.children, ctx, out if shown else [])


def _evaluate(key: str, ctx: _Context, *, negated: bool) -> bool:
    if key in ctx.nonempty:
        return not negated
    if key in ctx.fields or _is_cloze_conditional(key):
        return negated
    prefix = "^" if negated else "#"
    raise TemplateError(f"Found '{{{{{prefix}{key}}}}}', but there is no field called '{key}'")


def _replacement(node: _Node, ctx: _Context) -> str:
    key, filters = node.text, node.filters
    if key == "FrontSide":
        return ctx.frontside or ""
    if not key and filters:
        return ""
    if key not in ctx.fields:
        written = "".join(f"{f}:" for f in reversed(filters))
        raise TemplateError(f"Found '{{{{{written}{key}}}}}', but there is no field called '{key}'")
    text = ctx.fields[key]
    if filters == ("cloze", "type"):
        filters = ("type-cloze",)
    elif filters == ("nc", "type"):
        filters = ("type-nc",)
    elif filters and filters[-1] == "type":
        filters = ("type",)
    for name in filters:
        result = _filter(name, text, key, ctx)
        if result is None:
            # Anki leaves an unknown filter, and every filter after it, to add-ons.
            break
        text = result
    return text


def _filter(name: str, text: str, field: str, ctx: _Context) -> str | None:
    if name == "cloze":
        return _strip_html_inside_mathjax(
            reveal_cloze(text, ctx.card_ord + 1, question=ctx.frontside is None)
        )
    if name == "cloze-only":
        return cloze_only(text, ctx.card_ord + 1, question=ctx.frontside is None)
    if name == "text":
        return strip_html(text)
    if name in ("type", "type-cloze", "type-nc"):
        middle = {"type": "", "type-cloze": "cloze:", "type-nc": "nc:"}[name]
        return f"[[type:{middle}{field}]]"
    if name == "hint":
        return _hint(text, field)
    if name in ("furigana", "kana", "kanji"):
        return _ruby(name, text)
    if name == "":
        return text
    if name.startswith("tts "):
        return f"[anki:tts lang={name[4:]}]{text}[/anki:tts]"
    return None


def _hint(text: str, field: str) -> str:
    if not text.strip():
        return text
    # Anki hashes with BLAKE3, which Python lacks: only this id differs from Anki's.
    uid = hashlib.sha256(f"{text}{field}".encode()).hexdigest()[:16]
    return (
        f'\n<a class=hint href="#"\nonclick="this.style.display=\'none\';\n'
        f"document.getElementById('hint{uid}').style.display='block';\n"
        f'return false;" draggable=false>\n{field}</a>\n'
        f'<div id="hint{uid}" class=hint style="display: none">{text}</div>\n'
    )


def _ruby(name: str, text: str) -> str:
    def replace(match: re.Match[str]) -> str:
        base, reading = match.group(1), match.group(2)
        if reading.startswith("sound:"):
            return match.group(0)
        if name == "kana":
            return reading
        if name == "kanji":
            return base
        return f"<ruby><rb>{base}</rb><rt>{reading}</rt></ruby>"

    return _FURIGANA.sub(replace, text.replace("&nbsp;", " "))


def strip_html(text: str) -> str:
    """Anki's `text:` filter: tags removed, entities decoded."""
    stripped = _HTML.sub("", text)
    if "&" not in stripped:
        return stripped
    return html.unescape(stripped).replace("\xa0", " ")


def _strip_html_inside_mathjax(text: str) -> str:
    return _MATHJAX.sub(lambda m: f"{m.group(1)}{_HTML.sub('', m.group(2))}{m.group(3)}", text)


def _nonempty(fields: Mapping[str, str]) -> frozenset[str]:
    return frozenset(name for name, value in fields.items() if not field_is_empty(value))


def card_fields(
    note_fields: Mapping[str, str],
    *,
    tags: Iterable[str],
    note_type: str,
    deck: str,
    card_name: str,
    card_ord: int,
    flag: int = 0,
    card_id: int = 0,
) -> dict[str, str]:
    """A note's fields plus the special fields Anki adds for one of its cards."""
    fields = dict(note_fields)
    specials = {
        "Tags": " ".join(tags),
        "Type": note_type,
        "Subdeck": deck.rsplit("::", 1)[-1],
        "Deck": deck,
        "CardFlag": f"flag{flag}",
        "Card": card_name,
        "CardID": str(card_id),
        f"c{card_ord + 1}": "1",
    }
    for name, value in specials.items():
        fields.setdefault(name, value)
    return fields


def render(
    question_format: str,
    answer_format: str,
    fields: Mapping[str, str],
    card_ord: int,
    *,
    cloze: bool,
) -> RenderedCard:
    """Render one card as Anki does; `fields` come from `card_fields()`.

    Raises TemplateError for a template Anki cannot render.
    """
    nonempty = _nonempty(fields)
    ctx = _Context(fields, nonempty, card_ord, None)
    question_nodes = parse(question_format)
    out: list[str] = []
    _render(question_nodes, ctx, out)
    question = "".join(out)
    if cloze and card_ord + 1 not in cloze_numbers(fields.values()):
        message = _MISSING_CLOZE.format(n=card_ord + 1)
        return RenderedCard(question + message, message)
    if not cloze and _template_is_empty(question_nodes, nonempty, check_negated=True):
        return RenderedCard(question + _BLANK_FRONT, _BLANK_FRONT)
    out = []
    _render(parse(answer_format), _Context(fields, nonempty, card_ord, question), out)
    return RenderedCard(question, "".join(out))


def _template_is_empty(nodes: Sequence[_Node], nonempty: frozenset[str], *, check_negated: bool) -> bool:
    for node in nodes:
        if node.kind == "replacement":
            if node.text in nonempty:
                return False
        elif node.kind == "conditional":
            if node.text in nonempty and not _template_is_empty(
                node.children, nonempty, check_negated=check_negated
            ):
                return False
        elif node.kind == "negated":
            if check_negated and node.text in nonempty:
                continue
            if not _template_is_empty(node.children, nonempty, check_negated=check_negated):
                return False
    return True


def card_ordinals(
    question_formats: Sequence[str],
    note_fields: Mapping[str, str],
    *,
    cloze: bool,
    has_tags: bool,
) -> list[int]:
    """The cards (template or cloze ordinals, from 0) Anki generates for a note."""
    if cloze:
        found = {min(n - 1, _MAX_CLOZE_CARD) for n in cloze_numbers(note_fields.values())}
        return sorted(found) or [0]
    filled = [name for name, value in note_fields.items() if not field_is_empty(value)]
    nonempty = _special_nonempty(tuple(note_fields), has_tags).union(filled)
    return list(_template_ordinals(tuple(question_formats), nonempty))


@functools.lru_cache(maxsize=64)
def _special_nonempty(names: tuple[str, ...], has_tags: bool) -> frozenset[str]:
    """The special fields a card's question counts as non-empty (a field of the note's own aside)."""
    return frozenset(
        name
        for name in SPECIAL_FIELDS
        if name not in names and name != "FrontSide" and (name != "Tags" or has_tags)
    )


@functools.lru_cache(maxsize=1024)  # notes of a type differ in which fields are empty, rarely more
def _template_ordinals(question_formats: tuple[str, ...], nonempty: frozenset[str]) -> tuple[int, ...]:
    ords = []
    for ord_, question_format in enumerate(question_formats):
        try:
            nodes = parse(question_format)
        except TemplateError:
            continue
        if not _template_is_empty(nodes, nonempty, check_negated=True):
            ords.append(ord_)
    return tuple(ords) or (0,)


# Clozes
# ----------------------------------------------------------------------------------------


@dataclass
class _Cloze:
    ordinals: tuple[int, ...]
    nodes: list[str | _Cloze]
    hint: str | None = None

    def clozed_text(self) -> str:
        return "".join(n if isinstance(n, str) else n.clozed_text() for n in self.nodes)


def _cloze_tokens(text: str) -> Iterator[tuple[int, ...] | str | None]:
    """Ordinals for an opening `{{cN::`, None for `}}`, else text."""
    pos = 0
    while pos < len(text):
        match = _CLOZE_TOKEN.search(text, pos)
        while match is not None and match.group(0) != "}}" and not _ordinals(match.group(0)):
            match = _CLOZE_TOKEN.search(text, match.start() + 1)
        if match is None:
            yield text[pos:]
            return
        if match.start() > pos:
            yield text[pos : match.start()]
        yield None if match.group(0) == "}}" else _ordinals(match.group(0))
        pos = match.end()


def _ordinals(opening: str) -> tuple[int, ...]:
    match = _CLOZE_OPEN.fullmatch(opening)
    assert match is not None
    numbers = {int(s) for s in match.group(1).split(",") if s and int(s) < 1 << 16}
    return tuple(sorted(numbers))


def _parse_clozes(text: str) -> list[str | _Cloze]:
    open_clozes: list[_Cloze] = []
    output: list[str | _Cloze] = []
    for token in _cloze_tokens(text):
        if isinstance(token, tuple):
            if len(open_clozes) < _CLOZE_DEPTH:
                open_clozes.append(_Cloze(token, []))
        elif isinstance(token, str):
            if open_clozes:
                cloze = open_clozes[-1]
                if not token.startswith("image-occlusion:") and "::" in token:
                    token, cloze.hint = token.split("::", 1)
                cloze.nodes.append(token)
            else:
                output.append(token)
        elif open_clozes:
            closed = open_clozes.pop()
            (open_clozes[-1].nodes if open_clozes else output).append(closed)
        else:
            output.append("}}")
    # Clozes never closed are dropped, as Anki drops them.
    return output


def _encode_attribute(text: str) -> str:
    out = []
    for ch in text:
        if ch in _MINIMAL_ENTITIES:
            out.append(_MINIMAL_ENTITIES[ch])
        elif ord(ch) < 256 and ch not in _ALNUM:
            out.append(f"&#x{ord(ch):02X};")
        else:
            out.append(ch)
    return "".join(out)


def encode_minimal(text: str) -> str:
    return "".join(_MINIMAL_ENTITIES.get(ch, ch) for ch in text)


def _reveal(cloze: _Cloze, ordinal: int, question: bool, found: list[bool]) -> str:
    active = ordinal in cloze.ordinals
    found[0] |= active
    ords = ",".join(map(str, cloze.ordinals))

    def inner() -> str:
        return "".join(n if isinstance(n, str) else _reveal(n, ordinal, question, found) for n in cloze.nodes)

    if question and active:
        content = inner()
        hint = cloze.hint if cloze.hint is not None else "..."
        return (
            f'<span class="cloze" data-cloze="{_encode_attribute(content)}" '
            f'data-ordinal="{ords}">[{hint}]</span>'
        )
    if active:
        return f'<span class="cloze" data-ordinal="{ords}">{inner()}</span>'
    return f'<span class="cloze-inactive" data-ordinal="{ords}">{inner()}</span>'


def reveal_cloze(text: str, ordinal: int, *, question: bool) -> str:
    """The `cloze:` filter for cloze number `ordinal` (from 1); "" if the text lacks it."""
    found = [False]
    out = "".join(
        n if isinstance(n, str) else _reveal(n, ordinal, question, found) for n in _parse_clozes(text)
    )
    return out if found[0] else ""


def _active_texts(nodes: Iterable[str | _Cloze], ordinal: int, question: bool) -> Iterator[str]:
    for node in nodes:
        if isinstance(node, _Cloze):
            if ordinal in node.ordinals:
                hint = node.hint if node.hint is not None else "..."
                yield hint if question else node.clozed_text()
            yield from _active_texts(node.nodes, ordinal, question)


def cloze_only(text: str, ordinal: int, *, question: bool) -> str:
    """The `cloze-only:` filter."""
    return ", ".join(_active_texts(_parse_clozes(text), ordinal, question))


def extract_cloze_for_typing(text: str, ordinal: int) -> str:
    texts = list(_active_texts(_parse_clozes(text), ordinal, question=False))
    if texts and min(texts) == max(texts):
        return texts[-1]
    return ", ".join(texts)


def _numbers(nodes: Iterable[str | _Cloze]) -> Iterator[int]:
    for node in nodes:
        if isinstance(node, _Cloze):
            yield from (n for n in node.ordinals if n != 0)
            yield from _numbers(node.nodes)


def cloze_numbers(texts: Iterable[str]) -> set[int]:
    """Cloze numbers (from 1) used in any of the texts."""
    # Most fields hold no deletion at all: no "{{c" means no cloze token to find.
    return {n for text in texts if "{{c" in text for n in _numbers_in(text)}


@functools.lru_cache(maxsize=1024)  # a note's text is asked about several times in a row
def _numbers_in(text: str) -> frozenset[int]:
    return frozenset(_numbers(_parse_clozes(text)))


# What Anki's reviewer does with [[type:Field]]
# ----------------------------------------------------------------------------------------


def type_answer(
    card: RenderedCard,
    note_fields: Mapping[str, str],
    card_ord: int,
    *,
    font: str = "Arial",
    size: int = 20,
) -> RenderedCard:
    """Both sides with `[[type:Field]]` replaced as Anki's reviewer does when nothing is typed.

    The question gets the answer box, disabled (nothing can be typed in a preview); the answer
    gets Anki's comparison of an empty typed answer, which shows the expected answer.
    `note_fields` are the note's own fields, without the special ones.
    """
    match = TYPE_ANSWER.search(card.question)
    if match is None:
        return RenderedCard(card.question, TYPE_ANSWER.sub("", card.answer))
    name = match.group(1)
    cloze = name.startswith("cloze:")
    if cloze:
        name = name.split(":")[1]
    if name.startswith("nc:"):
        name = name.split(":")[1]
    expected = note_fields.get(name)
    if expected is not None and cloze:
        expected = extract_cloze_for_typing(expected, card_ord + 1) or None
    if not expected:
        answer = TYPE_ANSWER.sub("", card.answer)
        if expected is not None:
            return RenderedCard(TYPE_ANSWER.sub("", card.question), answer)
        warning = "Please run Tools>Empty Cards" if cloze else f"Type answer: unknown field {name}"
        return RenderedCard(TYPE_ANSWER.sub(lambda _: warning, card.question), answer)
    box = (
        "\n<center>\n<input type=text id=typeans disabled\n"
        f"   style=\"font-family: '{font}'; font-size: {size}px;\">\n</center>\n"
    )
    question = TYPE_ANSWER.sub(lambda _: box, card.question)
    without_hr = card.answer.replace("<hr id=answer>", "")
    had_hr = len(without_hr) != len(card.answer)
    if had_hr and not TYPE_ANSWER.search(without_hr):
        return RenderedCard(question, card.answer)
    shown = _LINEBREAKS.sub(" ", _SOUND.sub("", expected))
    compared = f"<code id=typeans>{encode_minimal(strip_html(shown).strip())}</code>"
    block = f"\n<div style=\"font-family: '{font}'; font-size: {size}px\">{compared}</div>"
    if had_hr:
        block = f"<hr id=answer>{block}"
    return RenderedCard(question, TYPE_ANSWER.sub(lambda _: block, without_hr))
