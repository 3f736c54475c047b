"""Markdown in card fields -> the HTML that goes into Anki notes, and the media it references."""

from __future__ import annotations

import functools
import hashlib
import html
import itertools
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

from .markdownworker import MarkdownWorker, can_fork
from .media import content_problem, media_problem
from .model import Card, Diagnostic, Location
from .projectfiles import ProjectFileError, read_project_file
from .quickhtml import quick_html
from .rendercache import RenderCache
from .workerlife import begin_worker

if TYPE_CHECKING:
    import markdown

_AHEAD = "\0converting"
"""In place of the HTML of a text being converted ahead (no HTML is this string)."""

# <img …src="…">, src='…' or src=… (unquoted); other attributes are skipped whole, so a
# "src=" inside one (alt="use src=x", data-src=…) is not taken for the image. Group 3: the address.
_ATTRIBUTE = r"""\s+(?!src\s*=)[^\s=>/]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s>"']+))?"""
_IMG_SRC = re.compile(
    rf"""(<img(?:{_ATTRIBUTE})*\s+src\s*=\s*)(["'])?((?(2).*?|[^\s>]+))(?(2)\2)""", re.IGNORECASE | re.DOTALL
)
MARKDOWN_EXTENSIONS = [
    "tables",
    "sane_lists",
    "pymdownx.superfences",
    "pymdownx.highlight",
    "pymdownx.arithmatex",
    "deckbuilder.mathtext",  # display math inside or next to text, which arithmatex leaves
    "pymdownx.magiclink",
]
MARKDOWN_CONFIG: dict[str, dict[str, Any]] = {
    # Pygments classes, coloured by the note type's CSS (light and night) - no inline styles.
    "pymdownx.highlight": {"use_pygments": True, "css_class": "highlight", "guess_lang": False},
    # Math leaves Markdown untouched and reaches Anki as \(...\) / \[...\] for its MathJax.
    "pymdownx.arithmatex": {"generic": True},
    "pymdownx.magiclink": {"hide_protocol": False},
}


TEXT_FIELDS = ("front", "back", "text", "extra", "source")
POOL_MIN_TEXTS = 2000
POOL_MIN_CHARS = 40_000
"""Below this many texts and characters to convert (about 50 ms of work), starting worker
processes (about 15 ms) costs more than it saves."""


def _reuse_pygments() -> None:
    """Make pymdownx.highlight reuse Pygments lexers and stylesheets instead of rebuilding them.

    It asks Pygments for a new lexer and a new formatter for every code block, and the
    formatter's constructor rebuilds the style's whole class table: together half of all
    highlighting time. Both are pure functions of their options (lexers keep no state between
    texts, the tables are only read), so reusing them gives the very same HTML.
    """
    from pymdownx import highlight  # type: ignore[import-untyped]

    if getattr(highlight, "_deckbuilder_reuse", False):
        return
    lexer_by_name = highlight.get_lexer_by_name

    @functools.lru_cache(maxsize=256)
    def cached_lexer(name: str, options: tuple[tuple[str, Any], ...]) -> Any:
        return lexer_by_name(name, **dict(options))

    def get_lexer_by_name(name: str, **options: Any) -> Any:
        try:
            return cached_lexer(name, tuple(sorted(options.items())))
        except TypeError:  # an option that cannot be a key
            return lexer_by_name(name, **options)

    sheets: dict[tuple[Any, str], tuple[Any, Any]] = {}

    def create_stylesheet(formatter: Any) -> None:
        key = (formatter.style, formatter.classprefix)
        if key not in sheets:
            create_table(formatter)
            sheets[key] = (formatter.ttype2class, formatter.class2style)
        formatter.ttype2class, formatter.class2style = sheets[key]

    from pygments.formatters.html import HtmlFormatter

    create_table = HtmlFormatter._create_stylesheet  # type: ignore[attr-defined]
    highlight.get_lexer_by_name = get_lexer_by_name
    for name in ("BlockHtmlFormatter", "InlineHtmlFormatter"):
        getattr(highlight, name)._create_stylesheet = create_stylesheet
    highlight._deckbuilder_reuse = True


