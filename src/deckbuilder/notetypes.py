"""The note types: field lists (frozen once released) and their Jinja2 templates."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import re
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from . import ankitemplate
from .model import Diagnostic, Location
from .projectfiles import refusal

if TYPE_CHECKING:
    from .templatesandbox import ProjectLoader, SandboxedTemplates

LIGHT_CODE_STYLE = "friendly"
NIGHT_CODE_STYLE = "github-dark"
NIGHT_SELECTORS = (".nightMode", ".night_mode")


@dataclass(frozen=True)
class NoteKind:
    """What a card `type` becomes in Anki."""

    type: str
    """The card file's `type`."""
    label: str
    """Shown in the note type's name."""
    fields: tuple[str, ...]
    """Field names in order. Changing them after a release breaks every member's updates."""
    cards: tuple[str, ...]
    """Template name prefixes, one per card the note makes (none for cloze's numbered cards)."""
    cloze: bool = False


# The card id and source live in fields of their own: the id is searchable ("ID:my-card").
KINDS = {
    "basic": NoteKind("basic", "Basic", ("Front", "Back", "Extra", "Source", "ID"), ("basic",)),
    "reversed": NoteKind(
        "reversed",
        "Basic and reversed",
        ("Front", "Back", "Extra", "Source", "ID"),
        ("reversed", "reversed2"),
    ),
    "type-in": NoteKind(
        "type-in", "Type the answer", ("Front", "Back", "Extra", "Source", "ID"), ("type-in",)
    ),
    "cloze": NoteKind("cloze", "Cloze", ("Text", "Extra", "Source", "ID"), ("cloze",), cloze=True),
}

CARD_NAMES = {
    "basic": "Card 1",
    "reversed": "Front to back",
    "reversed2": "Back to front",
    "type-in": "Type the answer",
    "cloze": "Cloze",
}
TEMPLATE_FILES = (
    "style.css",
    "_answer.html",
    *(f"{prefix}.{side}.html" for prefix in CARD_NAMES for side in ("front", "back")),
)
SPECIAL_FIELDS = {"FrontSide", "Tags", "Type", "Deck", "Subdeck", "Card", "CardFlag", "CardID"}
_REFERENCE = re.compile(r"\{\{([^{}]*)\}\}")
_INCLUDE = re.compile(r"""\[%-?\s*include\s+["']([^"']+)["']""")
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)


@dataclass(frozen=True)
class CardTemplate:
    name: str
    front: str
    back: str


@dataclass(frozen=True)
class NoteType:
    """A note type as rendered for one package."""

    kind: NoteKind
    id: int
    name: str
    templates: tuple[CardTemplate, ...]
    css: str

    @property
    def fingerprint(self) -> str:
        """Changes whenever what Anki stores for the note type changes."""
        parts = [self.name, *self.kind.fields, self.css]
        for t in self.templates:
            parts += [t.name, t.front, t.back]
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]


