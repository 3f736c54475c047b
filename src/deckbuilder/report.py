"""Diagnostics as the user reads them: text for people, JSON lines for tools, GitHub annotations.

The text format prints each diagnostic as one line, `path:line:col: message`. When the problem
has a column, the source line and a caret under the column follow on lines of their own that
start with spaces (`    3 | front: a: b` and `      |         ^`), so a tool that reads the lines
matching `^\\S+:\\d+` still sees one line per problem; the other formats never add lines.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

import click

from .model import Diagnostic, one_line
from .workerlife import fork_safe
from .yamlsource import LINE_BREAK

FORMATS = ("text", "json", "github")
_TAB = "\u2192"  # a tab in a source line, shown as one character so the caret lines up
_WIDTH = 100  # longer source lines are cut around the column


class SourceLines:
    """Lines of the project's files, read once, for the context under a diagnostic."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self._files: dict[str, list[str]] = {}

    def line(self, path: str, number: int) -> str | None:
        if path not in self._files:
            target = (self.root / path).resolve()
            lines: list[str] = []
            if target.is_relative_to(self.root) and target.is_file():
                with contextlib.suppress(OSError):
                    lines = LINE_BREAK.split(target.read_text(encoding="utf-8-sig", errors="replace"))
            self._files[path] = lines
        lines = self._files[path]
        return lines[number - 1] if 0 < number <= len(lines) else None


def use_colour(stream: IO[str]) -> bool:
    """Colour on a terminal only; NO_COLOR (any value) or TERM=dumb turns it off."""
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or odd stream
        return False


def wants_progress(stream: IO[str]) -> bool:
    """A progress bar on a terminal only: not when piped, not in CI, not on a dumb terminal."""
    if os.environ.get("CI") or os.environ.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


_DRAWING = threading.Lock()
"""Held while the progress thread writes to its stream, and taken by every fork: a worker forked
in the middle of a write would get the stream's own lock held for good (and wait on it forever
if it wrote there). So the bar's thread is one a worker may be forked beside."""
if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_DRAWING.acquire, after_in_parent=_DRAWING.release, after_in_child=_DRAWING.release
    )


class ProgressBar:
    """One line on a terminal, `[######------] rendering 5000 cards 3 s`, redrawn while a build
    runs and erased when it ends; a build shorter than `delay` seconds shows nothing. Its thread
    runs beside a build's Markdown worker and pools (see _DRAWING)."""

    WIDTH = 24

    def __init__(self, stream: IO[str], delay: float = 0.5) -> None:
        self.stream = stream
        self.delay = delay
        self.step, self.fraction = "starting", 0.0
        self.shown = False
        self._start = time.monotonic()
        self._done = threading.Event()
        self._thread = fork_safe(threading.Thread(target=self._run, name="progress", daemon=True))

    def update(self, step: str, fraction: float) -> None:
        self.step, self.fraction = step, fraction

    def __enter__(self) -> ProgressBar:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()
        if self.shown:
            self._write("\r\x1b[K")  # erase the bar: what follows starts a clean line

    def _run(self) -> None:
        if self._done.wait(self.delay):
            return
        drawn = ""
        while not self._done.is_set():
            filled = round(self.fraction * self.WIDTH)
            elapsed = time.monotonic() - self._start
            line = f"[{'#' * filled}{'-' * (self.WIDTH - filled)}] {self.step} {elapsed:.0f} s"
            if line != drawn:
                self._write(f"\r{line}\x1b[K")
                self.shown, drawn = True, line
            self._done.wait(0.1)

    def _write(self, text: str) -> None:
        with _DRAWING, contextlib.suppress(OSError, ValueError):  # a closed terminal: no bar, no failure
            self.stream.write(text)
            self.stream.flush()


def text(diagnostic: Diagnostic, sources: SourceLines | None, colour: bool = False) -> str:
    """The diagnostic line, and the source line with a caret when there is a column."""
    head = str(diagnostic)
    if colour:
        where, _, rest = head.partition(": ")
        kind = click.style("warning", fg="yellow", bold=True) if diagnostic.warning else None
        message = rest.removeprefix("warning: ") if diagnostic.warning else rest
        head = click.style(where, bold=True) + ": " + (f"{kind}: " if kind else "")
        head += click.style(message, fg=None if diagnostic.warning else "red")
    location = diagnostic.location
    if sources is None or not location.line or not location.column:
        return head
    source = sources.line(location.path, location.line)
    if source is None:
        return head
    shown, offset = _excerpt(source, location.column)
    number = str(location.line)
    gutter = " " * (len(number) + 5)
    caret = click.style("^", fg="green", bold=True) if colour else "^"
    return f"{head}\n    {number} | {shown}\n{gutter}| {' ' * offset}{caret}"


def _excerpt(source: str, column: int) -> tuple[str, int]:
    """The source line made printable (cut to a window around `column`) and the caret's offset."""
    start = max(0, min(column - 1 - _WIDTH // 2, len(source) - _WIDTH))
    before = source[start : column - 1].replace("\t", _TAB)
    rest = source[column - 1 : start + _WIDTH].replace("\t", _TAB)
    lead = "…" if start else ""
    tail = "…" if start + _WIDTH < len(source) else ""
    return one_line(lead + before + rest) + tail, len(one_line(lead + before))


def as_json(diagnostic: Diagnostic, sources: SourceLines | None) -> str:
    """One JSON object on one line; line and column are null when unknown."""
    location = diagnostic.location
    source = sources.line(location.path, location.line) if sources and location.line else None
    return json.dumps(
        {
            "file": location.path,
            "line": location.line or None,
            "column": location.column or None,
            "severity": "warning" if diagnostic.warning else "error",
            "code": diagnostic.code,
            "message": diagnostic.message,
            "source": source,
        },
        ensure_ascii=False,
    )


def as_github(diagnostic: Diagnostic, prefix: str = "") -> str:
    """A GitHub Actions workflow command: an annotation on the file and line."""
    location = diagnostic.location
    props = {"file": prefix + location.path}
    if location.line:
        props["line"] = str(location.line)
    if location.column:
        props["col"] = str(location.column)
    if diagnostic.code:
        props["title"] = diagnostic.code
    kind = "warning" if diagnostic.warning else "error"
    fields = ",".join(f"{key}={_escape(value, True)}" for key, value in props.items())
    return f"::{kind} {fields}::{_escape(diagnostic.message)}"


def _escape(value: str, property_: bool = False) -> str:
    value = value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return value.replace(":", "%3A").replace(",", "%2C") if property_ else value


def lines(diagnostics: Iterable[Diagnostic], fmt: str, root: Path, *, colour: bool = False) -> Iterator[str]:
    """Each diagnostic in format `fmt` (one of FORMATS)."""
    sources = SourceLines(root)
    prefix = _github_prefix(root) if fmt == "github" else ""
    for diagnostic in diagnostics:
        if fmt == "json":
            yield as_json(diagnostic, sources)
        elif fmt == "github":
            yield as_github(diagnostic, prefix)
        else:
            yield text(diagnostic, sources, colour)


def _github_prefix(root: Path) -> str:
    """Annotations name files from the repository root: the project's folder from the cwd."""
    try:
        rel = root.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return ""
    return "" if rel == Path(".") else f"{rel.as_posix()}/"
