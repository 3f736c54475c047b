"""The JSON Schemas editors validate with agree with the loader, both ways."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from deckbuilder import schema
from deckbuilder.load import CARD_FILE_KEYS, CARD_KEYS, DECK_KEYS, LINT_KEYS
from deckbuilder.model import CARD_TYPES

from .conftest import DATA, REPO, run

CARD_FILE = schema.card_file_schema()
DECK_FILE = schema.deck_file_schema()
SKELETON = REPO / "src" / "deckbuilder" / "skeleton"


def schema_errors(document: dict[str, Any], text: str) -> list[str]:
    validator = jsonschema.Draft7Validator(document)
    return [error.message for error in validator.iter_errors(yaml.safe_load(text))]


def test_the_schemas_are_valid_and_name_the_loaders_keys() -> None:
    for document in (CARD_FILE, DECK_FILE):
        jsonschema.Draft7Validator.check_schema(document)
    card = CARD_FILE["properties"]["cards"]["items"]
    assert tuple(CARD_FILE["properties"]) == CARD_FILE_KEYS
    assert tuple(card["properties"]) == CARD_KEYS
    assert card["properties"]["type"]["enum"] == list(CARD_TYPES)
    assert tuple(DECK_FILE["properties"]) == DECK_KEYS
    assert tuple(DECK_FILE["properties"]["lint"]["properties"]) == LINT_KEYS
    # Every key described and typed: a key the loader learns needs its line in schema.py.
    assert schema.CARD_FILE_DOCS.keys() == set(CARD_FILE_KEYS)
    assert schema.CARD_DOCS.keys() == set(CARD_KEYS)
    assert schema.DECK_DOCS.keys() == set(DECK_KEYS)
    assert schema.LINT_DOCS.keys() == set(LINT_KEYS)
    for properties in (CARD_FILE["properties"], card["properties"], DECK_FILE["properties"]):
        assert [key for key, p in properties.items() if set(p) == {"description"}] == []


def _card_files() -> list[Path]:
    found = [*(DATA / "sample" / "cards").rglob("*.yaml"), *(REPO / "cards").rglob("*.yaml")]
    return [*sorted(found), SKELETON / "cards" / "example.yaml"]


@pytest.mark.parametrize("path", _card_files(), ids=lambda p: p.name)
def test_every_real_card_file_is_valid(path: Path) -> None:
    assert schema_errors(CARD_FILE, path.read_text(encoding="utf-8")) == []


def test_the_deck_files_are_valid() -> None:
    for path in [*(DATA / "sample" / "decks").glob("*.yaml"), *(REPO / "decks").glob("*.yaml")]:
        assert schema_errors(DECK_FILE, path.read_text(encoding="utf-8")) == [], path


BROKEN_CARDS = {
    "unknown-key": "cards:\n  - id: a\n    front: Q\n    back: A\n    fornt: Q\n",
    "missing-back": "cards:\n  - id: a\n    front: Q\n",
    "empty-front": "cards:\n  - id: a\n    front: ' '\n    back: A\n",
    "bad-id": "cards:\n  - id: Not_Valid\n    front: Q\n    back: A\n",
    "no-id": "cards:\n  - front: Q\n    back: A\n",
    "bad-type": "cards:\n  - id: a\n    type: clozed\n    text: '{{c1::x}}'\n",
    "cloze-with-front": "cards:\n  - id: a\n    type: cloze\n    text: '{{c1::x}}'\n    front: Q\n",
    "cloze-without-deletion": "cards:\n  - id: a\n    type: cloze\n    text: nothing hidden\n",
    "text-on-basic": "cards:\n  - id: a\n    front: Q\n    back: A\n    text: T\n",
    "front-is-a-list": "cards:\n  - id: a\n    front: [x]\n    back: A\n",
    "no-cards": "cards: []\n",
    "tag-with-space": "cards:\n  - id: a\n    tags: ['two words']\n    front: Q\n    back: A\n",
    "tag-empty-part": "cards:\n  - id: a\n    tags: ['a::']\n    front: Q\n    back: A\n",
    "tags-not-a-list": "cards:\n  - id: a\n    tags: solo\n    front: Q\n    back: A\n",
    "control-character": 'cards:\n  - id: a\n    front: "a\\x1fb"\n    back: A\n',
    "empty-subdeck-part": "deck: 'A::'\ncards:\n  - id: a\n    front: Q\n    back: A\n",
    "bad-was": "cards:\n  - id: a\n    was: [Old_Id]\n    front: Q\n    back: A\n",
    "top-level-typo": "deks: A\ncards:\n  - id: a\n    front: Q\n    back: A\n",
}
BROKEN_DECKS = {
    "no-name": "identity: x\n",
    "unknown-key": "name: D\nnmae: D\n",
    "bad-identity": "name: D\nidentity: Not Valid\n",
    "bad-output": "name: D\noutput: x/y.zip\n",
    "version-zero": "name: D\nnote_type_version: 0\n",
    "lint-typo": "name: D\nlint: {max_words: 3}\n",
    "lint-not-a-number": "name: D\nlint: {max_answer_words: many}\n",
    "empty-name-part": "name: 'A::'\n",
    "scripts-not-a-flag": "name: D\nallow_scripts: sometimes\n",
    "homepage-not-http": "name: D\nhomepage: ftp://example.org\n",
}
GOOD_CARDS = "cards:\n  - id: good\n    front: Q\n    back: A\n"


def _located(stderr: str, path: str) -> list[str]:
    return [line for line in stderr.splitlines() if re.match(rf"{re.escape(path)}(:\d+)*: ", line)]


@pytest.mark.parametrize("name", BROKEN_CARDS)
def test_a_card_file_the_schema_refuses_the_loader_refuses(
    make_project: Callable[..., Path], name: str
) -> None:
    text = BROKEN_CARDS[name]
    assert schema_errors(CARD_FILE, text) != []
    root = make_project({"decks/d.yaml": "name: D\n", "cards/c.yaml": text})
    result = run("--project", root, "--check")
    assert result.exit_code == 1
    assert _located(result.stderr, "cards/c.yaml") != []


@pytest.mark.parametrize("name", BROKEN_DECKS)
def test_a_deck_file_the_schema_refuses_the_loader_refuses(
    make_project: Callable[..., Path], name: str
) -> None:
    text = BROKEN_DECKS[name]
    assert schema_errors(DECK_FILE, text) != []
    root = make_project({"decks/d.yaml": text, "cards/c.yaml": GOOD_CARDS})
    result = run("--project", root, "--check")
    assert result.exit_code == 1
    assert _located(result.stderr, "decks/d.yaml") != []


def test_init_writes_the_schemas_its_files_point_to(tmp_path: Path) -> None:
    root = tmp_path / "deck"
    assert run("init", root, "--name", "Deck").exit_code == 0
    for rel in ("cards/example.yaml", "decks/deck.yaml"):
        first = (root / rel).read_text(encoding="utf-8").splitlines()[0]
        match = re.fullmatch(r"# yaml-language-server: \$schema=(\S+)", first)
        assert match, first
        target = (root / rel).parent / match.group(1)
        written = json.loads(target.read_text(encoding="utf-8"))
        assert written == schema.documents()[target.name]
        assert schema_errors(written, (root / rel).read_text(encoding="utf-8")) == []
