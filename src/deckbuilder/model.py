"""The data that flows through a build: files -> model -> HTML -> package."""

from __future__ import annotations

import dataclasses
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

CARD_TYPES = ("basic", "reversed", "type-in", "cloze")
_T = TypeVar("_T")


def slot_maker(cls: type[_T]) -> Callable[..., _T]:
    """`cls(...)` for a frozen slotted dataclass, every field given in order, without its
    __init__: that sets each field through object.__setattr__ (a frozen class forbids the
    plain way), four times slower than setting the slots; a card file makes tens of thousands."""
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    scope: dict[str, Any] = {"new": object.__new__, "cls": cls}
    scope.update({f"set_{name}": getattr(cls, name).__set__ for name in names})
    lines = [f"def make({', '.join(names)}):", "    made = new(cls)"]
    lines += [f"    set_{name}(made, {name})" for name in names]
    exec("\n".join([*lines, "    return made"]), scope)
    maker: Callable[..., _T] = scope["make"]
    return maker


@dataclass(frozen=True, order=True, slots=True)
class Location:
    """A place in a project file, as the user sees it."""

    path: str
    """Path relative to the project root, with forward slashes."""
    line: int
    """1-based line number; 0 when the problem concerns the whole file."""
    column: int = 0
    """1-based column; 0 when unknown or when the problem concerns the whole line."""

    def __str__(self) -> str:
        if not self.line:
            return self.path
        return f"{self.path}:{self.line}:{self.column}" if self.column else f"{self.path}:{self.line}"


# Anything that would end a line in a terminal, an editor or a log viewer, or hide text.
_LINE_BREAKING = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def one_line(text: str) -> str:
    """User text made safe for a one-line diagnostic: control characters shown escaped."""
    return _LINE_BREAKING.sub(lambda m: repr(m.group())[1:-1], text)


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One problem found in the user's files."""

    location: Location
    message: str
    warning: bool = False
    """Warnings (lint) are reported but do not fail a build."""
    code: str = ""
    """Stable identifier of the kind of problem, for machine-readable output."""

    def __str__(self) -> str:
        kind = "warning: " if self.warning else ""
        return one_line(f"{self.location}: {kind}{self.message}")


class DeckError(Exception):
    """Every error of a run, raised together once validation is over."""

    def __init__(self, diagnostics: Iterable[Diagnostic]) -> None:
        self.diagnostics = sorted(diagnostics, key=lambda d: (d.location, d.message))
        super().__init__("\n".join(str(d) for d in self.diagnostics))


@dataclass(frozen=True, slots=True)
class Card:
    """One note as written in a card file."""

    id: str
    """The card's identity for life: lowercase letters, digits and '-'."""
    type: str
    """One of CARD_TYPES."""
    front: str
    """Markdown; empty for cloze cards."""
    back: str
    """Markdown; empty for cloze cards."""
    text: str
    """Markdown with {{cN::...}} deletions; only for cloze cards."""
    extra: str
    """Markdown shown under the answer."""
    source: str
    """Citation (Markdown, bare URLs are linked)."""
    tags: tuple[str, ...]
    """File tags then card tags, without duplicates."""
    subdeck: str
    """Subdeck under the package's deck ("A::B"), or "" for the deck itself."""
    was: tuple[str, ...]
    """Earlier ids of this card, newest first; the note keeps the identity of the oldest."""
    location: Location
    """Where the card starts."""
    field_lines: dict[str, int] = field(default_factory=dict, compare=False)
    """Line of each text field, to locate problems found while rendering."""
    deck_was: str = ""
    """The subdeck this card's released note was in before `subdeck` (`deck_was`), or ""."""


NO_LIMIT = sys.maxsize
"""A limit no card reaches: the rule is off."""


@dataclass(frozen=True)
class LintLimits:
    """Rubric limits a deck file asks for under `lint:`; a limit it does not name is off."""

    max_answer_words: int = NO_LIMIT
    """Longest answer, in words, outside of `extra`."""
    max_list_items: int = NO_LIMIT
    """Most items of a list on the answer side."""
    max_deletions_per_card: int = NO_LIMIT
    """Most deletions sharing one cloze number."""
    max_deletions_per_note: int = NO_LIMIT
    """Most cloze numbers (cards) on one cloze note."""
    paper_tag: str = ""
    """Cards with this tag must cite a `source` ("": no such rule; tags are never empty)."""
    study_order: bool = False
    """Warn where Anki's default options would study subdecks in another order than listed."""


SUGGESTED_LIMITS = LintLimits(
    max_answer_words=25,
    max_list_items=3,
    max_deletions_per_card=1,
    max_deletions_per_note=4,
    paper_tag="paper",
)
"""The limits `build-deck init` writes into a new deck file (the MLE deck's rubric)."""


@dataclass(frozen=True)
class DeckSpec:
    """One package, as a deck file describes it."""

    name: str
    """Anki deck name of the package's top deck."""
    identity: str
    """Namespace of note identities; never changes once released."""
    identity_line: int
    """Line of `identity:` in the deck file, 0 when it is left to its default."""
    description: str
    """Markdown shown on Anki's deck overview."""
    card_globs: tuple[tuple[str, int], ...]
    """Globs from the project root, each with its line in the deck file."""
    output: str
    """File name of the package inside the output folder."""
    note_type_version: int
    """Bumped to release note types with a new field list under new ids."""
    note_type_version_line: int
    """Its line in the deck file, 0 when left to its default."""
    lint: LintLimits
    """Rubric limits."""
    location: Location
    """The deck file."""
    allow_scripts: bool = False
    """Card fields may carry script (members' Anki runs it); off unless the deck file says so."""
    description_line: int = 0
    """Line of `description:` in the deck file, 0 when there is none."""
    homepage: str = ""
    """Where members find the next release (shown in the deck's description), or ""."""

    @property
    def stem(self) -> str:
        return self.output.removesuffix(".apkg")


def deck_name(spec: DeckSpec, subdeck: str) -> str:
    """The full Anki name of one of the package's subdecks ("" is the package's deck)."""
    return f"{spec.name}::{subdeck}" if subdeck else spec.name


@dataclass(frozen=True)
class Project:
    """Everything loaded from a project root."""

    decks: tuple[DeckSpec, ...]
    """Deck files, in file-name order."""
    card_files: dict[str, tuple[Card, ...]]
    """Cards of each card file, keyed by relative path."""
    deck_files: dict[str, tuple[str, ...]]
    """Card files of each deck (by deck file path), in study order."""
    unused_card_files: tuple[str, ...] = ()
    """Files under cards/ that no deck uses: their cards reach nobody."""
    card_file_digests: dict[str, str] = field(default_factory=dict)
    """A digest of each card file's path and bytes, by path, for the files read through the
    render cache: the same digest, the same cards (later stages' entries keep it to say so)."""
