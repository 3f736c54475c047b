"""One writing build at a time per project, so that a package and a lock come from one build.

The lock is an advisory `flock` on the project folder itself: no file to create, commit or
ignore, and the kernel drops it when the process ends, however it ends. A second build waits
for the first (saying so once) and then reads what the first wrote.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Callable, Iterator
from pathlib import Path

_HELD: set[int] = set()
"""The descriptors holding this process's build locks."""


def _not_in_a_fork() -> None:
    # A forked worker would share the lock (it follows the open file, not the process) and
    # keep it after this process ended: closed there, the lock is this process's alone.
    for fd in _HELD:
        with contextlib.suppress(OSError):
            os.close(fd)
    _HELD.clear()


os.register_at_fork(after_in_child=_not_in_a_fork)


@contextlib.contextmanager
def one_build_at_a_time(root: Path, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold the project's build lock; call `on_wait` once if another build holds it."""
    try:
        fd = os.open(root, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:  # not a folder we can open: the build will say what is wrong with it
        yield
        return
    _HELD.add(fd)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if on_wait is not None:
                on_wait()
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:  # a file system without flock (some network mounts): build unlocked
            pass
        yield
    finally:
        _HELD.discard(fd)
        os.close(fd)  # releases the lock
