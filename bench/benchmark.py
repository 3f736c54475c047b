"""Speed and memory of a build, against plain genanki on the same notes, in one run.

    .venv/bin/python bench/benchmark.py [--cards 10000]

Generates a project of N cards (a quarter with a fenced code block, some math, a quarter cloze),
then times each stage of build-deck, a plain genanki script writing the same number of notes,
and the real Anki backend importing our package. Figures vary on a shared machine: read the
ratios, which are measured in the same run.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
import time
from pathlib import Path

import genanki

from deckbuilder.build import build
from deckbuilder.load import load_project
from deckbuilder.model import Diagnostic
from deckbuilder.render import MarkdownRenderer, MediaFiles


def make_project(root: Path, n: int, per_file: int = 1000) -> None:
    (root / "decks").mkdir(parents=True)
    (root / "decks" / "bench.yaml").write_text("name: Bench\n")
    for f in range(0, n, per_file):
        lines = [f"deck: Part {f // per_file}", "tags: [bench]", "cards:"]
        for i in range(f, min(n, f + per_file)):
            if i % 4 == 0:
                lines += [
                    f"  - id: card-{i}",
                    "    front: |",
                    f"      What does snippet {i} print?",
                    "",
                    "      ```python",
                    f"      print(sum(x * x for x in range({i % 7})))",
                    "      ```",
                    f'    back: "`{sum(x * x for x in range(i % 7))}`"',
                ]
            elif i % 4 == 1:
                lines += [
                    f"  - id: card-{i}",
                    "    type: cloze",
                    f"    text: 'Step {i}: {{{{c1::clarify}}}}, then {{{{c2::design}}}}.'",
                ]
            else:
                lines += [
                    f"  - id: card-{i}",
                    f"    front: What is $x_{{{i}}}^2$ when **x** is {i}?",
                    f'    back: "{i * i}"',
                    f"    extra: Squares grow fast; {i} squared is {i * i}.",
                    "    source: https://example.org/squares",
                ]
        (root / "cards").mkdir(exist_ok=True)
        (root / "cards" / f"part-{f // per_file:03}.yaml").write_text("\n".join(lines) + "\n")


def timed(label: str, results: dict[str, float], fn):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    value = fn()
    results[label] = time.perf_counter() - start
    return value


def genanki_baseline(out: Path, n: int) -> None:
    model = genanki.Model(
        1607392319,
        "Simple",
        fields=[{"name": "Question"}, {"name": "Answer"}],
        templates=[{"name": "Card 1", "qfmt": "{{Question}}", "afmt": "{{FrontSide}}<hr>{{Answer}}"}],
    )
    deck = genanki.Deck(2059400110, "Baseline")
    for i in range(n):
        deck.add_note(genanki.Note(model=model, fields=[f"What is {i}?", str(i * i)], guid=f"g{i}"))
    genanki.Package(deck).write_to_file(str(out))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cards", type=int, default=10000)
    args = parser.parse_args()
    n = args.cards
    tmp = Path(tempfile.mkdtemp(prefix="deckbuilder-bench-"))
    try:
        root = tmp / "project"
        make_project(root, n)
        size = sum(p.stat().st_size for p in (root / "cards").iterdir())
        t: dict[str, float] = {}
        problems: list[Diagnostic] = []
        project = timed("load + validate YAML", t, lambda: load_project(root, problems))
        renderer = MarkdownRenderer(root, MediaFiles())
        timed(
            "render Markdown",
            t,
            lambda: [renderer.render_card(c, problems) for cs in project.card_files.values() for c in cs],
        )
        assert not problems, problems[:3]
        timed("build-deck, whole build (first release)", t, lambda: build(root))
        timed("build-deck, rebuild (lock present)", t, lambda: build(root))
        timed("build-deck --check", t, lambda: build(root, check=True))
        timed("plain genanki, same note count", t, lambda: genanki_baseline(tmp / "baseline.apkg", n))
        from anki.collection import Collection, ImportAnkiPackageOptions, ImportAnkiPackageRequest

        col = Collection(str(tmp / "col.anki2"))
        request = ImportAnkiPackageRequest(
            package_path=str(root / "dist" / "bench.apkg"),
            options=ImportAnkiPackageOptions(with_scheduling=False),
        )
        timed("Anki imports the package", t, lambda: col.import_anki_package(request))
        cards = col.card_count()
        col.close()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"{n} cards in {len(list((root / 'cards').iterdir()))} files ({size / 1e6:.1f} MB of YAML)")
        base = t["plain genanki, same note count"]
        for label, seconds in t.items():
            print(f"  {label:42} {seconds:7.2f} s   {seconds / base:5.1f}x plain genanki")
        print(f"  Anki imported {cards} cards; peak RSS of this process {peak:.0f} MB")
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