def new_markdown() -> markdown.Markdown:
    _reuse_pygments()
    return _markdown_class()(
        extensions=MARKDOWN_EXTENSIONS, extension_configs=MARKDOWN_CONFIG, output_format="html"
    )


@functools.cache
def _markdown_class() -> type[markdown.Markdown]:
    import importlib

    import markdown  # here: a build whose texts all take quick_html never loads Markdown

    _import_pymdownx_util()

    class Markdown(markdown.Markdown):
        """Markdown that finds extensions by module, not among entry points first.

        Given an extension's name, Python-Markdown first looks for it among every installed
        package's entry points, reading all their metadata (about 20 ms of a small build, and
        superfences asks for pymdownx.highlight by name too). A short name is one of its own
        extensions (markdown.extensions.<name>), a dotted one a module: each makes its
        extension with the module's makeExtension, as an entry point's class would.
        """

        def build_extension(self, ext_name: str, configs: Mapping[str, Any]) -> markdown.Extension:
            if ":" not in ext_name:
                try:
                    module = importlib.import_module(
                        ext_name if "." in ext_name else f"markdown.extensions.{ext_name}"
                    )
                except ImportError:
                    pass
                else:
                    extension: markdown.Extension = module.makeExtension(**configs)
                    return extension
            return super().build_extension(ext_name, configs)

    return Markdown


def _import_pymdownx_util() -> None:
    """pymdownx.util (which every pymdownx extension imports), without urllib.request.

    It takes two path helpers from urllib.request, for extensions we do not use (b64,
    pathconverter), and importing that module brings http.client, email, ssl and socket: a third
    of setting Markdown up, which the Markdown worker does before its first text. While
    pymdownx.util is imported, the name resolves to a module whose two helpers import the real
    ones when called, and call them; then it is the real module again for any importer. If
    urllib.request is already imported, or pymdownx.util asks it for more, it is imported as it is.
    (For that one import, another thread importing urllib.request would get the stand-in: none
    of ours does, in a build or beside serve's builds.)"""
    if "pymdownx.util" in sys.modules or "urllib.request" in sys.modules:
        return
    deferred = ModuleType("urllib.request")
    deferred.pathname2url = _pathname2url  # type: ignore[attr-defined]
    deferred.url2pathname = _url2pathname  # type: ignore[attr-defined]
    sys.modules["urllib.request"] = deferred
    try:
        import pymdownx.util  # type: ignore[import-untyped]
    except (ImportError, AttributeError):  # (another pymdownx: the real module after all)
        sys.modules.pop("pymdownx.util", None)
        sys.modules.pop("urllib.request", None)
        import pymdownx.util  # noqa: F401
    finally:
        if sys.modules.get("urllib.request") is deferred:
            del sys.modules["urllib.request"]


def _pathname2url(pathname: str) -> str:
    from urllib.request import pathname2url

    return pathname2url(pathname)


def _url2pathname(url: str) -> str:
    from urllib.request import url2pathname

    return url2pathname(url)


def markdown_settings() -> str:
    """Everything of ours that decides what Markdown makes of a text (for the render cache)."""
    return repr((MARKDOWN_EXTENSIONS, sorted(MARKDOWN_CONFIG.items())))


_worker_md: markdown.Markdown | None = None


def _convert_in_worker(texts: list[str]) -> list[str]:
    global _worker_md
    if _worker_md is None:
        _worker_md = new_markdown()
    return [_worker_md.reset().convert(text) for text in texts]


def convert_all(texts: list[str], md: markdown.Markdown, workers: int) -> list[str]:
    """Markdown -> HTML of each text, in order; with worker processes when there are many.

    Each conversion starts from a reset instance, so the result does not depend on which
    process converted which text: the output is the same bytes with one process or several.
    """
    return [html for chunk in convert_chunks(texts, md, workers) for html in chunk]


