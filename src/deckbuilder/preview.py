"""`--preview`: one self-contained HTML page showing every card of a package as Anki shows it.

Each card is rendered in Python from the note type's own templates (ankitemplate.py, which
follows Anki's renderer). In the page, each card is a document of its own in a frame sandboxed
without scripts, with the package's note-type CSS untouched and `<body class="card cardN">` like
Anki's, plus `nightMode night_mode` in night mode. Card HTML is untrusted: in its frame none of
its script runs and it cannot navigate, restyle or cover the page. Images are inlined as data:
URIs; the page loads nothing from anywhere and runs only its own script (its
Content-Security-Policy allows nothing else).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import re
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import jinja2
from jinja2.utils import htmlsafe_json_dumps
from markupsafe import Markup

from . import __version__
from .ankitemplate import (
    RenderedCard,
    TemplateError,
    card_fields,
    card_ordinals,
    render,
    type_answer,
)
from .media import sniff
from .model import Diagnostic
from .notetypes import NoteType
from .output import write_atomic
from .package import NoteRecord
from .plan import DeckPlan
from .previewcache import PreviewSides
from .previewmath import to_mathml
from .rendercache import RenderCache

# What genanki gives a field when the note type does not say: the type-in box uses them.
FIELD_FONT = "Liberation Sans"
FIELD_SIZE = 20
_MATH = re.compile(r"\\[(\[]")
_LOOKUP_EVERY = 500
"""Notes whose kept sides are read at a time."""


@dataclass(frozen=True, slots=True)
class PreviewCard:
    """One card of the package, both sides rendered as Anki renders them."""

    note_id: str
    """The card file's id (the note's ID field)."""
    ord: int
    """Template index, or cloze number - 1."""
    label: str
    """What kind of card: "Basic", "Back to front", "Cloze 2"…"""
    deck: str
    """Full Anki deck name."""
    subdeck: str
    """Deck below the package's deck ("A::B"), "" for the package's deck itself."""
    tags: tuple[str, ...]
    note_type: int
    """Index in the plan's note types."""
    question: str
    answer: str
    """Both sides after Anki's reviewer handled `[[type:Field]]` (a disabled box here)."""


def preview_cards(plan: DeckPlan) -> list[PreviewCard]:
    """Every card of the package, in study order: each note's cards by ordinal."""
    return list(_preview_cards(plan))


def _preview_cards(plan: DeckPlan) -> Iterator[PreviewCard]:
    """preview_cards one at a time (the page keeps no card's sides once they are written)."""
    indexes = {nt.id: i for i, nt in enumerate(plan.note_types)}
    for note in plan.content.notes:
        yield from _note_cards(plan, note, indexes[note.note_type.id])


def _note_cards(plan: DeckPlan, note: NoteRecord, note_type: int) -> Iterator[PreviewCard]:
    nt = note.note_type
    fields = dict(zip(nt.kind.fields, note.fields, strict=True))
    ordinals = card_ordinals(
        [t.front for t in nt.templates], fields, cloze=nt.kind.cloze, has_tags=bool(note.tags)
    )
    for ord_ in ordinals:
        question, answer = _render_sides(note, nt, fields, ord_)
        yield _tile(plan, note, note_type, ord_, question, answer)


def _tile(
    plan: DeckPlan, note: NoteRecord, note_type: int, ord_: int, question: str, answer: str
) -> PreviewCard:
    nt = note.note_type
    return PreviewCard(
        note_id=note.fields[-1] if nt.kind.fields[-1] == "ID" else note.guid,
        ord=ord_,
        label=_label(nt, ord_),
        deck=note.deck,
        subdeck=_subdeck(plan.content.deck_name, note.deck),
        tags=note.tags,
        note_type=note_type,
        question=question,
        answer=answer,
    )


def _render_sides(note: NoteRecord, nt: NoteType, fields: dict[str, str], ord_: int) -> tuple[str, str]:
    template = nt.templates[0] if nt.kind.cloze else nt.templates[ord_]
    context = card_fields(
        fields,
        tags=note.tags,
        note_type=nt.name,
        deck=note.deck,
        card_name=template.name,
        card_ord=ord_,
    )
    try:
        rendered = render(template.front, template.back, context, ord_, cloze=nt.kind.cloze)
    except TemplateError as e:
        error = Markup('<div class="template-error">Template error: {}</div>').format(str(e))
        rendered = RenderedCard(str(error), str(error))
    shown = type_answer(rendered, fields, ord_, font=FIELD_FONT, size=FIELD_SIZE)
    return to_mathml(shown.question), to_mathml(shown.answer)  # math as the learner will see it


