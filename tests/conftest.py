from __future__ import annotations

import contextlib
import io
import shutil
import sqlite3
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from anki.collection import Collection, ImportAnkiPackageOptions, ImportAnkiPackageRequest
from click.testing import CliRunner, Result

from deckbuilder.cli import main

DATA = Path(__file__).parent / "data"
REPO = Path(__file__).parent.parent

# Anki's default import option: update a note only when the package's copy is newer.
IF_NEWER = 0


@pytest.fixture(autouse=True)
def render_cache_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test its own render cache, never the user's."""
    folder = tmp_path_factory.mktemp("render-cache")
    monkeypatch.setenv("DECKBUILDER_CACHE_DIR", str(folder))
    return folder


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    """A fresh copy of the sample project (releases write a lock file into it)."""
    target = tmp_path / "sample"
    shutil.copytree(DATA / "sample", target)
    return target


@pytest.fixture
def make_project(tmp_path: Path) -> Callable[..., Path]:
    """Write a small project from {relative path: text or bytes}."""

    def make(files: dict[str, str | bytes], name: str = "proj") -> Path:
        root = tmp_path / name
        for rel, content in files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content, encoding="utf-8")
        return root

    return make


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def new_collection(path: Path) -> Collection:
    path.parent.mkdir(parents=True, exist_ok=True)
    return Collection(str(path))


def import_package(col: Collection, apkg: Path, update: int = IF_NEWER):  # type: ignore[no-untyped-def]
    out = col.import_anki_package(
        ImportAnkiPackageRequest(
            package_path=str(apkg),
            options=ImportAnkiPackageOptions(
                merge_notetypes=False,
                with_scheduling=False,
                update_notes=update,
                update_notetypes=update,
            ),
        )
    )
    col.models._clear_cache()  # the Python-side cache is not invalidated by imports
    return out.log


def cards_in_order(col: Collection) -> list:  # type: ignore[type-arg]
    cards = [col.get_card(cid) for cid in col.find_cards("")]
    return sorted(cards, key=lambda c: (c.due, c.ord))


def collection_rows(package: bytes, tmp_path: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table of a package's collection, in rowid order, and its schema: what
    Anki reads of it, whatever pages the rows and indexes are in (so not the indexes' first
    pages, the schema's root pages). The database must pass SQLite's integrity check."""
    path = tmp_path / "collection.anki2"
    path.write_bytes(zipfile.ZipFile(io.BytesIO(package)).read("collection.anki2"))
    with contextlib.closing(sqlite3.connect(path)) as db:
        tables = [name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        rows = {name: db.execute(f"SELECT * FROM {name} ORDER BY rowid").fetchall() for name in tables}
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        rows["(schema)"] = db.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name"
        ).fetchall()
    path.unlink()
    return rows
