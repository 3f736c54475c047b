"""Card files parsed by worker processes, ahead of the loader that asks for them.

Reading YAML with the lines of every value is a fifth of a cold build of a large project, and
one file does not depend on another: with several cores, the files are parsed by one worker
process each while the loader takes their cards, in its own order, as they come. A worker runs
the same `load_card_file` on the same bytes, so the cards and problems are the same; the loader
still reads each file itself and takes a worker's result only for these very bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from .model import Card, Diagnostic
from .workerlife import begin_worker

if TYPE_CHECKING:  # (concurrent.futures brings logging: imported only by a build that pools)
    from concurrent.futures import Future, ProcessPoolExecutor

POOL_MIN_BYTES = 2_000_000
"""Below this much YAML to parse, starting workers costs more than it saves: card files of the
simplest shapes are read without libyaml (yamlsource._simple_document), at about 10 MB/s, and
sending their cards back from a worker costs about as much. Measured on the benchmark's mixed
projects, cold, wall time without workers vs with: 462 kB 0.83 vs 1.02 s, 1.55 MB 2.09 vs 2.06 s
(a small project then has its second core for its Markdown worker, see markdownworker.py)."""

_Parsed = tuple[tuple[Card, ...], list[Diagnostic]]
Parse = Callable[[Path, str, list[Diagnostic], bytes], tuple[Card, ...]]
"""load.load_card_file: a file's cards from its bytes, its problems appended to the list."""


def _parse(parse: Parse, path: Path, rel: str, raw: bytes) -> _Parsed:
    problems: list[Diagnostic] = []
    return parse(path, rel, problems, raw), problems


def pays(workers: int, sizes: list[int]) -> bool:
    """Whether that many workers are worth starting for card files of these sizes (in bytes)."""
    return workers >= 2 and len(sizes) >= 2 and sum(sizes) >= POOL_MIN_BYTES


class CardFilePool:
    """Workers parsing the card files given, if they are many and large enough to pay."""

    def __init__(self, parse: Parse, files: list[tuple[Path, str, bytes]], workers: int) -> None:
        self._pool: ProcessPoolExecutor | None = None
        self._ahead: dict[str, tuple[bytes, Future[_Parsed]]] = {}
        if not pays(workers, [len(raw) for _, _, raw in files]):
            return
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("fork" if "fork" in methods else None)
        self._pool = ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=begin_worker)
        for path, rel, raw in files:  # the loader asks in this order: the first come first
            self._ahead[rel] = (raw, self._pool.submit(_parse, parse, path, rel, raw))

    def parsed(self, rel: str, raw: bytes) -> _Parsed | None:
        """What a worker made of `raw`, the bytes of card file `rel`, or None if it did not parse them."""
        ahead = self._ahead.pop(rel, None)
        if ahead is None or ahead[0] != raw:
            return None
        return ahead[1].result()

    def parsed_file(self, rel: str, path: Path) -> _Parsed | None:
        """`parsed` of the bytes `path` holds now (None if it cannot be read: the loader says why)."""
        if rel not in self._ahead:
            return None
        try:
            raw = path.read_bytes()
        except OSError:
            return None
        return self.parsed(rel, raw)

    def close(self) -> None:
        """Stop the workers (after the loader took what it needed)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