def _label(nt: NoteType, ord_: int) -> str:
    if nt.kind.cloze:
        return f"Cloze {ord_ + 1}"
    if len(nt.templates) > 1:
        return nt.templates[ord_].name
    return nt.kind.label


def _subdeck(top: str, deck: str) -> str:
    return deck[len(top) + 2 :] if deck.startswith(f"{top}::") else ""


def _data_uri(path: Path) -> str:
    content = path.read_bytes()
    kind = sniff(content)  # the type its bytes are (the build packs only known media)
    mime = kind.mime if kind is not None else "application/octet-stream"
    return f"data:{mime};base64,{base64.b64encode(content).decode('ascii')}"


def shown_html(html: str) -> str:
    """Card or description HTML as the page shows it: every side of every card and the deck's
    description pass through here on their way into the page (one place to hook into)."""
    return html


def content_security_policy(scripts: list[str]) -> str:
    """The page's CSP: nothing loads from anywhere; only the page's own scripts run.

    No 'unsafe-inline' for script: an inline handler or `javascript:` URL anywhere is refused,
    and card frames (which inherit this policy) can load only data: images and fonts.
    """
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'" for s in scripts
    )
    return (
        "default-src 'none'; img-src data:; font-src data:; media-src data:; style-src 'unsafe-inline'; "
        f"script-src {hashes}; base-uri 'none'; form-action 'none'; object-src 'none'"
    )


