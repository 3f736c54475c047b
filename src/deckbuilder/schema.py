"""JSON Schemas of card and deck files, for editors (the YAML language server validates and
completes with them), generated from the loader's own keys, types and patterns.

load.py stays the judge: it reports what a schema cannot say (duplicate ids across files, a
subdeck spelled in two cases). What the schema refuses, the loader refuses too (a test checks
both ways on valid and broken files).
"""

from __future__ import annotations

from typing import Any

from .load import CARD_FILE_KEYS, CARD_ID, CARD_KEYS, DECK_KEYS, HOMEPAGE, LINT_KEYS, OUTPUT_NAME
from .model import CARD_TYPES

DRAFT = "http://json-schema.org/draft-07/schema#"

CARD_FILE_DOCS = {
    "deck": "Subdeck of every card in this file, under the package's deck (`A::B` nests deeper).",
    "deck_was": "The subdeck these cards were released in before `deck` (a renamed subdeck): "
    "the release notes tell members how to rename theirs.",
    "tags": "Tags added to every card in this file.",
    "cards": "The cards of this file, studied in this order.",
}
CARD_DOCS = {
    "id": "The note's identity for life: lowercase letters, digits and single '-'. Never reused.",
    "type": "basic (default), reversed (two cards), type-in (the learner types) or cloze.",
    "front": "The question (Markdown). Not for cloze cards.",
    "back": "The answer (Markdown). Not for cloze cards.",
    "text": "Cloze text with {{c1::deletions}}, one card per number; {{c1::answer::hint}}.",
    "extra": "Shown under the answer (Markdown).",
    "source": "Citation shown under the answer; bare URLs become links.",
    "tags": "One-word tags, added to the file's (`::` makes hierarchical tags).",
    "deck": "Subdeck of this card, overriding the file's `deck`.",
    "deck_was": "The subdeck this card was released in before its `deck` (a renamed subdeck).",
    "was": "Earlier ids of this card, newest first: the note keeps its identity and reviews.",
}
DECK_DOCS = {
    "name": "The Anki deck name of the package (`A::B` nests it).",
    "identity": "Namespace of the notes' identities: lowercase letters, digits and '-'. "
    "Choose one unlikely elsewhere; it never changes once released.",
    "description": "Markdown shown on Anki's deck overview.",
    "cards": "Globs from the project root, in study order (default: cards/**/*.yaml).",
    "output": "File name of the package in dist/ (default: a slug of the name).",
    "note_type_version": "Bump to release note types with a new field list (every note is new).",
    "lint": "Rubric limits for the lint; a limit not named is off.",
    "allow_scripts": "true lets card fields carry script (<script>, on… attributes); default false.",
    "homepage": "An https:// or http:// address the deck description links to.",
}
LINT_DOCS = {
    "max_answer_words": "Longest answer, in words, outside of `extra`.",
    "max_list_items": "Most items of a list on the answer side.",
    "max_deletions_per_card": "Most deletions sharing one cloze number.",
    "max_deletions_per_note": "Most cloze numbers (cards) on one cloze note.",
    "paper_tag": "Cards with this tag must cite a `source`.",
    "study_order": "true: warn where Anki would study subdecks in another order than listed.",
}

# YAML scalars the loader reads as text as written (`back: 42` is "42"); Anki cannot store
# control characters other than tab and line breaks.
_SCALAR = ["string", "number", "boolean"]
_NO_CONTROL = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
_OPTIONAL_TEXT: dict[str, Any] = {"type": [*_SCALAR, "null"], "pattern": _NO_CONTROL}
_REQUIRED_TEXT: dict[str, Any] = {"type": _SCALAR, "allOf": [{"pattern": _NO_CONTROL}, {"pattern": r"\S"}]}
_ID: dict[str, Any] = {"type": ["string", "integer"], "minimum": 0, "pattern": f"^{CARD_ID.pattern}$"}
_PART = r"(?:[^\s:\x00-\x1f\x7f]|:(?!:))+"
_TAG: dict[str, Any] = {"type": _SCALAR, "pattern": f"^{_PART}(?:::{_PART})*$"}
# A deck name: no empty part around '::', no control characters.
_DECK_NAME = r"^(?!.*[\x00-\x1f\x7f])(?!\s*::)(?!.*::\s*::)(?!.*::\s*$)\s*\S"


