"""A cold build's cheaper ways of writing a package against the obvious ones they stand for."""

from __future__ import annotations

import io
import itertools
import json
import sqlite3
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest

from deckbuilder import package
from deckbuilder.build import build
from deckbuilder.package import PackageContent, package_bytes

from .conftest import REPO, collection_rows


def _write_notes_as_genanki(conn: sqlite3.Connection, content: PackageContent) -> None:
    """package._write_notes as it was, each deck written by genanki's Deck.write_to_db and each
    note, with its cards, by its Note.write_to_db (genanki works out the cards)."""
    cursor = conn.cursor()
    id_gen = itertools.count(content.timestamp * 1000)
    package._genanki().module.Package([]).write_to_db(cursor, content.timestamp, id_gen)
    models = package._models(content)
    for deck, indexes in package._decks(content).values():
        for model in models.values():
            deck.add_model(model)
        deck.write_to_db(cursor, content.timestamp, id_gen)
        for due in indexes:
            note = content.notes[due]
            package._genanki().Note(
                note.mod,
                model=models[note.note_type.id],
                fields=list(note.fields),
                tags=list(note.tags),
                guid=note.guid,
                due=due,
            ).write_to_db(cursor, content.timestamp, deck.deck_id, id_gen)
    conn.commit()


def _card(kind: str, card_id: str) -> list[str]:
    if kind == "cloze":
        return [f"  - id: {card_id}", "    type: cloze", f"    text: '{card_id} is {{{{c1::{card_id}}}}}'"]
    return [
        f"  - id: {card_id}",
        f"    type: {kind}",
        f"    front: What is {card_id}?",
        "    back: 'It is *so*.'",
    ]


@pytest.mark.parametrize(
    "subdecks",
    [
        [""],  # the deck alone
        ["A"],
        ["A", "A::B", "C::D::E", "Ünïcode \"quoted\" 'name'", "C"],
        [f"Part {i:02}::Chapter {j}" for i in range(12) for j in range(3)],
    ],
)
def test_the_col_row_is_genankis_for_every_deck(
    make_project: Callable[..., Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    subdecks: list[str],
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1790000000")
    monkeypatch.setattr(package, "_ROWS_AT_ONCE", 7)  # (inserted in several goes, across decks)
    kinds = itertools.cycle(["basic", "cloze", "reversed", "type-in"])
    files = {"decks/d.yaml": "name: Deck of Decks\ndescription: 'Many *decks*'\n"}
    for number, subdeck in enumerate(subdecks):
        lines = ([f"deck: {json.dumps(subdeck)}"] if subdeck else []) + ["cards:"]
        for i in range(3):
            lines += _card(next(kinds), f"c-{number}-{i}")
        files[f"cards/f{number}.yaml"] = "\n".join(lines) + "\n"
    root = make_project(files)
    content = build(root, tmp_path / "out", check=True).decks[0].content
    for made in (content, PackageContent(**{**vars(content), "card_ords": ()})):  # genanki's own notes too
        ours = package_bytes(made)
        assert package_bytes(made) == ours
        with monkeypatch.context() as patch:
            patch.setattr(package, "_write_notes", _write_notes_as_genanki)
            assert collection_rows(package_bytes(made), tmp_path) == collection_rows(ours, tmp_path)


def test_the_shipped_decks_col_row_is_genankis(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1790000000")
    content = build(REPO, check=True).decks[0].content
    assert len({note.deck for note in content.notes}) > 20
    ours = package_bytes(content)
    monkeypatch.setattr(package, "_write_notes", _write_notes_as_genanki)
    assert collection_rows(package_bytes(content), tmp_path) == collection_rows(ours, tmp_path)


@pytest.mark.parametrize(
    "value",
    [
        {},
        {"a": 1},
        {"css": "x" * 999, "did": 1},
        {"css": 'é"\\\n😀' * 400, "did": None, "tmpls": [{"qfmt": "q" * 2000}], "x": "y" * 1000},
        {"a": [1, 2.5, True, None], "long": "z" * 5000, 7: {"nested": "w" * 3000}, "end": "e" * 1000},
        [1, "a" * 2000],
        "t" * 1500,
    ],
)
def test_col_entries_are_json_dumps(value: object) -> None:
    col = package._Col.__new__(package._Col)
    col._texts = {}
    for key in ("1", 1234567890123, "ключ"):
        for _ in range(2):  # (the second time from the texts encoded before)
            assert "{" + col._entry(key, value) + "}" == json.dumps({key: value})


def test_the_packages_files_are_deflated_at_its_level(monkeypatch: pytest.MonkeyPatch) -> None:
    # (ZipFile.open takes the level from each entry, not from the ZipFile.)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1790000000")
    made = package_bytes(build(REPO, check=True).decks[0].content)
    with zipfile.ZipFile(io.BytesIO(made)) as zf:
        for info in zf.infolist():
            data = zf.read(info)
            deflate = zlib.compressobj(package.ZIP_LEVEL, zlib.DEFLATED, -15)
            assert info.compress_size == len(deflate.compress(data) + deflate.flush()), info.filename
            if info.filename == "collection.anki2":
                default = zlib.compressobj(6, zlib.DEFLATED, -15)
                assert info.compress_size != len(default.compress(data) + default.flush())