def _subdeck_options(cards: list[PreviewCard]) -> list[tuple[str, str, int]]:
    """(value, label, card count) for each subdeck and each of its parents."""
    counts: Counter[str] = Counter()
    for card in cards:
        parts = card.subdeck.split("::") if card.subdeck else []
        for depth in range(1, len(parts) + 1):
            counts["::".join(parts[:depth])] += 1
    return [(name, name.replace("::", " \u203a "), counts[name]) for name in sorted(counts)]


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("deckbuilder", "page"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


CacheOpener = Callable[[], RenderCache]
"""Opens the render cache (a build closes it before it writes its files)."""


def write_page(
    plan: DeckPlan, diagnostics: list[Diagnostic], out: BinaryIO, cache: CacheOpener | None = None
) -> None:
    """The preview page of one package, written into `out` as it is made.

    The cards' sides go straight into a scratch file as the page's JSON (each card rendered,
    written and let go), then the page streams out around it: no copy of the deck's HTML, and
    no page, is ever held whole in memory. With a `cache`, notes an earlier preview rendered
    are not rendered again (previewcache.py).
    """
    env = _environment()
    assert env.loader is not None
    raw = {name: env.loader.get_source(env, name)[0] for name in ("preview.css", "preview.js")}
    with tempfile.TemporaryFile() as spool:  # no name: nothing is left behind, even if killed
        cards, has_math = _write_data(plan, env, spool, PreviewSides(cache() if cache else None))
        spool.seek(0)
        tag_counts = Counter(tag for c in cards for tag in c.tags)
        page_js = f"\n{raw['preview.js']}\n"  # exactly the text between <script> and </script>
        page = env.get_template("preview.html").generate(
            csp=Markup(content_security_policy([page_js])),
            deck_name=plan.content.deck_name,
            has_description=bool(plan.content.description.strip()),
            note_count=len(plan.content.notes),
            cards=cards,
            media_count=len(plan.content.media),
            release=plan.label,
            version=__version__,
            errors=[d for d in diagnostics if not d.warning],
            warnings=[d for d in diagnostics if d.warning],
            subdecks=_subdeck_options(cards),
            top_level=sum(1 for c in cards if not c.subdeck),
            tags=sorted(tag_counts.items()),
            data_json=(Markup(chunk.decode("ascii")) for chunk in iter(lambda: spool.read(1 << 16), b"")),
            has_math=has_math,
            page_css=Markup(raw["preview.css"]),
            page_js=Markup(page_js),
        )
        pieces: list[str] = []
        size = 0
        for piece in page:  # many small ones: written together, about 64 KiB at a time
            pieces.append(piece)
            size += len(piece)
            if size > 1 << 16:
                out.write("".join(pieces).encode("utf-8"))
                pieces, size = [], 0
        out.write("".join(pieces).encode("utf-8"))


def _write_data(
    plan: DeckPlan, env: jinja2.Environment, spool: BinaryIO, kept: PreviewSides
) -> tuple[list[PreviewCard], bool]:
    """Write what the page's script reads, as Jinja's `tojson` writes it (keys sorted, HTML-safe
    and ASCII), a card at a time: {"cards": [{"a", "nt", "ord", "q"}…], "description",
    "media": {name: data URI}, "noteTypes": [{"css", "name"}…]}.

    Returns the cards without their sides (what the tiles show), and whether any side
    still has TeX in it. Notes whose sides an earlier preview made are taken from `kept`.
    """

    def dumps(value: object) -> str:
        text = htmlsafe_json_dumps(
            value, dumps=env.policies["json.dumps_function"], **env.policies["json.dumps_kwargs"]
        )
        return str(text)

    cards: list[PreviewCard] = []
    has_math = False
    indexes = {nt.id: i for i, nt in enumerate(plan.note_types)}
    notes = plan.content.notes
    spool.write(b'{"cards": [')
    for start in range(0, len(notes), _LOOKUP_EVERY):
        batch = notes[start : start + _LOOKUP_EVERY]
        found = kept.lookup(batch)
        for index, note in enumerate(batch):
            note_type = indexes[note.note_type.id]
            sides = found.get(index)
            if sides is None:
                sides = [
                    (c.ord, _has_tex(c), dumps(shown_html(c.question)), dumps(shown_html(c.answer)))
                    for c in _note_cards(plan, note, note_type)
                ]
                if sides:
                    kept.keep(note, sides)
            for ord_, math, question, answer in sides:
                has_math = has_math or math
                # {"a", "nt", "ord", "q"}: the dict `dumps` would write, keys sorted
                card = f'{{"a": {answer}, "nt": {note_type}, "ord": {ord_}, "q": {question}}}'
                spool.write(((", " if cards else "") + card).encode("ascii"))
                cards.append(_tile(plan, note, note_type, ord_, "", ""))
    kept.save()
    spool.write(
        b'], "description": ' + dumps(shown_html(plan.content.description)).encode("ascii") + b', "media": {'
    )
    for index, (name, path) in enumerate(sorted(plan.content.media.items())):
        spool.write(((", " if index else "") + dumps(name) + ": " + dumps(_data_uri(path))).encode("ascii"))
    note_types = [{"name": nt.name, "css": nt.css} for nt in plan.note_types]
    spool.write(b'}, "noteTypes": ' + dumps(note_types).encode("ascii") + b"}")
    return cards, has_math


def _has_tex(card: PreviewCard) -> bool:
    return bool(_MATH.search(card.answer) or _MATH.search(card.question))


def page_bytes(plan: DeckPlan, diagnostics: list[Diagnostic]) -> bytes:
    """The page of `plan` (see write_page), whole."""
    buffer = io.BytesIO()
    write_page(plan, _shown(plan, diagnostics), buffer)
    return buffer.getvalue()


def page_writer(
    plan: DeckPlan, diagnostics: list[Diagnostic], cache: CacheOpener | None = None
) -> Callable[[BinaryIO], None]:
    """What writes the page of `plan` into a file, showing all errors and the warnings about
    this deck's own files. (A build of several decks passes the warnings of every deck.)"""
    return functools.partial(write_page, plan, _shown(plan, diagnostics), cache=cache)


def _shown(plan: DeckPlan, diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    own = {rc.card.location.path for rc in plan.cards} | {plan.spec.location.path}
    return [d for d in dict.fromkeys(diagnostics) if not d.warning or d.location.path in own]


def preview_path(plan: DeckPlan, out: Path) -> Path:
    return out / f"{plan.spec.stem}.html"


def write_preview(
    plan: DeckPlan, diagnostics: list[Diagnostic], out: Path, cache: CacheOpener | None = None
) -> Path:
    """Write `out/<deck>.html` atomically and return its path."""
    target = preview_path(plan, out)
    write_atomic(target, page_writer(plan, diagnostics, cache))
    return target
