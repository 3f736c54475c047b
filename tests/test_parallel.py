"""A build with worker processes gives what a build in one process gives: the same cards, the
same problems in the same order, the same package bytes."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from deckbuilder import cardfilepool, render
from deckbuilder.build import build
from deckbuilder.load import load_project
from deckbuilder.model import DeckError, Diagnostic

from .conftest import DATA


def _parsed_by_workers(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Pools start for any size; the files whose cards came from a worker are listed."""
    monkeypatch.setattr(cardfilepool, "POOL_MIN_BYTES", 0)
    monkeypatch.setattr(render, "POOL_MIN_TEXTS", 2)
    taken: list[str] = []
    real = cardfilepool.CardFilePool.parsed

    def spy(self: cardfilepool.CardFilePool, rel: str, raw: bytes) -> object:
        found = real(self, rel, raw)
        if found is not None:
            taken.append(rel)
        return found

    monkeypatch.setattr(cardfilepool.CardFilePool, "parsed", spy)
    return taken


def _troubled(make_project: Callable[..., Path]) -> Path:
    """Card files with problems of every stage of loading, and good ones between them."""
    good = "".join(f"  - id: good-{i}\n    front: Q *{i}*\n    back: '`{i}`'\n" for i in range(30))
    root = make_project(
        {
            "decks/a.yaml": "name: A\ncards: [cards/a/*.yaml]\n",
            "decks/b.yaml": "name: B\ncards: [cards/b/*.yaml, cards/none/*.yaml]\n",
            "cards/a/1.yaml": "cards:\n" + good,
            "cards/a/2.yaml": "cards:\n  - id: bad\n    front: x: y\n",
            "cards/a/3.yaml": "cards:\n  - id: other\n    front: Q\n    back: A\n    bakc: B\n",
            "cards/b/1.yaml": "cards:\n" + good.replace("good-", "dup-").replace("dup-3\n", "good-3\n"),
            "cards/b/2.yaml": b"cards:\n  - id: latin\n    front: \xe9\n    back: A\n",
            "cards/b/4.yaml": "deck: Sub\ncards:\n  - id: c\n    type: cloze\n    text: 'no deletion'\n",
        }
    )
    outside = root.parent / "outside.yaml"
    outside.write_text("cards:\n  - id: stolen\n    front: Q\n    back: A\n")
    os.symlink(outside, root / "cards" / "b" / "3.yaml")
    return root


def test_card_files_parsed_by_workers_load_the_same(
    make_project: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _troubled(make_project)
    one: list[Diagnostic] = []
    alone = load_project(root, one, None, workers=1)
    taken = _parsed_by_workers(monkeypatch)
    two: list[Diagnostic] = []
    together = load_project(root, two, None, workers=2)
    assert together == alone and two == one
    assert [c.field_lines for cs in together.card_files.values() for c in cs] == [
        c.field_lines for cs in alone.card_files.values() for c in cs
    ]
    assert "cards/a/1.yaml" in taken and "cards/b/2.yaml" in taken
    assert "cards/b/3.yaml" not in taken  # refused (outside the project): never read
    assert any(d.code == "yaml-syntax" for d in one) and any("outside" in d.message for d in one)


def test_a_build_with_workers_reports_the_same_problems_in_the_same_order(
    make_project: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _troubled(make_project)

    def problems(workers: int, cache: bool) -> list[Diagnostic]:
        with pytest.raises(DeckError) as failed:
            build(root, root / "dist", workers=workers, cache=cache)
        return failed.value.diagnostics

    alone = problems(1, cache=False)
    _parsed_by_workers(monkeypatch)
    assert problems(2, cache=False) == alone
    assert problems(2, cache=True) == alone  # filling the cache
    assert problems(2, cache=True) == alone  # from it


def test_a_build_with_workers_writes_the_same_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    root = tmp_path / "sample"
    shutil.copytree(DATA / "sample", root)
    cards = sorted((root / "cards").rglob("*.yaml"))
    assert len(cards) >= 2  # so that the card files are parsed by more than one worker

    def package(workers: int, cache: bool, name: str) -> dict[str, bytes]:
        out = tmp_path / name
        build(root, out, workers=workers, cache=cache)
        return {p.name: p.read_bytes() for p in sorted(out.iterdir())}

    alone = package(1, cache=False, name="one")
    taken = _parsed_by_workers(monkeypatch)
    converted: list[int] = []
    real = render.convert_chunks

    def spy(texts: list[str], md: object, workers: int) -> Iterator[list[str]]:
        converted.append(len(texts))
        return real(texts, md, workers)  # type: ignore[arg-type]

    monkeypatch.setattr(render, "convert_chunks", spy)
    assert package(2, cache=False, name="two") == alone
    assert package(2, cache=True, name="cold") == alone
    assert package(2, cache=True, name="warm") == alone
    assert taken and converted and converted[0] >= 2


def test_card_files_too_small_for_workers_are_read_once(
    make_project: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Below the pool's size the loader reads each card file once; at it, the pool reads them
    # ahead too (and its workers parse them).
    card = "cards:\n" + "".join(f"  - id: c-{i}\n    front: Q {i}\n    back: A\n" for i in range(40))
    root = make_project(
        {"decks/d.yaml": "name: D\n", "cards/a.yaml": card, "cards/b.yaml": card.replace("c-", "d-")}
    )
    size = 2 * len(card)
    reads: list[str] = []
    real = Path.read_bytes

    def spy(self: Path) -> bytes:
        if self.suffix == ".yaml" and self.parent.name == "cards":
            reads.append(self.name)
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", spy)
    for least, times in ((size + 1, 1), (size, 2)):
        monkeypatch.setattr(cardfilepool, "POOL_MIN_BYTES", least)
        reads.clear()
        project = load_project(root, [], workers=2)
        assert sorted(reads) == sorted(["a.yaml", "b.yaml"] * times)
        assert [card.id for cards in project.card_files.values() for card in cards][::40] == ["c-0", "d-0"]
