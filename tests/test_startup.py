"""What start-up does cheaper than the obvious way gives what the obvious way gives."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml.reader

from deckbuilder import yamlsource
from deckbuilder.build import build


def test_the_characters_yaml_refuses_are_pyyamls() -> None:
    # _NOT_YAML lists the ranges PyYAML's reader does not take (NON_PRINTABLE is their complement).
    every = "".join(map(chr, range(0x110000)))
    ours = [m.start() for m in yamlsource._NOT_YAML.finditer(every)]
    assert ours == [m.start() for m in yaml.reader.Reader.NON_PRINTABLE.finditer(every)]
    assert 0 in ours and 0xD800 in ours and 0x10FFFF not in ours


def test_a_build_as_a_process_leaves_what_one_in_this_process_leaves(
    sample: Path, tmp_path: Path, render_cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The program skips the collector's passes at exit (gc.freeze): nothing it writes may be lost.
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1790000000")
    build(sample, tmp_path / "here", cache=False)
    out = tmp_path / "there"
    command = [sys.executable, "-m", "deckbuilder", "--project", str(sample), "--out", str(out)]
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "Sample Deck:" in done.stdout
    for name in ("sample.apkg", "sample.release-notes.md"):
        assert (tmp_path / "there" / name).read_bytes() == (tmp_path / "here" / name).read_bytes()
    with contextlib.closing(sqlite3.connect(render_cache_dir / "render.sqlite")) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("SELECT count(*) FROM entries").fetchone()[0] > 0


def test_exiting_runs_the_exit_handlers_and_keeps_the_status_and_output(
    sample: Path, tmp_path: Path, make_project: Callable[..., Path]
) -> None:
    # The program ends without the interpreter's teardown (cli._exit_now): what exiting must
    # still do is done, the status is the command's, and piped output is all there.
    broken = make_project({"decks/d.yaml": "name: D\n", "cards/c.yaml": "cards:\n  - id: Bad\n"})
    code = (
        "import atexit, pathlib, sys\n"
        "atexit.register(pathlib.Path(sys.argv[1]).write_text, 'ran')\n"
        "from deckbuilder.cli import run\n"
        "sys.argv = ['build-deck', *sys.argv[2:]]\n"
        "run()\n"
    )
    for project, status, seen in ((sample, 0, "Sample Deck:"), (broken, 1, "cards/c.yaml:")):
        marker = tmp_path / f"exit-handler-{status}"
        command = [
            sys.executable,
            "-c",
            code,
            str(marker),
            "--project",
            str(project),
            "--out",
            str(tmp_path / "o"),
        ]
        done = subprocess.run(command, capture_output=True, text=True)
        assert done.returncode == status, done.stderr
        assert seen in done.stdout + done.stderr
        assert marker.read_text() == "ran"
    version = subprocess.run(
        [sys.executable, "-m", "deckbuilder", "--version"], capture_output=True, text=True
    )
    assert version.returncode == 0 and version.stdout.strip()


def test_genanki_is_imported_when_a_package_needs_it(make_project: Callable[..., Path]) -> None:
    # genanki brings asyncio (its cached_property imports it): not at start-up, and not in a
    # rebuild that keeps its package and finds every note's cards in the cache. (Nor
    # concurrent.futures, and logging with it, without a pool of workers.)
    cards = "".join(f"  - id: c-{i}\n    front: What is *{i}*?\n    back: '`{i}`'\n" for i in range(5))
    root = make_project({"decks/d.yaml": "name: D\n", "cards/c.yaml": "cards:\n" + cards})
    code = (
        "import sys; from pathlib import Path; from deckbuilder import build;"
        "print('genanki' in sys.modules, 'asyncio' in sys.modules or 'concurrent' in sys.modules, end=' ');"
        "build.build(Path(sys.argv[1]), release=sys.argv[2] == 'release');"
        "print('genanki' in sys.modules)"
    )
    env = {**os.environ, "SOURCE_DATE_EPOCH": "1790000000"}

    def imported(*what: str) -> str:
        done = subprocess.run([sys.executable, "-c", code, str(root), *what], capture_output=True, env=env)
        assert done.returncode == 0, done.stderr
        return done.stdout.decode().strip()

    assert imported("release") == "False False True"  # a package written
    assert imported("draft") == "False False False"  # the released package kept, the notes checked before


def test_a_build_imports_no_multiprocessing_for_its_markdown_worker(
    make_project: Callable[..., Path],
) -> None:
    # With two cores a cold build forks its Markdown worker (os.fork: multiprocessing's import
    # and start-up cost more than the fork); a rebuild whose texts all come from the cache forks none.
    cards = "".join(
        f"  - id: c-{i}\n    front: '# Heading {i}'\n    back: '- a\n\n      - b'\n" for i in range(5)
    )
    root = make_project({"decks/d.yaml": "name: D\n", "cards/c.yaml": "cards:\n" + cards})
    code = (
        "import os, sys; from pathlib import Path; from deckbuilder import build;"
        "forks = []; real = os.fork; os.fork = lambda: forks.append(1) or real();"
        "build.build(Path(sys.argv[1]), workers=2);"
        "print(len(forks), 'multiprocessing' in sys.modules)"
    )
    env = {**os.environ, "SOURCE_DATE_EPOCH": "1790000000"}

    def forked() -> str:
        done = subprocess.run([sys.executable, "-c", code, str(root)], capture_output=True, env=env)
        assert done.returncode == 0, done.stderr
        return done.stdout.decode().strip()

    assert forked() == "1 False"  # cold: the worker converted the Markdown
    assert forked() == "0 False"


def test_genanki_with_the_standard_cached_property_writes_what_the_backport_writes(
    sample: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # package._import_genanki has genanki's two cached properties made by functools (the
    # backport imports asyncio): the package is the same, and the backport is anyone else's.
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1790000000")
    code = (
        "import sys; from pathlib import Path\n"
        "if sys.argv[2] == 'backport': import genanki\n"
        "from deckbuilder.build import build\n"
        "build(Path(sys.argv[1]), Path(sys.argv[3]), cache=False)\n"
        "import genanki.note; print(genanki.note.cached_property.__module__, 'asyncio' in sys.modules)\n"
        "import cached_property; print(hasattr(cached_property, 'threaded_cached_property'))\n"
    )
    seen = {how: _printed(code, sample, how, tmp_path / how) for how in ("standard", "backport")}
    assert seen == {
        "standard": ["functools", "False", "True"],
        "backport": ["cached_property", "True", "True"],
    }
    _assert_same_outputs(tmp_path / "standard", tmp_path / "backport")


def test_markdown_is_set_up_without_urllib_request_and_converts_as_with_it(
    sample: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # render._import_pymdownx_util: pymdownx.util's two path helpers import urllib.request
    # when called, and give what its own give; the package is the same; and urllib.request is
    # the real module for anyone who imports it afterwards.
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1790000000")
    code = (
        "import sys; from pathlib import Path\n"
        "if sys.argv[2] == 'imported': import urllib.request\n"
        "from deckbuilder.build import build\n"
        "build(Path(sys.argv[1]), Path(sys.argv[3]), cache=False, workers=1)\n"
        "import pymdownx.util as util\n"
        "names = ('markdown', 'urllib.request', 'http.client', 'ssl')\n"
        "print(*(name in sys.modules for name in names))\n"
        "texts = ['a b/c%d', '/x y/%C3%A9', 'p%20q']\n"
        "ours = [(util.url2path(t), util.path2url(util.url2path(t))) for t in texts]\n"
        "import urllib.request as real\n"
        "print(ours == [(real.url2pathname(t), real.pathname2url(real.url2pathname(t))) for t in texts])\n"
        "print(callable(real.urlopen), hasattr(real, 'Request'))\n"
    )
    seen = {how: _printed(code, sample, how, tmp_path / how) for how in ("deferred", "imported")}
    assert seen == {
        "deferred": ["True", "False", "False", "False", "True", "True", "True"],
        "imported": ["True", "True", "True", "True", "True", "True", "True"],
    }
    _assert_same_outputs(tmp_path / "deferred", tmp_path / "imported")


def test_the_program_runs_without_the_collector_but_serve_and_importers_have_it(
    sample: Path, tmp_path: Path
) -> None:
    # build-deck turns the cyclic collector off before its imports and leaves it off to its
    # exit; serve, which runs for hours, turns it on again (what its imports made set apart);
    # a program that imports the command keeps its own collector, on after a build through it.
    programs = {
        "build": (
            "import atexit, gc, sys\n"
            "atexit.register(lambda: print('exit', gc.isenabled()))\n"
            "sys.argv = ['build-deck', '--project', sys.argv[1], '--out', sys.argv[2], '--quiet']\n"
            "from deckbuilder.__main__ import main\n"
            "main()\n"
        ),
        "serve": (
            "import gc, sys\n"
            "import deckbuilder.serve\n"
            "def serve(*args, **options):\n"
            "    print('serving', gc.isenabled(), gc.get_freeze_count() > 0)\n"
            "deckbuilder.serve.serve = serve\n"
            "sys.argv = ['build-deck', 'serve', '--project', sys.argv[1]]\n"
            "from deckbuilder.__main__ import main\n"
            "main()\n"
        ),
        "importer": (
            "import gc, sys\n"
            "import deckbuilder.cli as cli\n"
            "sys.argv = ['build-deck', '--project', sys.argv[1], '--out', sys.argv[2], '--quiet']\n"
            "cli.main(standalone_mode=False)\n"
            "print('after', gc.isenabled())\n"
        ),
        "importer's serve": (
            "import gc, sys\n"
            "import deckbuilder.serve\n"
            "deckbuilder.serve.serve = lambda *args, **options: None\n"
            "import deckbuilder.cli as cli\n"
            "gc.disable()\n"
            "cli.main(['serve', '--project', sys.argv[1]], standalone_mode=False)\n"
            "print('after', gc.isenabled(), gc.get_freeze_count())\n"
        ),
    }
    seen = {}
    for name, code in programs.items():
        seen[name] = _printed(code, sample, tmp_path / name)
        assert (tmp_path / name / "sample.apkg").exists() == ("serve" not in name)
    assert seen == {
        "build": ["exit", "False"],
        "serve": ["serving", "True", "True", "Stopped."],
        "importer": ["after", "True"],
        "importer's serve": ["Stopped.", "after", "False", "0"],  # its own collector, as it was
    }


def _printed(code: str, *args: object) -> list[str]:
    """The words a Python program given these arguments prints (it must succeed)."""
    done = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def _assert_same_outputs(one: Path, other: Path) -> None:
    """The sample's package and release notes, built into two folders, are the same bytes."""
    for name in ("sample.apkg", "sample.release-notes.md"):
        assert (one / name).read_bytes() == (other / name).read_bytes(), name
