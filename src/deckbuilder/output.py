"""Writing results: every file of a build lands completely, or none replaces its old copy."""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, TypeAlias

Content: TypeAlias = bytes | Callable[[BinaryIO], None]
"""A file's bytes, or what writes them into the open (staged) file, so that a big file never
has to be held whole in memory."""

# Ctrl-C or a kill during the writes would leave some targets new and others old, or a staged
# file behind: they wait until every file is in place (then they act as usual).
_DEFERRED = {getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)}


def write_atomic(path: Path, content: Content) -> None:
    write_all({path: content})


def write_all(files: dict[Path, Content]) -> None:
    """Stage every file beside its target, then swap them all in.

    An OSError names the target (not a temporary file); when staging fails no target has been
    touched. Only the final renames can fail half-way, which needs the folder to break between
    two renames in it.
    """
    with _signals_deferred():
        _write_all(files)


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _DEFERRED)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _write_all(files: dict[Path, Content]) -> None:
    staged: dict[Path, Path] = {}
    try:
        for target, content in files.items():
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                fd, name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
                staged[target] = tmp = Path(name)
                with os.fdopen(fd, "wb") as f:
                    if isinstance(content, bytes):
                        f.write(content)
                    else:
                        content(f)
                os.chmod(tmp, 0o644)
                if target.is_dir():
                    raise IsADirectoryError(21, "Is a directory", str(target))
            except OSError as e:
                raise OSError(e.errno, e.strerror, str(target)) from None
        for target, staged_path in staged.items():
            try:
                os.replace(staged_path, target)
            except OSError as e:
                raise OSError(e.errno, e.strerror, str(target)) from None
    finally:
        for leftover in staged.values():
            leftover.unlink(missing_ok=True)
