"""Jinja2 for a project's own templates: sandboxed, confined to the project, bounded in size and time.

A project's templates are untrusted code. Jinja2's immutable sandbox keeps them from Python
internals (`cycler.__init__.__globals__` is refused); on top of it this module bounds what a
template may build (numbers, strings, output) and how long it may run, and reads templates only
from regular files inside the project.
"""

from __future__ import annotations

import functools
import re
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import jinja2
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.nodes import Concat
from jinja2.sandbox import ImmutableSandboxedEnvironment

from .projectfiles import ProjectFileError, read_project_file

MAX_OUTPUT = 1_000_000
"""Characters a template may produce, and the longest string or list it may build."""
MAX_SECONDS = 2.0
"""Time one template may run (the shipped ones take about a millisecond)."""
MAX_INT_BITS = 4096
MAX_NESTING = 100
"""Includes and macro calls inside one another (a template including itself never ends)."""
_WIDE_FORMAT = re.compile(r"[%:{][^a-zA-Z%}]*\d{7,}")  # '%9999999s', '{:9999999}': huge padding


class TemplateLimit(jinja2.TemplateError):
    """A template went past a limit (size, time)."""


class OutsideProject(jinja2.TemplateError):
    """An override template that the build may not read (a link out, a FIFO…)."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"'{name}' {reason}")
        self.name = name
        self.reason = reason


def _check_size(value: Any) -> Any:
    if isinstance(value, (str, list, tuple, bytes)) and len(value) > MAX_OUTPUT:
        raise TemplateLimit(f"builds a value longer than {MAX_OUTPUT:,} characters")
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise TemplateLimit(f"builds a number over {MAX_INT_BITS} bits")
    return value


def _check_arguments(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    for arg in (*args, *kwargs.values()):
        if isinstance(arg, int) and not isinstance(arg, bool) and abs(arg) > MAX_OUTPUT:
            raise TemplateLimit(f"passes the number {arg} (at most {MAX_OUTPUT:,} here)")
        if isinstance(arg, str) and _WIDE_FORMAT.search(arg):
            raise TemplateLimit("formats with a width over a million characters")


class _GuardedCodeGenerator(CodeGenerator):
    def visit_Concat(self, node: Concat, frame: Frame) -> None:
        # `a ~ b` is not an operator the sandbox can intercept: check what it builds.
        self.write("environment.checked(")
        super().visit_Concat(node, frame)
        self.write(")")


class ProjectLoader(jinja2.BaseLoader):
    """Templates from a project folder, read only when they are regular files inside the project."""

    def __init__(self, root: Path, folder: Path) -> None:
        self.root = root
        self.folder = folder

    def path_of(self, name: str) -> Path | None:
        pieces = jinja2.loaders.split_template_path(name)  # refuses '..'
        path = self.folder.joinpath(*pieces)
        return path if path.exists() or path.is_symlink() else None

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str | None, Callable[[], bool] | None]:
        path = self.path_of(template)
        if path is None:
            raise jinja2.TemplateNotFound(template)
        try:
            raw = read_project_file(self.root, path)
        except ProjectFileError as e:
            raise OutsideProject(template, e.reason) from None
        return raw.decode("utf-8"), str(path), lambda: False


class SandboxedTemplates(ImmutableSandboxedEnvironment):
    """The sandbox, with limits on numbers, strings and output."""

    code_generator_class = _GuardedCodeGenerator
    intercepted_binops = frozenset({"*", "**", "+", "%", "//"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.filters = {name: _guarded(f) for name, f in self.filters.items()}

    @staticmethod
    def checked(value: Any) -> Any:
        return _check_size(value)

    def call_binop(self, context: jinja2.runtime.Context, operator: str, left: Any, right: Any) -> Any:
        ints = isinstance(left, int) and isinstance(right, int)
        big_power = ints and abs(left) > 1 and right > 0 and abs(left).bit_length() * right > MAX_INT_BITS
        if operator == "**" and big_power:
            raise TemplateLimit(f"builds a number over {MAX_INT_BITS} bits")
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(n, int) and len(seq) * n > MAX_OUTPUT:
                    raise TemplateLimit(f"builds a value longer than {MAX_OUTPUT:,} characters")
            if ints and left.bit_length() + right.bit_length() > MAX_INT_BITS:
                raise TemplateLimit(f"builds a number over {MAX_INT_BITS} bits")
        if operator == "%" and isinstance(left, str):
            _check_arguments((left,), {})
        return _check_size(super().call_binop(context, operator, left, right))

    def call(__self, __context: jinja2.runtime.Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _check_arguments(args, kwargs)
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str) and getattr(__obj, "__name__", "") in ("format", "format_map"):
            _check_arguments((owner,), {})
        return _check_size(super().call(__context, __obj, *args, **kwargs))


def _guarded(f: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(f)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        # The first argument(s) may be the environment or context (pass_context filters).
        _check_arguments(tuple(a for a in args if isinstance(a, (int, str)))[1:], kwargs)
        return _check_size(f(*args, **kwargs))

    return guarded


def _nesting(frame: FrameType | None) -> int:
    depth = 0
    while frame is not None and depth <= MAX_NESTING:
        depth += "__jinja_template__" in frame.f_globals
        frame = frame.f_back
    return depth


def render_bounded(template: jinja2.Template, context: dict[str, object]) -> str:
    """Render with the output and time limits; TemplateLimit when one is reached."""
    deadline = time.monotonic() + MAX_SECONDS

    produced: dict[int, int] = {}
    last: list[object] = [None]

    def trace(frame: FrameType, event: str, arg: Any) -> Any:
        if time.monotonic() > deadline:
            raise TemplateLimit(f"ran for more than {MAX_SECONDS:g} seconds (a runaway loop?)")
        if event == "call" and "__jinja_template__" in frame.f_globals and _nesting(frame) > MAX_NESTING:
            raise RecursionError("templates nested too deeply")
        if event == "return" and isinstance(arg, str) and "__jinja_template__" in frame.f_globals:
            # A template yielding output: the first to pass the limit is where it is made (the
            # error is raised when it resumes, so that its traceback shows the template's line).
            if arg is not last[0]:  # not an include passing on its partial's output
                produced[id(frame)] = produced.get(id(frame), 0) + len(arg)
                last[0] = arg
        elif event == "line" and produced.get(id(frame), 0) > MAX_OUTPUT:
            raise TemplateLimit(f"produces more than {MAX_OUTPUT:,} characters")
        return trace

    chunks: list[str] = []
    size = 0
    previous = sys.gettrace()
    sys.settrace(trace)
    try:
        stream: Iterator[str] = template.generate(**context)
        for chunk in stream:
            if size > MAX_OUTPUT:  # past the limit, and the template that made it raised nothing
                break
            size += len(chunk)
            chunks.append(chunk)
    finally:
        sys.settrace(previous)
    if size > MAX_OUTPUT:
        raise TemplateLimit(f"produces more than {MAX_OUTPUT:,} characters")
    return "".join(chunks)


__all__ = [
    "MAX_OUTPUT",
    "OutsideProject",
    "ProjectLoader",
    "SandboxedTemplates",
    "SecurityError",
    "TemplateLimit",
    "render_bounded",
]
