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
import threading
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from multiprocessing.connection import Connection
    from multiprocessing.process import BaseProcess


def can_fork() -> bool:
    """Whether a worker may be forked: fork exists, and no thread but this one runs (a thread of
    someone else's, such as serve's web server, may hold a lock the worker would then wait for)."""
    import multiprocessing

    return "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1


def _serve(
    texts_in: Connection, html_out: Connection, setup: Callable[[], Any], main_ends: tuple[Connection, ...]
) -> None:
    """The worker: convert each batch received, in order, until None (or the main process is gone)."""
    import queue

    from .workerlife import begin_worker

    # Forked, this process holds the main process's ends of the pipes too: closed, the main
    # process's end is the only one, so its death (even by SIGKILL, no `finally` run) is an EOF
    # here, and the worker ends rather than wait on forever with the build lock's descriptor.
    for end in main_ends:
        end.close()

    begin_worker()
    batches: queue.SimpleQueue[list[str] | None] = queue.SimpleQueue()

    def receive() -> None:
        # Always reading, so that the main process never waits to send while this one waits to
        # send it HTML it has not read yet.
        while True:
            try:
                batch = texts_in.recv()
            except (EOFError, OSError):
                batch = None
            batches.put(batch)
            if batch is None:
                return

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
            html_out.send(html)
        except (OSError, ValueError):  # gone, or HTML that cannot be sent
            return


class MarkdownWorker:
    """The worker process and the batches sent to it whose HTML is not taken yet."""

    def __init__(self, setup: Callable[[], Any]) -> None:
        """`setup`: a new Markdown instance (called in the worker, before its first batch)."""
        import multiprocessing

        context = multiprocessing.get_context("fork")
        self._texts_in, self._texts_out = context.Pipe(duplex=False)
        self._html_in, self._html_out = context.Pipe(duplex=False)
        self._process: BaseProcess | None = context.Process(
            target=_serve,
            args=(self._texts_in, self._html_out, setup, (self._texts_out, self._html_in)),
            daemon=True,
        )
        self._process.start()
        self._texts_in.close()  # (the worker's ends)
        self._html_out.close()
        self._sent: deque[list[str]] = deque()
        self.texts = 0
        """Texts sent so far."""
        self.chars = 0
        """Their characters."""

    def send(self, texts: list[str]) -> None:
        """Convert these texts, after those sent before."""
        if not texts:
            return
        if self._process is not None:
            try:
                self._texts_out.send(texts)
            except (OSError, ValueError):
                self._gone()
        self._sent.append(texts)
        self.texts += len(texts)
        self.chars += sum(map(len, texts))

    @property
    def waiting(self) -> bool:
        """Whether a batch sent is not taken yet."""
        return bool(self._sent)

    @property
    def ready(self) -> bool:
        """Whether the oldest batch's HTML can be taken without waiting (or the worker is gone)."""
        return self._process is None or self._html_in.poll()

    def take(self) -> tuple[list[str], list[str] | None]:
        """The oldest batch not taken yet, and its HTML (None if the worker did not convert it)."""
        texts = self._sent.popleft()
        html = None
        if self._process is not None:
            try:
                html = self._html_in.recv()
            except (EOFError, OSError):
                self._gone()
        if html is not None and len(html) != len(texts):
            html = None
        return texts, html

    def close(self) -> None:
        """Stop the worker (a batch not taken yet is not converted to the end)."""
        if self._process is None:
            return
        with contextlib.suppress(OSError, ValueError):
            self._texts_out.send(None)
        self._texts_out.close()
        self._html_in.close()
        if self._sent:
            self._process.kill()
        self._process.join()
        self._process = None
        self._sent.clear()

    def _gone(self) -> None:
        """The worker died: what it was sent is converted by the caller."""
        assert self._process is not None
        self._process.kill()
        self._process.join()
        self._process = None
