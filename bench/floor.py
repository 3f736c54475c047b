"""The floor a build is measured against: the least work that turns the same cards into a package.

    python bench/floor.py PROJECT OUT.apkg

Loads every card file with libyaml (CSafeLoader), converts each text with one reused
Python-Markdown instance (the extensions and settings build-deck uses, Pygments included),
and writes the notes with genanki. No validation, no identities, no lock, no checks: what any
tool of this kind must at least do.
"""

from __future__ import annotations

import sys
from pathlib import Path

import genanki
import markdown
import yaml

from deckbuilder.render import MARKDOWN_CONFIG, MARKDOWN_EXTENSIONS

FIELDS = ("front", "back", "text", "extra", "source")


def main(project: Path, out: Path) -> None:
    md = markdown.Markdown(extensions=MARKDOWN_EXTENSIONS, extension_configs=MARKDOWN_CONFIG)
    basic = genanki.Model(
        1607392319,
        "Floor basic",
        fields=[{"name": name} for name in FIELDS],
        templates=[{"name": "Card 1", "qfmt": "{{front}}", "afmt": "{{FrontSide}}<hr>{{back}}"}],
    )
    cloze = genanki.Model(
        1607392320,
        "Floor cloze",
        fields=[{"name": name} for name in FIELDS],
        templates=[{"name": "Cloze", "qfmt": "{{cloze:text}}", "afmt": "{{cloze:text}}"}],
        model_type=genanki.Model.CLOZE,
    )
    deck = genanki.Deck(2059400110, "Floor")
    for path in sorted((project / "cards").rglob("*.yaml")):
        with path.open("rb") as f:
            data = yaml.load(f, Loader=yaml.CSafeLoader)
        for card in data["cards"]:
            fields = [md.reset().convert(str(card.get(name, ""))) for name in FIELDS]
            model = cloze if card.get("type") == "cloze" else basic
            deck.add_note(genanki.Note(model=model, fields=fields, guid=card["id"]))
    genanki.Package(deck).write_to_file(str(out))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