def _described(keys: tuple[str, ...], docs: dict[str, str], schemas: dict[str, dict[str, Any]]) -> Any:
    """The loader's keys, each with its schema and description (a key new to the loader and not
    yet described here takes any value; a test says so)."""
    return {key: {**schemas.get(key, {}), "description": docs.get(key, "")} for key in keys}


def card_file_schema() -> dict[str, Any]:
    subdeck = {"type": _SCALAR, "pattern": _DECK_NAME}
    tags = {"type": ["array", "null"], "items": _TAG}
    card = {
        "type": "object",
        "additionalProperties": False,
        "required": ["id"],
        "properties": _described(
            CARD_KEYS,
            CARD_DOCS,
            {
                "id": _ID,
                "type": {"enum": list(CARD_TYPES)},
                "front": _REQUIRED_TEXT,
                "back": _REQUIRED_TEXT,
                "text": {**_REQUIRED_TEXT, "pattern": r"\{\{c[0-9,]+::"},  # a deletion
                "extra": _OPTIONAL_TEXT,
                "source": _OPTIONAL_TEXT,
                "tags": tags,
                "deck": subdeck,
                "deck_was": subdeck,
                "was": {"anyOf": [_ID, {"type": "array", "items": _ID}, {"type": "null"}]},
            },
        ),
        "if": {"required": ["type"], "properties": {"type": {"const": "cloze"}}},
        "then": {"required": ["text"], "not": {"anyOf": [{"required": ["front"]}, {"required": ["back"]}]}},
        "else": {"required": ["front", "back"], "not": {"required": ["text"]}},
    }
    return {
        "$schema": DRAFT,
        "title": "deckbuilder card file (cards/**/*.yaml)",
        "type": "object",
        "additionalProperties": False,
        "required": ["cards"],
        "properties": _described(
            CARD_FILE_KEYS,
            CARD_FILE_DOCS,
            {
                "deck": subdeck,
                "deck_was": subdeck,
                "tags": tags,
                "cards": {"type": "array", "minItems": 1, "items": card},
            },
        ),
    }


def deck_file_schema() -> dict[str, Any]:
    whole = {"type": "integer", "minimum": 1}
    lint = {
        "type": ["object", "null"],
        "additionalProperties": False,
        "properties": _described(
            LINT_KEYS,
            LINT_DOCS,
            {
                **{key: whole for key in LINT_KEYS if key.startswith("max_")},
                "paper_tag": _OPTIONAL_TEXT,
                "study_order": {"type": ["boolean", "null"]},
            },
        ),
    }
    glob = {"type": "string"}
    return {
        "$schema": DRAFT,
        "title": "deckbuilder deck file (decks/*.yaml)",
        "type": "object",
        "additionalProperties": False,
        "required": ["name"],
        "properties": _described(
            DECK_KEYS,
            DECK_DOCS,
            {
                "name": {"type": _SCALAR, "pattern": _DECK_NAME},
                "identity": {"type": "string", "pattern": f"^{CARD_ID.pattern}$"},
                "description": _OPTIONAL_TEXT,
                "cards": {"anyOf": [glob, {"type": "array", "minItems": 1, "items": glob}]},
                "output": {"type": "string", "pattern": f"^{OUTPUT_NAME.pattern}$"},
                "note_type_version": whole,
                "lint": lint,
                "allow_scripts": {"type": ["boolean", "null"]},
                "homepage": {**_OPTIONAL_TEXT, "pattern": f"^{HOMEPAGE.pattern}$"},
            },
        ),
    }


def documents() -> dict[str, dict[str, Any]]:
    """File name -> schema, as `build-deck init` writes them into schemas/."""
    return {"card-file.schema.json": card_file_schema(), "deck-file.schema.json": deck_file_schema()}
