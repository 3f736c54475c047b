"""Markdown converted by a worker process while the cards are read (markdownworker.py) gives the
HTML, the package bytes and the problems, in the same order, that a build in one process gives."""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from deckbuilder import markdownworker, render
from deckbuilder.build import build
from deckbuilder.markdownworker import MarkdownWorker
from deckbuilder.model import DeckError, Diagnostic
from deckbuilder.notetypes import TemplateSet
from deckbuilder.report import ProgressBar

from .conftest import DATA

EPOCH = "1790000000"

_PIECES = [
    "plain words",
    "*em*",
    "**strong**",
    "`code`",
    "$x_1^2$",
    "$$\\sum_i x_i$$",
    "\\[a + b\\]",
    "<https://example.org/a?b=1>",
    "www.example.com",
    "[a link](https://example.org)",
    "<b>raw</b>",
    "<my-tag>",
    "a < b & c",
    "é ü 😀",
    "{{c1::cloze}}",
    "\n\n- one\n- two\n\n",
    "\n\n1. first\n2. second\n\n",
    "\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n",
    "\n\n```python\ndef f(x):\n    return {'a': x}\n```\n\n",
    "\n\n```sql\nSELECT a FROM t WHERE b > 1;\n```\n\n",
    "\n\n```nosuchlanguage\nplain\n```\n\n",
    "\n\n    indented code\n\n",
    "\n\n> a quote\n\n",
    "\n\n# A heading\n\n",
    "![an image](images/diagram.png)",
    "\\",
    "  \n",
]


def _texts(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(_PIECES) for _ in range(rng.randint(1, 6))) for _ in range(count)]


def test_the_worker_converts_every_text_as_this_process_does() -> None:
    texts = _texts(300, seed=1)
    md = render.new_markdown()
    expected = [md.reset().convert(text) for text in texts]
    worker = MarkdownWorker(render.new_markdown)
    sizes = iter(random.Random(2).choices([1, 2, 5, 17], k=len(texts)))
    start = 0
    while start < len(texts):
        end = start + next(sizes)
        worker.send(texts[start:end])
        start = end
    got: list[str] = []
    sent: list[str] = []
    while worker.waiting:
        batch, html = worker.take()
        assert html is not None
        sent += batch
        got += html
    worker.close()
    assert sent == texts
    assert got == expected


