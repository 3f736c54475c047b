"""Standard output and error that never turn a finished build into a traceback.

stdout may be closed (`build-deck >&-`), full (`> /dev/full`), a pipe whose reader left
(`| head -1`) or unable to encode the text (`PYTHONIOENCODING=ascii`). None of that is a
reason to report a failure after packages and a lock were written: text that cannot be
written is dropped (and the first reason kept), text that cannot be encoded is escaped.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from typing import TextIO


class ForgivingStream(io.TextIOBase):
    """A text stream that drops what cannot be written instead of raising."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self._stream = stream
        self.error: OSError | None = None
        """Why writing stopped, once it has."""

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._stream, "encoding", None) or "utf-8"

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return "backslashreplace"

    def isatty(self) -> bool:
        try:
            return self.error is None and self._stream.isatty()
        except (OSError, ValueError):
            return False

    def fileno(self) -> int:
        return self._stream.fileno()

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if self.error is None:
            try:
                self._stream.write(text)
            except OSError as e:
                self._give_up(e)
            except ValueError:  # written to after being closed
                self._give_up(OSError("stream closed"))
        return len(text)

    def flush(self) -> None:
        if self.error is None:
            try:
                self._stream.flush()
            except OSError as e:
                self._give_up(e)
            except ValueError:
                self._give_up(OSError("stream closed"))

    def _give_up(self, error: OSError) -> None:
        self.error = error
        # What is still buffered would fail again when Python exits: send it nowhere instead.
        with contextlib.suppress(OSError, ValueError, AttributeError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)


def forgiving_streams() -> tuple[ForgivingStream, ForgivingStream]:
    """Replace sys.stdout and sys.stderr with forgiving streams (a closed one writes nowhere)."""
    wrapped = []
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if isinstance(stream, ForgivingStream):
            wrapped.append(stream)
            continue
        if stream is None:  # closed before we started
            stream = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - lives as long as the process
        with contextlib.suppress(AttributeError, ValueError, OSError):
            stream.reconfigure(errors="backslashreplace")
        forgiving = ForgivingStream(stream)
        setattr(sys, name, forgiving)
        wrapped.append(forgiving)
    return wrapped[0], wrapped[1]
