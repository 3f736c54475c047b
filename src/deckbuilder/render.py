"""Markdown in card fields -> the HTML that goes into Anki notes, and the media it references."""

from __future__ import annotations

import hashlib
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import markdown
from markdown.treeprocessors import Treeprocessor

from .model import Card, Diagnostic, Location

_SINGLE_PARAGRAPH = re.compile(r"<p>((?:(?!<p[ >]).)*)</p>", re.DOTALL)
# One line with nothing Markdown, math or HTML would act on: its HTML is the text itself.
# (Most short answers; skipping Markdown for them halves a big build.)
PLAIN_TEXT = re.compile(r"(?![-+*#>=\s]|\d+[.)]\s)[A-Za-z0-9 ,.;:?!'\"()%/+=-]*(?<![ :])")

_BARE_DOMAIN = re.compile(r"\b(?:www|ftp)\.")  # magiclink links these without a scheme
MARKDOWN_EXTENSIONS = [
    "tables",
    "sane_lists",
    "pymdownx.superfences",
    "pymdownx.highlight",
    "pymdownx.arithmatex",
    "pymdownx.magiclink",
]
MARKDOWN_CONFIG: dict[str, dict[str, Any]] = {
    # Pygments classes, coloured by the note type's CSS (light and night) - no inline styles.
    "pymdownx.highlight": {"use_pygments": True, "css_class": "highlight", "guess_lang": False},
    # Math leaves Markdown untouched and reaches Anki as \(...\) / \[...\] for its MathJax.
    "pymdownx.arithmatex": {"generic": True},
    "pymdownx.magiclink": {"hide_protocol": False},
}


@dataclass(frozen=True)
class RenderedCard:
    """A card's fields as HTML, ready for a note."""

    card: Card
    fields: dict[str, str]
    """HTML of each of the card's text fields (front, back, text, extra, source)."""
    media: tuple[str, ...] = ()
    """Media names the fields reference."""


@dataclass
class MediaFiles:
    """Images packed with a package: flat, collision-safe names -> files on disk."""

    files: dict[str, Path] = field(default_factory=dict)

    def add(self, path: Path, content: bytes) -> str:
        digest = hashlib.sha256(content).hexdigest()[:12]
        stem = re.sub(r"[^A-Za-z0-9_-]+", "-", path.stem).strip("-").lower() or "image"
        # Anki's media folder is flat and some file systems ignore case: name by content.
        name = f"{stem}-{digest}{path.suffix.lower()}"
        self.files[name] = path
        return name


class _ImageRewriter(Treeprocessor):
    """Points <img src> at packed media; records images that cannot be packed."""

    def __init__(self, md: markdown.Markdown, renderer: MarkdownRenderer) -> None:
        super().__init__(md)
        self.renderer = renderer

    def run(self, root: ET.Element) -> None:
        for img in root.iter("img"):
            src = img.get("src", "")
            new = self.renderer.resolve_image(src)
            if new is not None:
                img.set("src", new)


class _ImageExtension(markdown.Extension):
    def __init__(self, renderer: MarkdownRenderer) -> None:
        super().__init__()
        self.renderer = renderer

    def extendMarkdown(self, md: markdown.Markdown) -> None:
        md.treeprocessors.register(_ImageRewriter(md, self.renderer), "deckbuilder-images", 0)


class MarkdownRenderer:
    """One reusable Markdown instance (resetting it is twice as fast as making a new one)."""

    def __init__(self, root: Path, media: MediaFiles) -> None:
        self.root = root.resolve()
        self.media = media
        self.md = markdown.Markdown(
            extensions=[*MARKDOWN_EXTENSIONS, _ImageExtension(self)],
            extension_configs=MARKDOWN_CONFIG,
            output_format="html",
        )
        self._base = self.root
        self._location = Location("", 0)
        self._problems: list[Diagnostic] = []
        self._used: list[str] = []
        self._cache: dict[Path, bytes | None] = {}
        self._converted: dict[str, str] = {}

    def html(self, text: str, base: Path, location: Location, problems: list[Diagnostic]) -> str:
        """Markdown -> HTML; a lone paragraph is unwrapped so short answers stay inline."""
        if not text.strip():
            return ""
        if PLAIN_TEXT.fullmatch(text) and "://" not in text and not _BARE_DOMAIN.search(text):
            return text
        if "![" in text:  # images depend on the card file's folder and record media
            return self._convert(text, base, location, problems)
        # Texts repeat (a paper's citation on each of its cards): convert each once.
        if text not in self._converted:
            self._converted[text] = self._convert(text, base, location, problems)
        return self._converted[text]

    def _convert(self, text: str, base: Path, location: Location, problems: list[Diagnostic]) -> str:
        self._base, self._location, self._problems = base, location, problems
        out: str = self.md.reset().convert(text)
        whole = _SINGLE_PARAGRAPH.fullmatch(out)
        return whole.group(1) if whole else out

    def render_card(self, card: Card, problems: list[Diagnostic]) -> RenderedCard:
        base = (self.root / card.location.path).parent
        self._used = []
        fields = {}
        for name in ("front", "back", "text", "extra", "source"):
            line = card.field_lines.get(name, card.location.line)
            value = getattr(card, name)
            fields[name] = self.html(value, base, Location(card.location.path, line), problems)
        return RenderedCard(card, fields, tuple(dict.fromkeys(self._used)))

    def resolve_image(self, src: str) -> str | None:
        """The media name for a local image, or None to leave `src` alone (web images)."""
        parsed = urlparse(src)
        if parsed.scheme or src.startswith("//") or not parsed.path:
            return None
        target = (self._base / unquote(parsed.path)).resolve()
        if not target.is_relative_to(self.root):
            self._problem(f"image '{src}' is outside the project")
            return None
        content = self._read(target)
        if content is None:
            self._problem(f"image '{src}' not found (looked for {self._rel(target)})")
            return None
        name = self.media.add(target, content)
        self._used.append(name)
        return name

    def _read(self, target: Path) -> bytes | None:
        if target not in self._cache:
            self._cache[target] = target.read_bytes() if target.is_file() else None
        return self._cache[target]

    def _rel(self, target: Path) -> str:
        return target.relative_to(self.root).as_posix()

    def _problem(self, message: str) -> None:
        self._problems.append(Diagnostic(self._location, message))
