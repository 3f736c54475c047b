"""One process that sets Markdown up and converts texts while the main process reads the cards.

Loading Python-Markdown, its extensions and Pygments and setting them up costs a small project's
cold build about 0.1 s, before its first text is converted; none of it depends on the cards. With
a second core, the renderer hands the texts that need Markdown to this worker as the loader finds
them: the worker is forked at the first such text, sets Markdown up while the main process goes
on reading card files, and converts each batch in order. It converts with the same settings
(render.new_markdown) and a reset instance per text, as convert_chunks' workers do, so the HTML is
the same bytes the main process would make. A batch the worker could not convert, or a worker that
is gone, gives None: the caller converts those texts itself (and so fails, if it does, as a build
in one process would).
"""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import signal
import struct
import sys
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from .workerlife import begin_worker, only_fork_safe_threads


def can_fork() -> bool:
    """Whether a worker may be forked: fork exists, and no thread runs beside this one but ours
    that are safe to fork beside, such as the progress bar's (see workerlife.py)."""
    return hasattr(os, "fork") and only_fork_safe_threads()


# The worker is forked with os.fork and talks through two pipes, each message pickled after its
# length: multiprocessing's Process and Pipe do the same, but importing and starting them cost
# the main process about 10 ms before the fork.
_LENGTH = struct.Struct("!Q")
_SEND_AT = 4000
"""Characters of batches held before they are sent together (the first batch goes at once, the
rest at the latest when their HTML is asked for): each message wakes the worker's reading
thread, which on a busy machine can cost the main process its turn on a core. Measured on the
shipped deck (20 batches, 13,000 characters), the main process waited 4-45 ms in sending."""


def _send(fd: int, message: object) -> None:
    data = pickle.dumps(message, pickle.HIGHEST_PROTOCOL)
    view = memoryview(_LENGTH.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view) :]


def _receive(fd: int) -> Any:
    """The next message (EOFError: the other end is closed, or closed midway)."""
    (length,) = _LENGTH.unpack(_read(fd, _LENGTH.size))
    return pickle.loads(_read(fd, length))


def _read(fd: int, size: int) -> bytes:
    chunks = []
    while size:
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _serve(texts_in: int, html_out: int, setup: Callable[[], Any], main_ends: tuple[int, ...]) -> None:
    """The worker: convert each batch received, in order, until None (or the main process is gone)."""
    import queue

    # Forked, this process holds the main process's ends of the pipes too: closed, the main
    # process's end is the only one, so its death (even by SIGKILL, no `finally` run) is an EOF
    # here, and the worker ends rather than wait on forever with the build lock's descriptor.
    for end in main_ends:
        os.close(end)

    begin_worker()
    batches: queue.SimpleQueue[list[str] | None] = queue.SimpleQueue()

    def receive() -> None:
        # Always reading, so that the main process never waits to send while this one waits to
        # send it HTML it has not read yet.
        while True:
            try:
                received: list[list[str]] | None = _receive(texts_in)
            except (EOFError, OSError):
                received = None
            if received is None:
                batches.put(None)
                return
            for batch in received:
                batches.put(batch)

    threading.Thread(target=receive, daemon=True).start()
    md = None
    while (batch := batches.get()) is not None:
        try:
            if md is None:
                md = setup()
            html: list[str] | None = [md.reset().convert(text) for text in batch]
        except Exception:  # the main process converts this batch again, and fails as it would
            html = None
        try:
            _send(html_out, html)
        except (OSError, ValueError):  # gone, or HTML that cannot be sent
            return


class MarkdownWorker:
    """The worker process and the batches sent to it whose HTML is not taken yet."""

    def __init__(self, setup: Callable[[], Any]) -> None:
        """`setup`: a new Markdown instance (called in the worker, before its first batch)."""
        for stream in (sys.stdout, sys.stderr):  # (or the worker's copy of what they hold could show)
            with contextlib.suppress(OSError, ValueError, AttributeError):
                stream.flush()
        ends: list[int] = []
        try:
            for _ in range(2):
                ends += os.pipe()
            pid = os.fork()
        except BaseException:  # (no process to be had, or no pipe)
            for end in ends:
                os.close(end)
            raise
        texts_in, self._texts_out, self._html_in, html_out = ends
        if pid == 0:  # the worker, which ends here whatever happens
            try:
                _serve(texts_in, html_out, setup, (self._texts_out, self._html_in))
            finally:
                os._exit(0)
        self.pid: int | None = pid
        """The worker's process id, until it has ended."""
        os.close(texts_in)  # (the worker's ends)
        os.close(html_out)
        self._poll = select.poll()
        self._poll.register(self._html_in, select.POLLIN)
        self._sent: deque[list[str]] = deque()
        self._held: list[list[str]] = []
        """Batches sent but not yet written to the worker."""
        self._held_chars = 0
        self.texts = 0
        """Texts sent so far."""
        self.chars = 0
        """Their characters."""

    def send(self, texts: list[str]) -> None:
        """Convert these texts, after those sent before."""
        if not texts:
            return
        chars = sum(map(len, texts))
        self._sent.append(texts)
        self._held.append(texts)
        self._held_chars += chars
        if self.texts == 0 or self._held_chars >= _SEND_AT:
            self.flush()
        self.texts += len(texts)
        self.chars += chars

    def flush(self) -> None:
        """Write the batches held to the worker now."""
        if not self._held:
            return
        if self.pid is not None:
            try:
                _send(self._texts_out, self._held)
            except (OSError, ValueError):
                self._gone()
        self._held = []
        self._held_chars = 0

    @property
    def waiting(self) -> bool:
        """Whether a batch sent is not taken yet."""
        return bool(self._sent)

    @property
    def ready(self) -> bool:
        """Whether the oldest batch's HTML can be taken without waiting (or the worker is gone)."""
        self.flush()
        return self.pid is None or bool(self._poll.poll(0))

    def take(self) -> tuple[list[str], list[str] | None]:
        """The oldest batch not taken yet, and its HTML (None if the worker did not convert it)."""
        self.flush()
        texts = self._sent.popleft()
        html = None
        if self.pid is not None:
            try:
                html = _receive(self._html_in)
            except (EOFError, OSError):
                self._gone()
        if html is not None and len(html) != len(texts):
            html = None
        return texts, html

    def close(self) -> None:
        """Stop the worker (a batch not taken yet is not converted to the end)."""
        if self.pid is None:
            return
        with contextlib.suppress(OSError, ValueError):
            _send(self._texts_out, None)
        self._end(kill=bool(self._sent))
        self._sent.clear()
        self._held = []

    def _gone(self) -> None:
        """The worker died: what it was sent is converted by the caller."""
        self._end(kill=True)

    def _end(self, *, kill: bool) -> None:
        assert self.pid is not None
        os.close(self._texts_out)
        os.close(self._html_in)
        if kill:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)
        self.pid = None