def convert_chunks(texts: list[str], md: markdown.Markdown, workers: int) -> Iterator[list[str]]:
    """convert_all in consecutive pieces, each given as soon as it is done (the caller can use
    the first texts' HTML while workers convert the rest). The workers start at once and stop
    when the last piece is taken, or when the iterator is closed."""
    if workers < 2 or (len(texts) < POOL_MIN_TEXTS and sum(map(len, texts)) < POOL_MIN_CHARS):
        return iter([[md.reset().convert(text) for text in texts]])
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else None)
    # Many chunks: the workers end together, and the caller gets the first ones early.
    size = max(50, -(-len(texts) // (workers * 16)))
    chunks = [texts[i : i + size] for i in range(0, len(texts), size)]
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=begin_worker)
    results = pool.map(_convert_in_worker, chunks)  # every chunk is sent off now

    def collect() -> Iterator[list[str]]:
        try:
            yield from results
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    return collect()


def default_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def unwrap_paragraph(html: str) -> str:
    """A lone paragraph's HTML without its <p> (short answers stay inline); other HTML as it is."""
    if len(html) >= 7 and html.startswith("<p>") and html.endswith("</p>"):
        inner = html[3:-4]
        if "<p>" not in inner and "<p " not in inner:  # no second paragraph starts inside
            return inner
    return html


def has_images(text: str) -> bool:
    """Whether a text may show an image (Markdown's or an <img> tag): its HTML then depends on files."""
    return "![" in text or ("<" in text and "<img" in text.lower())


@dataclass(frozen=True, slots=True)
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
        self._md: markdown.Markdown | None = None
        self._base = self.root
        self._location = Location("", 0)
        self._problems: list[Diagnostic] = []
        self._used: list[str] = []
        self._cache: dict[Path, tuple[bytes | None, str, str]] = {}
        self._folders: dict[str, Path] = {}
        self._converted: dict[str, str] = {}
        self._markdown: dict[str, str] = {}
        """Markdown's HTML of texts converted ahead (before images are resolved)."""
        self._quick: dict[str, str] = {}
        """quick_html of texts found simple ahead, until the conversions are forgotten."""
        self._cache_to: RenderCache | None = None
        self._pending: Iterator[str] = iter([])
        """Texts converted ahead whose HTML is not taken yet, in order."""
        self._chunks: Iterator[list[str]] = iter([])
        self._worker: MarkdownWorker | None = None
        self._early = False
        self._with_worker: set[str] = set()
        """Texts sent to the worker whose HTML is not taken yet."""
        self.meanwhile: Callable[[], None] | None = None
        """Work that needs no HTML, done the first time the worker's HTML is not ready when asked for."""

    @property
    def md(self) -> markdown.Markdown:
        """Made on first use: a rebuild whose texts all come from the cache needs none."""
        if self._md is None:
            self._md = new_markdown()
        return self._md

    def convert_early(
        self, cache: RenderCache | None, workers: int
    ) -> Callable[[Iterable[Card]], None] | None:
        """With a second core, a hook for the loader: the texts that need Markdown of the cards it
        reads afresh go to a worker process at once, which sets Markdown up meanwhile (see
        markdownworker.py). None with one core. Whether a worker may be forked is asked at the
        first text that needs one (a rebuild from the cache never imports multiprocessing)."""
        if workers < 2:
            return None
        self._cache_to = cache
        self._early = True
        return self._convert_early

    def _convert_early(self, cards: Iterable[Card]) -> None:
        if not self._early:
            return
        todo = self._to_convert(cards, self._cache_to)
        if todo and not self._to_worker(todo):
            # Many texts: convert_chunks' processes take them, as they take the rest.
            self._early = False
            for text in todo:
                del self._markdown[text]

    def _to_convert(self, cards: Iterable[Card], cache: RenderCache | None) -> list[str]:
        """The texts of these cards that need Markdown, not found before nor in the cache (each
        marked as being converted)."""
        todo = []
        for card in cards:
            for name in TEXT_FIELDS:
                value = getattr(card, name)
                if not value or value in self._quick or value in self._markdown or not value.strip():
                    continue
                quick = quick_html(value)
                if quick is not None:
                    self._quick[value] = quick
                else:
                    self._markdown[value] = _AHEAD  # converted below (and so taken once)
                    todo.append(value)
        if cache is not None and todo:
            kept = cache.lookup(todo)
            self._markdown.update(kept)
            todo = [text for text in todo if text not in kept]
        return todo

    def _to_worker(self, texts: list[str]) -> bool:
        """Send texts to the worker (forked now if need be), unless they make it too many for one."""
        worker = self._worker
        sent = (worker.texts, worker.chars) if worker is not None else (0, 0)
        if sent[0] + len(texts) >= POOL_MIN_TEXTS or sent[1] + sum(map(len, texts)) >= POOL_MIN_CHARS:
            return False
        if worker is None:
            if not can_fork():  # asked again: a card file pool's threads may run by now
                self._early = False
                return False
            try:
                worker = self._worker = MarkdownWorker(new_markdown)
            except OSError:  # no process to be had: this one converts
                self._early = False
                return False
        worker.send(texts)
        self._with_worker.update(texts)
        return True

    def convert_ahead(self, cards: Iterable[Card], cache: RenderCache | None, workers: int = 1) -> None:
        """Convert every text of these cards at once: from the cache, then in worker processes."""
        todo = self._to_convert(cards, cache)
        self._cache_to = cache
        self._early = False
        if todo and self._worker is not None and self._to_worker(todo):
            todo = []
        if self._worker is not None:
            self._worker.flush()  # (the worker converts them while the cards' caches are read)
        self._pending = iter(todo)
        self._chunks = convert_chunks(todo, self.md, workers) if todo else iter([])

    def _take_converted(self, text: str | None = None) -> None:
        """Take converted texts until `text` is among them (None: all of them)."""
        worker = self._worker
        while worker is not None and worker.waiting and (text is None or text in self._with_worker):
            if self.meanwhile is not None and not worker.ready:
                meanwhile, self.meanwhile = self.meanwhile, None
                meanwhile()
            texts, html = worker.take()
            if html is None:  # not converted there: here, as in one process
                html = [self.md.reset().convert(sent) for sent in texts]
            converted = dict(zip(texts, html, strict=True))
            self._markdown.update(converted)
            self._with_worker.difference_update(texts)
            if self._cache_to is not None:
                self._cache_to.store(converted)
            if text is not None and text in converted:
                return
        for chunk in self._chunks:
            converted = dict(zip(itertools.islice(self._pending, len(chunk)), chunk, strict=True))
            self._markdown.update(converted)
            if self._cache_to is not None:
                self._cache_to.store(converted)
            if text is not None and text in converted:
                return

    @property
    def quick_htmls(self) -> Iterable[str]:
        """The HTML quick_html wrote for the texts found simple ahead (until conversions are forgotten)."""
        return self._quick.values()

    def finish(self) -> None:
        """Wait for the texts converted ahead that no card asked for (and for the workers)."""
        self._early = False
        self._take_converted()
        self.stop_worker()

    def stop_worker(self) -> None:
        """Stop the Markdown worker, if one runs, without waiting for what it converts (a build
        that stopped midway: the worker holds the build lock's descriptor too)."""
        self._early = False
        if self._worker is not None:
            self._worker.close()
            self._worker = None

    def forget_conversions(self) -> None:
        """Let go of the texts converted so far, once their cards are rendered (the cards' fields
        hold their HTML): a big deck's every text and its HTML otherwise stay in memory."""
        self._markdown = {}
        self._converted = {}
        self._quick = {}

    def html(self, text: str, base: Path, location: Location, problems: list[Diagnostic]) -> str:
        """Markdown -> HTML; a lone paragraph is unwrapped so short answers stay inline."""
        if not text.strip():
            return ""
        if text not in self._markdown:  # most short texts need no Markdown (found ahead, or now)
            quick = self._quick.get(text)
            if quick is None:
                quick = quick_html(text)
            if quick is not None:
                return quick
        if has_images(text):  # images depend on the card's folder
            return self._convert(text, base, location, problems, images=True)
        # Texts repeat (a paper's citation on each of its cards): convert each once.
        if text not in self._converted:
            self._converted[text] = self._convert(text, base, location, problems, images=False)
        return self._converted[text]

    def _convert(
        self, text: str, base: Path, location: Location, problems: list[Diagnostic], *, images: bool
    ) -> str:
        self._base, self._location, self._problems = base, location, problems
        out = self._markdown.get(text)
        if out is _AHEAD:  # still with the workers
            self._take_converted(text)
            out = self._markdown[text]
        if out is None or out is _AHEAD:
            out = self.md.reset().convert(text)
        if images:  # Markdown images and raw <img> tags alike: local files become packed media.
            out = _IMG_SRC.sub(self._rewrite_src, out)
        return unwrap_paragraph(out)

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
        self._used = []
        fields = {}
        for name in TEXT_FIELDS:
            value = getattr(card, name)
            if not value:  # (a field the card does not have)
                fields[name] = ""
                continue
            quick = self._quick.get(value)  # most texts: found simple ahead (html() does the same)
            if quick is not None and value not in self._markdown:
                fields[name] = quick
                continue
            path = card.location.path
            line = card.field_lines.get(name, card.location.line)
            fields[name] = self.html(value, self._folder(path), Location(path, line), problems)
        return RenderedCard(card, fields, self.used if self._used else ())

    def _folder(self, path: str) -> Path:
        """The folder of a card file (relative images are found from there)."""
        folder = self._folders.get(path)
        if folder is None:
            folder = self._folders[path] = (self.root / path).parent
        return folder

    def resolve_image(self, src: str) -> str | None:
        """The media name for a local image, or None to leave `src` alone (data: images)."""
        parsed = urlparse(src)
        if parsed.scheme.lower() in ("http", "https") or src.startswith("//"):
            # Anki packs only files: a web image needs the network at every review.
            self._problem(
                f"image '{src}' is on the web: members offline would see a broken image; "
                "save the file in the project and link it",
                code="image-remote",
            )
            return None
        if parsed.scheme or not parsed.path:
            return None
        written = self._base / unquote(parsed.path)
        target = written.resolve()
        if not target.is_relative_to(self.root):
            self._problem(f"image '{src}' is outside the project", code="image-outside")
            return None
        content, problem, code = self._read(written)
        if problem == "not found":
            self._problem(f"image '{src}' not found (looked for {self._rel(target)})", code="image-missing")
            return None
        if content is None:
            message = f"image '{src}' {problem}"
            if code == "hidden":
                self._problem(message, code="image-hidden")
            elif code == "not-media":
                self._problem(message, code="image-not-media")
            else:
                self._problem(message, code="image-unreadable")
            return None
        name = self.media.add(target, content, keep=self.keep_media)
        self._used.append(name)
        return name

    def _read(self, written: Path) -> tuple[bytes | None, str, str]:
        """The bytes of an image file, or why it may not ship (hidden, not an image…) and a code."""
        if written not in self._cache:
            content, problem, code = None, media_problem(self.root, written), "hidden"
            if problem is not None and not problem.startswith("is a hidden"):
                code = "unreadable"
            if problem is None:
                try:
                    content = read_project_file(self.root, written)
                except ProjectFileError as e:
                    problem, code = e.reason, "unreadable"
                else:
                    problem, code = content_problem(content), "not-media"
                    content = None if problem else content
            self._cache[written] = (content, problem or "", code)
        return self._cache[written]

    def _rel(self, target: Path) -> str:
        return target.relative_to(self.root).as_posix()

    def _problem(self, message: str, *, code: str) -> None:
        self._problems.append(Diagnostic(self._location, message, code=code))


_PRE = re.compile(r"(<pre\b.*?</pre>)", re.DOTALL | re.IGNORECASE)


def without_soft_breaks(fragment: str) -> str:
    """HTML whose line breaks outside <pre> are spaces, and gone between tags.

    Anki's deck overview shows a description with `white-space: pre-wrap`: every newline of the
    stored HTML (a YAML block's soft line breaks, Markdown's between paragraphs) would show.
    """
    parts = _PRE.split(fragment)
    for i in range(0, len(parts), 2):
        parts[i] = re.sub(r"\s*\n\s*", " ", re.sub(r">\s*\n\s*<", "><", parts[i]))
    return "".join(parts)