def test_small_batches_are_written_to_the_worker_together(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each message wakes the worker: the first batch goes at once (the worker sets Markdown up),
    # the others wait until they make _SEND_AT characters or their HTML is asked for.
    written: list[object] = []
    real = markdownworker._send

    def counted(fd: int, message: object) -> None:
        if os.getpid() == parent:
            written.append(message)
        real(fd, message)

    parent = os.getpid()
    monkeypatch.setattr(markdownworker, "_send", counted)
    texts = _texts(40, seed=4)
    worker = MarkdownWorker(render.new_markdown)
    for text in texts:
        worker.send([text])
    assert 1 <= len(written) < 40 and written[0] == [[texts[0]]]
    md = render.new_markdown()
    assert [worker.take() for _ in texts] == [([text], [md.reset().convert(text)]) for text in texts]
    assert [
        text for batches in written for batch in batches for text in batch
    ] == texts  # (each once, in order)
    worker.close()


def test_a_batch_the_worker_fails_on_or_a_worker_gone_is_none() -> None:
    parent = os.getpid()

    def setup() -> Any:
        md = render.new_markdown()
        real = md.convert

        def convert(text: str) -> str:
            if os.getpid() != parent and text == "fail":
                raise ValueError(text)
            if os.getpid() != parent and text == "die":
                os._exit(3)
            return real(text)

        md.convert = convert  # type: ignore[method-assign]
        return md

    worker = MarkdownWorker(setup)
    for batch in (["*a*"], ["fail", "*b*"], ["*c*"], ["die"], ["*d*"]):
        worker.send(batch)
    md = render.new_markdown()
    assert worker.take() == (["*a*"], [md.reset().convert("*a*")])
    assert worker.take() == (["fail", "*b*"], None)
    assert worker.take() == (["*c*"], [md.reset().convert("*c*")])
    assert worker.take() == (["die"], None)
    assert worker.take() == (["*d*"], None)  # gone: the caller converts
    worker.send(["*e*"])
    assert worker.take() == (["*e*"], None)
    worker.close()


def _project(root: Path, files: int = 6) -> Path:
    """Card files of mixed texts (Markdown, simple, images, repeated texts), warnings only."""
    shutil.copytree(DATA / "sample" / "images", root / "images")
    (root / "decks").mkdir(parents=True)
    (root / "decks" / "mixed.yaml").write_text(
        "name: Mixed\ndescription: 'A deck of *mixed* cards'\ncards: ['cards/*.yaml']\noutput: mixed.apkg\n"
    )
    (root / "cards").mkdir()
    texts = iter(_texts(files * 40, seed=3))
    for f in range(files):
        lines = ["cards:"]
        for i in range(20):
            front, back = f"Card {i}: {next(texts)}", f"Answer {i}: {next(texts)}"
            if i % 5 == 0:
                front = "What is *simple*?"  # the same simple text in every file
            if i % 7 == 0:
                back = "| a | b |\n|---|---|\n| same | table |"  # the same Markdown in every file
            front, back = (t.replace("images/", "../images/").replace("{{c1::", "{{") for t in (front, back))
            lines += [
                f"  - id: card-{f}-{i}",
                f"    front: {json.dumps(front, ensure_ascii=False)}",  # (JSON's strings are YAML's)
                f"    back: {json.dumps(back, ensure_ascii=False)}",
                f"    source: https://example.org/{f}",
            ]
        (root / "cards" / f"part-{f}.yaml").write_text("\n".join(lines) + "\n")
    return root


def _outcome(root: Path, out: Path, **options: Any) -> tuple[bytes, list[Diagnostic], bytes]:
    try:
        result = build(root, out, **options)
    except DeckError as e:
        return b"", e.diagnostics, b""
    return (out / "mixed.apkg").read_bytes(), result.warnings, (out / "mixed.release-notes.md").read_bytes()


@pytest.fixture
def workers_made(monkeypatch: pytest.MonkeyPatch) -> list[MarkdownWorker]:
    """The Markdown workers builds start from now on."""
    made: list[MarkdownWorker] = []
    real = MarkdownWorker.__init__

    def spy(self: MarkdownWorker, setup: Callable[[], Any]) -> None:
        real(self, setup)
        made.append(self)

    monkeypatch.setattr(MarkdownWorker, "__init__", spy)
    return made


def _cold(render_cache_dir: Path) -> None:
    shutil.rmtree(render_cache_dir, ignore_errors=True)


def test_a_build_converting_while_it_reads_gives_the_same_package_and_problems(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    render_cache_dir: Path,
    workers_made: list[MarkdownWorker],
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    root = _project(tmp_path / "p")
    alone = _outcome(root, tmp_path / "alone", workers=1, cache=False)
    assert not workers_made and alone[0] and alone[1]  # (a package, and warnings to compare)
    _cold(render_cache_dir)
    early = _outcome(root, tmp_path / "early", workers=2)
    assert len(workers_made) == 1
    assert early == alone
    assert _outcome(root, tmp_path / "early-no-cache", workers=2, cache=False) == alone
    assert len(workers_made) == 2
    assert _outcome(root, tmp_path / "warm", workers=2) == alone
    assert len(workers_made) == 2  # nothing read afresh: nothing to convert early
    with (root / "cards" / "part-2.yaml").open("a") as f:
        f.write("  - id: new-card\n    front: '# A new heading'\n    back: B\n")
    edited = _outcome(root, tmp_path / "edited", workers=2)
    assert len(workers_made) == 3
    assert edited == _outcome(root, tmp_path / "edited-alone", workers=1, cache=False)


def test_problems_come_in_the_same_order(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    render_cache_dir: Path,
    workers_made: list[MarkdownWorker],
) -> None:
    root = _project(tmp_path / "p")
    broken = root / "cards" / "part-1.yaml"
    broken.write_text(
        broken.read_text()
        + "  - id: broken\n    front: '![gone](../images/missing.png) and ![web](https://x.org/a.png)'\n"
        "    back: '{{c1::not a cloze card}}'\n"
        "  - id: broken-too\n    front: '```python\\nx\\n```\\n\\n![gone](nowhere.png)'\n    back: B\n"
    )
    alone = _outcome(root, tmp_path / "alone", workers=1, cache=False)
    _cold(render_cache_dir)
    early = _outcome(root, tmp_path / "early", workers=2)
    assert workers_made
    assert not alone[0] and any(d.code == "image-missing" for d in alone[1])
    assert early == alone


def test_many_texts_go_to_the_pool_after_the_first(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    render_cache_dir: Path,
    workers_made: list[MarkdownWorker],
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    root = _project(tmp_path / "p")
    alone = _outcome(root, tmp_path / "alone", workers=1, cache=False)
    pooled: list[int] = []
    real = render.convert_chunks

    def spy(texts: list[str], md: Any, workers: int) -> Iterator[list[str]]:
        pooled.append(len(texts))
        return real(texts, md, workers)

    monkeypatch.setattr(render, "convert_chunks", spy)
    monkeypatch.setattr(render, "POOL_MIN_TEXTS", 50)  # the worker takes fewer; the pool the rest
    _cold(render_cache_dir)
    assert _outcome(root, tmp_path / "early", workers=2) == alone
    assert workers_made and workers_made[0].texts < 50
    assert pooled and pooled[0] >= 50


def test_without_fork_or_beside_another_thread_this_process_converts(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    render_cache_dir: Path,
    workers_made: list[MarkdownWorker],
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    root = _project(tmp_path / "p")
    alone = _outcome(root, tmp_path / "alone", workers=1, cache=False)
    with monkeypatch.context() as patch:
        patch.delattr(os, "fork")  # (as on Windows)
        assert not markdownworker.can_fork()
        assert _outcome(root, tmp_path / "no-fork", workers=2, cache=False) == alone
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert not markdownworker.can_fork()
        assert _outcome(root, tmp_path / "thread", workers=2, cache=False) == alone
    finally:
        stop.set()
        other.join()
    assert not workers_made
    assert markdownworker.can_fork()


def test_a_worker_that_fails_leaves_the_conversions_to_this_process(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    render_cache_dir: Path,
    workers_made: list[MarkdownWorker],
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    root = _project(tmp_path / "p")
    alone = _outcome(root, tmp_path / "alone", workers=1, cache=False)
    parent = os.getpid()
    real = render.new_markdown

    def dying() -> Any:
        if os.getpid() != parent:
            os._exit(1)
        return real()

    monkeypatch.setattr(render, "new_markdown", dying)
    _cold(render_cache_dir)
    assert _outcome(root, tmp_path / "early", workers=2) == alone
    assert workers_made


def test_simple_texts_start_no_worker(
    make_project: Callable[..., Path], tmp_path: Path, workers_made: list[MarkdownWorker]
) -> None:
    cards = "".join(f"  - id: c-{i}\n    front: What is *{i}*?\n    back: '`{i}`'\n" for i in range(50))
    root = make_project({"decks/d.yaml": "name: D\n", "cards/c.yaml": "cards:\n" + cards})
    build(root, tmp_path / "out", workers=2)
    assert not workers_made


def test_a_build_that_stops_midway_leaves_no_worker_and_frees_the_build_lock(
    tmp_path: Path, render_cache_dir: Path, workers_made: list[MarkdownWorker]
) -> None:
    # The worker is forked while the cards are read, with the build lock held: it inherits the
    # lock's descriptor (flock locks follow the open file, not the process). A build that stops
    # after the fork and before its conversions are taken (a deck named that the project does
    # not have; an error or Ctrl-C while reading or rendering) must stop the worker, or the
    # worker runs on and holds the project's build lock after the build returned.
    import fcntl

    from deckbuilder.build import UnknownDeck

    root = _project(tmp_path / "p")
    pids: list[int] = []
    real_fork = os.fork

    def fork() -> int:
        pid = real_fork()
        if pid:
            pids.append(pid)
        return pid

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "fork", fork)
        with pytest.raises(UnknownDeck):
            build(root, tmp_path / "out", ["No such deck"], workers=2, cache=False)
    assert workers_made and len(pids) == 1
    assert all(worker.pid is None for worker in workers_made)
    with pytest.raises(ChildProcessError):  # ended, and its end collected
        os.waitpid(pids[0], os.WNOHANG)
    fd = os.open(root, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # BlockingIOError: still held
    finally:
        os.close(fd)


@pytest.mark.parametrize("ready", [False, True])
def test_what_is_done_while_the_worker_converts_reports_as_before(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    render_cache_dir: Path,
    workers_made: list[MarkdownWorker],
    ready: bool,
) -> None:
    # Two decks of one identity, a lock that is not JSON, a template of the project's: the locks
    # and the templates are read while the worker converts (when its HTML is not ready), and
    # the notes are still checked (the identities' problems come after the cards' checks).
    root = _project(tmp_path / "p")
    (root / "decks" / "mixed.yaml").write_text("name: Mixed\nidentity: same\ncards: ['cards/*.yaml']\n")
    (root / "decks" / "other.yaml").write_text("name: Other\nidentity: same\ncards: ['cards/part-1.yaml']\n")
    (root / "decks" / "other.lock.json").write_text("{not json")
    (root / "templates").mkdir()
    (root / "templates" / "basic.front.html").write_text("[[ card ]]: {{Front}}")
    (root / "cards" / "part-9.yaml").write_text(
        "cards:\n  - id: two-in-one\n    type: cloze\n    text: 'a {{c1,2::b}}'\n"
    )
    alone = _outcome(root, tmp_path / "alone", workers=1, cache=False)
    assert {"duplicate-identity", "lock-unreadable", "cloze-genanki"} <= {d.code for d in alone[1]}
    monkeypatch.setattr(MarkdownWorker, "ready", property(lambda self: ready))
    compiled: list[bool] = []
    real = TemplateSet.compile_ahead
    monkeypatch.setattr(TemplateSet, "compile_ahead", lambda self: compiled.append(True) or real(self))
    _cold(render_cache_dir)
    assert _outcome(root, tmp_path / "early", workers=2) == alone
    assert workers_made and compiled == ([] if ready else [True])


def test_no_worker_is_forked_beside_the_card_file_pools_threads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, render_cache_dir: Path
) -> None:
    # can_fork is asked as the build starts, but the worker is forked at the first text that
    # needs Markdown: by then a large project's card files are being parsed by a process pool,
    # whose threads (the executor's, its queue's feeder) run beside this one. Forking then is
    # what can_fork is there to refuse (a lock one of them holds stays held in the worker).
    from deckbuilder import cardfilepool

    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    root = _project(tmp_path / "p")
    alone = _outcome(root, tmp_path / "alone", workers=1, cache=False)
    threads: list[int] = []
    pools: list[bool] = []
    real_worker, real_pool = MarkdownWorker.__init__, cardfilepool.CardFilePool.__init__

    def worker(self: MarkdownWorker, setup: Callable[[], Any]) -> None:
        threads.append(threading.active_count())
        real_worker(self, setup)

    def pool(self: cardfilepool.CardFilePool, *args: Any) -> None:
        real_pool(self, *args)
        pools.append(self._pool is not None)

    monkeypatch.setattr(MarkdownWorker, "__init__", worker)
    monkeypatch.setattr(cardfilepool.CardFilePool, "__init__", pool)
    monkeypatch.setattr(cardfilepool, "POOL_MIN_BYTES", 1)  # (the project's files pooled)
    assert _outcome(root, tmp_path / "pooled", workers=2, cache=False) == alone
    assert pools == [True]
    assert threads in ([], [1])


def _ended(pid: int) -> bool:
    """Whether process `pid` has ended (a zombie not reaped yet has)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[0] == "Z"
    except FileNotFoundError:
        return True


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads /proc")
def test_a_build_killed_leaves_no_worker_and_no_build_lock(tmp_path: Path) -> None:
    # A build killed outright (SIGKILL, SIGTERM, a closed terminal: no `finally` runs) cannot
    # stop its workers, the Markdown worker and a pool's. They used to wait on forever, each
    # holding the build lock's descriptor (forked while the lock was held): every later build of
    # the project said "another build of this project is running: waiting for it…" for good.
    import fcntl
    import subprocess
    import sys
    import time

    script = (
        "import multiprocessing, os, signal, sys\n"
        "from pathlib import Path\n"
        "from deckbuilder import render\n"
        "from deckbuilder.buildlock import one_build_at_a_time\n"
        "from deckbuilder.markdownworker import MarkdownWorker\n"
        "with one_build_at_a_time(Path(sys.argv[1])):\n"
        "    worker = MarkdownWorker(render.new_markdown)\n"
        "    worker.send(['*a*'])\n"
        "    assert worker.take()[1] is not None\n"  # (it runs, and waits for more)
        "    chunks = render.convert_chunks(['*x* y'] * 20000, render.new_markdown(), 2)\n"
        "    next(chunks)\n"  # (the pool's workers convert the rest)
        "    print(worker.pid, *(p.pid for p in multiprocessing.active_children()), flush=True)\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    printed = tmp_path / "pids"
    with printed.open("w") as out:  # (a file: workers left behind would hold a pipe open)
        killed = subprocess.run(
            [sys.executable, "-c", script, str(tmp_path)], check=False, timeout=120, stdout=out
        )
    assert killed.returncode == -9
    workers = [int(pid) for pid in printed.read_text().split()]
    assert len(workers) == 3
    try:
        fd = os.open(tmp_path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # BlockingIOError: a worker holds it
        finally:
            os.close(fd)
        deadline = time.monotonic() + 20
        while not all(map(_ended, workers)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [pid for pid in workers if not _ended(pid)] == []
    finally:
        for pid in workers:  # (what the build left behind is not the suite's to leave)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)


class _SlowStream(io.StringIO):
    """A stream whose writes hold a lock for a while, as a real file's buffer does."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()

    def write(self, text: str) -> int:
        with self.lock:
            time.sleep(0.02)
            return super().write(text)


def test_an_author_on_a_terminal_gets_the_worker_beside_the_progress_bar(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    render_cache_dir: Path,
    workers_made: list[MarkdownWorker],
) -> None:
    # A build on a terminal draws its progress bar from a thread of its own. can_fork refused
    # every thread but this one, so an author's cold builds converted in one process.
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    root = _project(tmp_path / "p")
    alone = _outcome(root, tmp_path / "alone", workers=1, cache=False)
    stream = _SlowStream()
    with ProgressBar(stream, delay=0) as bar:
        assert markdownworker.can_fork()
        done = _outcome(root, tmp_path / "bar", workers=2, cache=False, progress=bar.update)
    assert done == alone
    assert len(workers_made) == 1
    assert "\r[" in stream.getvalue()  # (the bar drew meanwhile)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="forks")
def test_a_process_forked_while_the_bar_draws_can_write_to_its_stream() -> None:
    # A process forked while another thread holds a lock gets that lock held for good: the bar's
    # thread holds its stream's lock while it writes, so each fork waits for the write to end.
    stream = _SlowStream()
    stuck = 0
    with ProgressBar(stream, delay=0) as bar:
        for number in range(30):
            bar.update(f"step {number}", number / 30)  # (a new line to draw each time)
            time.sleep(0.005)
            pid = os.fork()
            if pid == 0:  # the child: would wait forever on a lock held at the fork
                try:
                    stream.write("child")
                finally:
                    os._exit(0)
            deadline = time.monotonic() + 5
            while os.waitpid(pid, os.WNOHANG) == (0, 0):
                if time.monotonic() > deadline:
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                    stuck += 1
                    break
                time.sleep(0.01)
    assert stuck == 0
    assert "step" in stream.getvalue()
