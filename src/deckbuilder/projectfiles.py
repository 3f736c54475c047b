"""Which files a build may read: a project is untrusted input, so only its own regular files.

A path qualifies when it resolves (symlinks followed) to a regular file inside the project root.
A FIFO would block the build, a device or a link out of the project would read the builder's
machine into a package.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


class ProjectFileError(OSError):
    """A file the build may not read; str() is the reason, e.g. "links outside the project"."""

    def __init__(self, reason: str, path: Path) -> None:
        super().__init__(reason)
        self.reason = reason
        self.path = path

    def __str__(self) -> str:
        return self.reason


def refusal(root: Path, path: Path) -> str | None:
    """Why the build may not read `path` as a file of the project at `root`, or None."""
    try:
        real = path.resolve(strict=True)
    except FileNotFoundError:
        return "links to a file that does not exist" if path.is_symlink() else "not found"
    except (OSError, RuntimeError) as e:  # a symlink loop, a folder we may not enter
        return _reason(e)
    if not real.is_relative_to(root.resolve()):
        return "links to a file outside the project"
    try:
        mode = real.stat().st_mode
    except OSError as e:
        return _reason(e)
    if stat.S_ISDIR(mode):
        return "is a folder, not a file"
    if not stat.S_ISREG(mode):
        return "is not a regular file (a FIFO, socket or device)"
    if not os.access(real, os.R_OK):
        return "cannot be read: permission denied"
    return None


def read_project_file(root: Path, path: Path) -> bytes:
    """The bytes of a project file; ProjectFileError when it may not or cannot be read."""
    reason = refusal(root, path)
    if reason is not None:
        raise ProjectFileError(reason, path)
    try:
        return path.read_bytes()
    except OSError as e:
        raise ProjectFileError(_reason(e), path) from None


def _reason(error: BaseException) -> str:
    if isinstance(error, PermissionError):
        return "cannot be read: permission denied"
    if isinstance(error, RuntimeError) or getattr(error, "errno", None) == 40:  # ELOOP
        return "is a symlink loop"
    return f"cannot be read: {getattr(error, 'strerror', None) or error}"
