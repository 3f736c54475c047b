"""Markdown in card fields -> the HTML that goes into Anki notes, and the media it references."""

from __future__ import annotations

import hashlib
import html
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import markdown

from .model import Card, Diagnostic, Location

_SINGLE_PARAGRAPH = re.compile(r"<p>((?:(?!<p[ >]).)*)</p>", re.DOTALL)
# One line with nothing Markdown, math or HTML would act on: its HTML is the text itself.
# (Most short answers; skipping Markdown for them halves a big build.)
PLAIN_TEXT = re.compile(r"(?![-+*#>=\s]|\d+[.)]\s)[A-Za-z0-9 ,.;:?!'\"()%/+=-]*(?<![ :])")

# <img …src="…">, src='…' or src=… (unquoted); other attributes are skipped whole, so a
# "src=" inside one (alt="use src=x", data-src=…) is not taken for the image. Group 3: the address.
_ATTRIBUTE = r"""\s+(?!src\s*=)[^\s=>/]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s>"']+))?"""
_IMG_SRC = re.compile(
    rf"""(<img(?:{_ATTRIBUTE})*\s+src\s*=\s*)(["'])?((?(2).*?|[^\s>]+))(?(2)\2)""", re.IGNORECASE | re.DOTALL
)
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

    def add(self, path: Path, content: bytes, keep: bool = False) -> str:
        digest = hashlib.sha256(content).hexdigest()[:12]
        stem = re.sub(r"[^A-Za-z0-9_-]+", "-", path.stem).strip("-").lower() or "image"
        # Anki's media folder is flat and some file systems ignore case: name by content.
        # Anki imports only media that notes use, or whose name starts with "_".
        name = f"{'_' if keep else ''}{stem}-{digest}{path.suffix.lower()}"
        self.files[name] = path
        return name


class MarkdownRenderer:
    """One reusable Markdown instance (resetting it is twice as fast as making a new one)."""

    def __init__(self, root: Path, media: MediaFiles, *, keep_media: bool = False) -> None:
        self.root = root.resolve()
        self.media = media
        self.keep_media = keep_media
        """For texts outside notes (a deck's description): their media must be kept by name."""
        self.md = markdown.Markdown(
            extensions=MARKDOWN_EXTENSIONS,
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
        if "![" in text or "<img" in text.lower():  # images depend on the card's folder
            return self._convert(text, base, location, problems)
        # Texts repeat (a paper's citation on each of its cards): convert each once.
        if text not in self._converted:
            self._converted[text] = self._convert(text, base, location, problems)
        return self._converted[text]

    def _convert(self, text: str, base: Path, location: Location, problems: list[Diagnostic]) -> str:
        self._base, self._location, self._problems = base, location, problems
        out: str = self.md.reset().convert(text)
        # Markdown images and raw <img> tags alike: local files become packed media.
        out = _IMG_SRC.sub(self._rewrite_src, out)
        whole = _SINGLE_PARAGRAPH.fullmatch(out)
        return whole.group(1) if whole else out

    def _rewrite_src(self, match: re.Match[str]) -> str:
        new = self.resolve_image(html.unescape(match.group(3)))
        if new is None:
            return match.group(0)
        quote = match.group(2) or ""
        return f"{match.group(1)}{quote}{html.escape(new)}{quote}"

    @property
    def used(self) -> tuple[str, ...]:
        """Media names referenced since the last card began."""
        return tuple(dict.fromkeys(self._used))

    def render_card(self, card: Card, problems: list[Diagnostic]) -> RenderedCard:
        base = (self.root / card.location.path).parent
        self._used = []
        fields = {}
        for name in ("front", "back", "text", "extra", "source"):
            line = card.field_lines.get(name, card.location.line)
            value = getattr(card, name)
            fields[name] = self.html(value, base, Location(card.location.path, line), problems)
        return RenderedCard(card, fields, self.used)

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
        name = self.media.add(target, content, keep=self.keep_media)
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
