"""How a worker process of a build lives: it leaves Ctrl-C to the main process, and it ends when
the main process has ended, however that ended.

A main process killed outright (SIGKILL, SIGTERM, a closed terminal) runs no `finally`: its
workers are never told to stop. A process pool's worker then waits on its queue forever (the
other workers, forked from the same process, hold the queue's other ends open, so no end of
file ever comes), and so does the Markdown worker. Each watches its parent instead.

A worker is forked only beside threads known to be safe to fork beside (`fork_safe`): a forked
process gets a copy of every lock as it was, and a lock another thread held then stays held in
the worker for good.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import weakref

_WATCH_EVERY = 0.5
"""Seconds between two looks at the parent (a worker outlives its main process by at most this)."""


_FORK_SAFE: weakref.WeakSet[threading.Thread] = weakref.WeakSet()


def fork_safe(thread: threading.Thread) -> threading.Thread:
    """Mark `thread` as one a worker may be forked beside: it holds no lock a worker could need
    while a fork may happen (see report.ProgressBar)."""
    _FORK_SAFE.add(thread)
    return thread


def only_fork_safe_threads() -> bool:
    """Whether every thread but this one is marked fork_safe (a thread of someone else's, such
    as serve's web server or a process pool's, may hold a lock the worker would wait for)."""
    this = threading.current_thread()
    return all(thread is this or thread in _FORK_SAFE for thread in threading.enumerate())


def begin_worker() -> None:
    """Called first in each worker process (a pool's initializer)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: a worker would print a traceback of its own
    threading.Thread(target=_end_with, args=(os.getppid(),), daemon=True).start()


def _end_with(parent: int) -> None:
    while os.getppid() == parent:  # (an orphan's parent becomes init, or a subreaper)
        time.sleep(_WATCH_EVERY)
    os._exit(1)