def stable_id(*parts: str) -> int:
    """A deterministic id in Anki's range: never 1 (Default), below 2**53 for JSON readers."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return (1 << 40) + int.from_bytes(digest[:6], "big") % ((1 << 52) - (1 << 40))


def code_css() -> str:
    from pygments.formatters import HtmlFormatter

    light = HtmlFormatter(style=LIGHT_CODE_STYLE).get_style_defs(".highlight")  # type: ignore[no-untyped-call]
    night = HtmlFormatter(style=NIGHT_CODE_STYLE).get_style_defs(  # type: ignore[no-untyped-call]
        [f"{sel} .highlight" for sel in NIGHT_SELECTORS]
    )
    return f"{light}\n{night}"


class TemplateSet:
    """Note-type templates: the project's templates/ first, then the ones shipped with us."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.override_dir = root / "templates"
        self._reported: set[Diagnostic] = set()
        self._shipped_dir = Path(__file__).parent / "templates"

    @functools.cached_property
    def project_loader(self) -> ProjectLoader:
        from .templatesandbox import ProjectLoader

        return ProjectLoader(self.root, self.override_dir)

    @functools.cached_property
    def env(self) -> SandboxedTemplates:
        """Jinja2, made (and imported) when a template is first rendered: note types from the
        render cache need none (notetypecache.py)."""
        import jinja2

        from .templatesandbox import SandboxedTemplates

        # The project's templates are untrusted code: the sandbox keeps them from Python's insides.
        return SandboxedTemplates(
            loader=jinja2.ChoiceLoader(
                [self.project_loader, jinja2.PackageLoader("deckbuilder", "templates")]
            ),
            # Anki's own templates use {{Field}}: Jinja2 gets other delimiters.
            block_start_string="[%",
            block_end_string="%]",
            variable_start_string="[[",
            variable_end_string="]]",
            comment_start_string="[#",
            comment_end_string="#]",
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
            autoescape=False,
        )

    @functools.cached_property
    def _code_css(self) -> str:
        return code_css()

    def compile_ahead(self) -> None:
        """Compile the shipped templates the project does not override, ahead of rendering them
        (Jinja2 keeps them compiled; a project's own are read anew at each rendering)."""
        import jinja2

        for name in TEMPLATE_FILES:
            with contextlib.suppress(OSError, jinja2.TemplateError):  # (rendering says what failed)
                if self.project_loader.path_of(name) is None:
                    self.env.get_template(name)

    def location(self, name: str, line: int = 1) -> Location:
        if self.project_loader.path_of(name) is not None:
            return Location(f"templates/{name}", line)
        return Location(f"<deckbuilder>/templates/{name}", line)

    def overrides(self) -> list[str]:
        if not self.override_dir.is_dir():
            return []
        # Links that lead nowhere (or out of the project) are listed, to be refused.
        files = [p for p in self.override_dir.iterdir() if p.is_file() or (p.is_symlink() and not p.is_dir())]
        return sorted(p.name for p in files)

    def check_override_names(self, problems: list[Diagnostic]) -> None:
        if self.override_dir.exists() and not self.override_dir.is_dir():
            problems.append(
                Diagnostic(
                    Location("templates", 0), "must be a folder of templates", code="templates-not-folder"
                )
            )
            return
        for name in self.overrides():
            reason = refusal(self.root, self.override_dir / name)
            if reason is not None:
                diagnostic = Diagnostic(Location(f"templates/{name}", 0), reason, code="template-refused")
                self._reported.add(diagnostic)  # rendering it would say the same again
                problems.append(diagnostic)
            if name not in TEMPLATE_FILES and not name.startswith("_"):
                problems.append(
                    Diagnostic(
                        Location(f"templates/{name}", 0),
                        f"not a note-type template; overridable files: {', '.join(TEMPLATE_FILES)}",
                        code="template-unknown-file",
                    )
                )

    def render(self, name: str, context: dict[str, object], problems: list[Diagnostic]) -> str:
        import jinja2

        from .templatesandbox import OutsideProject, TemplateLimit, render_bounded

        found: list[Diagnostic] = []
        try:
            template = self.env.get_template(name)
            return render_bounded(template, context)
        except jinja2.TemplateSyntaxError as e:
            where = self.location(e.name or name, e.lineno or 1)
            found.append(Diagnostic(where, f"template error: {e.message}", code="template-error"))
        except OutsideProject as e:
            if e.name == name or e.name in self.overrides():
                found.append(Diagnostic(self.location(e.name, 0), e.reason, code="template-refused"))
            else:
                found.append(
                    Diagnostic(self._error_location(e, name), f"template error: {e}", code="template-error")
                )
        except jinja2.TemplateNotFound as e:
            found.append(
                Diagnostic(
                    self._error_location(e, name),
                    f"template error: '{e.name}' not found",
                    code="template-error",
                )
            )
        except TemplateLimit as e:
            found.append(
                Diagnostic(self._error_location(e, name), f"template error: it {e}", code="template-error")
            )
        except jinja2.TemplateError as e:
            found.append(
                Diagnostic(self._error_location(e, name), f"template error: {e}", code="template-error")
            )
        except UnicodeDecodeError as e:
            found.append(Diagnostic(self._error_location(e, name), "not valid UTF-8", code="template-error"))
        except RecursionError as e:
            message = "template error: it includes or calls itself without end"
            found.append(Diagnostic(self._error_location(e, name), message, code="template-error"))
        except Exception as e:  # templates are untrusted code: what they raise is their error
            what = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
            found.append(
                Diagnostic(self._error_location(e, name), f"template error: {what}", code="template-error")
            )
        self._report(found, problems)
        return ""

    def _report(self, found: list[Diagnostic], problems: list[Diagnostic]) -> None:
        # One broken partial is rendered for every note type: say so once.
        for diagnostic in found:
            if diagnostic not in self._reported:
                self._reported.add(diagnostic)
                problems.append(diagnostic)

    def _error_location(self, error: BaseException, name: str) -> Location:
        # Jinja2 rewrites tracebacks so frames carry the template's file name and line.
        line, file_name = 1, name
        for frame, lineno in traceback.walk_tb(error.__traceback__):
            filename = Path(frame.f_code.co_filename)
            if self._is_template_file(filename):
                line, file_name = lineno, filename.name
        return self.location(file_name, line)

    def _is_template_file(self, path: Path) -> bool:
        return path.parent in (self.override_dir, self._shipped_dir) and path.suffix in (".html", ".css")

    def note_type(
        self,
        kind: NoteKind,
        deck_name: str,
        identity: str,
        version: int,
        problems: list[Diagnostic],
    ) -> NoteType:
        context: dict[str, object] = {
            "note_type": kind.type,
            "fields": kind.fields,
            "deck_name": deck_name,
            "code_css": self._code_css,
        }
        css = self.render("style.css", context, problems)
        templates = []
        for prefix in kind.cards:
            sides = {}
            for side in ("front", "back"):
                file_name = f"{prefix}.{side}.html"
                html = self.render(file_name, {**context, "card": prefix}, problems)
                found: list[Diagnostic] = []
                self._check_references(file_name, html, kind, side, found)
                self._report(found, problems)
                sides[side] = html
            templates.append((sides["front"], sides["back"]))
        return note_type_of(kind, deck_name, identity, version, css, templates)

    @property
    def shipped_dir(self) -> Path:
        """The templates shipped with deckbuilder (those the project does not override)."""
        return self._shipped_dir

    @property
    def reported_any(self) -> bool:
        """Whether a problem of the templates was found (by rendering, or by check_override_names)."""
        return bool(self._reported)

    def _check_references(
        self, file_name: str, html: str, kind: NoteKind, side: str, problems: list[Diagnostic]
    ) -> None:
        """What Anki would say of the rendered template, located in its source file."""
        if not html:
            return
        try:
            ankitemplate.parse(html)
        except (ankitemplate.TemplateError, RecursionError) as e:
            reason = e if isinstance(e, ankitemplate.TemplateError) else "sections nested too deeply"
            message = f'Anki would show "{side.title()} template has a problem: {reason}"'
            # The section named in the message, else the first reference, shows where to look.
            names = re.findall(r"\{\{[#^/]?([^{}]+?)\}\}", str(reason))
            needles = [f"{{{{{p}{n}" for n in names for p in "#^/"] + ["{{"]
            problems.append(Diagnostic(self._locate(file_name, *needles), message, code="template-anki"))
            return
        seen_field = False
        for match in _REFERENCE.finditer(html):
            ref = match.group(1).strip()
            name = ref.lstrip("#^/").split(":")[-1].strip()
            if ref.startswith(("tts ", "!")) or name in SPECIAL_FIELDS:
                continue
            if name in kind.fields:
                seen_field = True
                continue
            problems.append(
                Diagnostic(
                    self._locate(file_name, match.group(0)),
                    f"unknown field '{name}' in {{{{{ref}}}}}; "
                    f"{kind.label} notes have {', '.join(kind.fields)}",
                    code="template-field",
                )
            )
        if side == "front":
            visible = _HTML_COMMENT.sub("", html)
            if kind.cloze and "{{cloze:Text}}" not in visible:
                problems.append(
                    Diagnostic(
                        self.location(file_name),
                        "a cloze front must contain {{cloze:Text}}",
                        code="template-front",
                    )
                )
            elif not seen_field:
                problems.append(
                    Diagnostic(
                        self.location(file_name),
                        "the front shows no field, so Anki would make no card",
                        code="template-front",
                    )
                )

    def _locate(self, file_name: str, *needles: str) -> Location:
        """Where the first of `needles` is written: the template itself, or a partial."""
        files = self._included(file_name)
        for needle in needles:
            for name in files:
                source = self._source(name)
                if needle in source:
                    return self.location(name, _line_of(source, needle))
        return self.location(file_name)

    def _included(self, file_name: str) -> list[str]:
        """`file_name` and the templates it includes, depth first."""
        found: list[str] = []
        pending = [file_name]
        while pending:
            name = pending.pop(0)
            if name not in found:
                found.append(name)
                pending += _INCLUDE.findall(self._source(name))
        return found

    def _source(self, file_name: str) -> str:
        import jinja2

        loader = self.env.loader
        assert loader is not None
        try:
            source, _, _ = loader.get_source(self.env, file_name)
        except (jinja2.TemplateNotFound, UnicodeDecodeError):
            return ""
        return source


def note_type_of(
    kind: NoteKind, deck_name: str, identity: str, version: int, css: str, sides: list[tuple[str, str]]
) -> NoteType:
    """The note type of a kind for a deck, from its rendered CSS and each card's front and back."""
    suffix = f" v{version}" if version > 1 else ""
    return NoteType(
        kind=kind,
        id=stable_id("deckbuilder-note-type", identity, kind.type, str(version)),
        name=f"{deck_name}: {kind.label}{suffix}",
        templates=tuple(
            CardTemplate(CARD_NAMES[prefix], front, back)
            for prefix, (front, back) in zip(kind.cards, sides, strict=True)
        ),
        css=css,
    )


def _line_of(source: str, needle: str) -> int:
    index = source.find(needle)
    return source.count("\n", 0, index) + 1 if index >= 0 else 1
