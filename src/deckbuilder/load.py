"""Card and deck files -> the model, with every validation a file can fail."""

from __future__ import annotations

import glob
import hashlib
import itertools
import operator
import os
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import fields as dataclass_fields
from pathlib import Path
from typing import Any, TypeVar

from .ankitemplate import cloze_numbers
from .cardfilepool import CardFilePool, pays
from .model import (
    CARD_TYPES,
    Card,
    DeckSpec,
    Diagnostic,
    LintLimits,
    Location,
    Project,
    slot_maker,
)
from .projectfiles import refusal
from .rendercache import RenderCache, decode_loaded, encode_loaded
from .yamlsource import Value, YamlProblems, read_yaml

CARD_ID = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
CLOZE_NUMBERS = re.compile(r"\{\{c([0-9,]+)::")
ONE_COLON = re.compile(r"\{\{c[0-9,]+:(?!:)")
CONTROL_CHARACTER = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # \x1f separates Anki's fields
MAX_CLOZE = 500
OUTPUT_NAME = re.compile(r"[^/\\\x00-\x1f]+\.apkg")  # Anki makes no card past c500
MAX_FIELD_CHARS = 10_000
MAX_FIELD_MARKS = {"[": 50, "<": 100}
HOMEPAGE = re.compile(r"https?://[^\s<>\"'`]+")
DEFAULT_CARD_GLOBS = ("cards/**/*.yaml", "cards/**/*.yml")
_T = TypeVar("_T")

CARD_FILE_KEYS = ("deck", "deck_was", "tags", "cards")
CARD_KEYS = ("id", "type", "front", "back", "text", "extra", "source", "tags", "deck", "deck_was", "was")
_KEYS = {key: key for key in CARD_KEYS}
"""One string of each key for every card's field_lines (YAML makes a new one each time)."""
_COLLECTIONS = ("seq", "map")
DECK_KEYS = (
    "name",
    "identity",
    "description",
    "cards",
    "output",
    "note_type_version",
    "lint",
    "allow_scripts",
    "homepage",
)
LINT_KEYS = tuple(f.name for f in dataclass_fields(LintLimits))


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "deck"


def default_identity(name: str) -> str:
    """A slug of the name; a name with few Latin letters ("Физика") gets a hash of its own."""
    readable = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    if len(re.sub(r"[^a-z]", "", readable)) >= 3:
        return readable
    digest = hashlib.sha256(unicodedata.normalize("NFC", name).encode()).hexdigest()[:10]
    return f"{readable or 'deck'}-{digest}"


class _Checker:
    """Collects diagnostics for one file while reading typed values out of it."""

    def __init__(self, rel: str, problems: list[Diagnostic]) -> None:
        self.rel = rel
        self.problems = problems
        self._seen: dict[Any, Any] = {}

    def one(self, value: _T) -> _T:
        """`value`, or an equal one read before: a citation or a tag list on many cards is held
        once (YAML makes a new string of each)."""
        seen: _T = self._seen.setdefault(value, value)
        return seen

    def error(self, at: Value | int, message: str, *, code: str, key: bool = False) -> None:
        """A problem at a value (its line and column; with `key`, its key's) or at a line."""
        if isinstance(at, Value):
            location = Location(self.rel, at.line, at.key_column if key and at.key_column else at.column)
        else:
            location = Location(self.rel, at)
        self.problems.append(Diagnostic(location, message, code=code))

    def keys(self, value: Value, allowed: tuple[str, ...], what: str) -> dict[str, Value]:
        assert isinstance(value.data, dict)
        for key, item in value.data.items():
            if key not in allowed:
                close = _close_matches(key, allowed)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                self.error(item, f"{what}: unknown key '{key}'{hint}", code="unknown-key", key=True)
        return value.data

    def mapping(self, value: Value, what: str) -> bool:
        if value.kind != "map":
            self.error(value, f"{what} must be a mapping of keys to values", code="not-a-mapping")
            return False
        return True

    def text(self, entries: dict[str, Value], key: str, what: str, required: bool = False) -> str:
        """Text of `key`; scalars count as text as written (`back: 42` is "42")."""
        value = entries.get(key)
        if value is None and not required:
            return ""
        if value is not None and value.kind == "str":  # most: short text without control characters
            text = value.raw
            if len(text) <= _SHORTEST_TOO_BIG and not CONTROL_CHARACTER.search(text) and text.strip():
                seen: str = self._seen.setdefault(text, text)  # (self.one, without a call per text)
                return seen
        if value is not None and value.kind == "invalid":
            return ""
        if value is None or value.data is None:
            if required:
                at = value if value is not None else self._first(entries)
                self.error(at, f"{what}: '{key}' is required", code="required", key=True)
            return ""
        if value.kind in _COLLECTIONS:
            self.error(
                value,
                f"{what}: '{key}' must be text, not a {_noun(value)}"
                + (_flow_hint(value) if value.flow else ""),
                code="not-text",
            )
            return ""
        text = value.raw
        bad = CONTROL_CHARACTER.search(text)
        if bad:
            self.error(
                value,
                f"{what}: '{key}' contains the control character U+{ord(bad.group()):04X}, "
                "which Anki cannot store",
                code="control-character",
            )
            return ""
        too_big = _too_big_for_markdown(text) if len(text) > _SHORTEST_TOO_BIG else ""
        if too_big:
            self.error(value, f"{what}: '{key}' {too_big}", code="too-long")
            return ""
        if required and not text.strip():
            self.error(value, f"{what}: '{key}' is empty", code="empty")
        return self.one(text)

    def integer(self, entries: dict[str, Value], key: str, what: str, default: int) -> int:
        value = entries.get(key)
        if value is None:
            return default
        if value.kind != "int" or not isinstance(value.data, int) or value.data < 1:
            self.error(value, f"{what}: '{key}' must be a whole number of at least 1", code="not-a-number")
            return default
        return value.data

    def flag(self, entries: dict[str, Value], key: str, what: str) -> bool:
        value = entries.get(key)
        if value is None or value.data is None:
            return False
        if value.kind != "bool" or not isinstance(value.data, bool):
            self.error(value, f"{what}: '{key}' must be true or false", code="not-a-flag")
            return False
        return value.data

    def tags(self, entries: dict[str, Value], what: str) -> tuple[str, ...]:
        value = entries.get("tags")
        if value is None or value.data is None:
            return ()
        if value.kind != "seq":
            self.error(value, f"{what}: 'tags' must be a list, e.g. [tag-a, tag-b]", code="bad-tag")
            return ()
        assert isinstance(value.data, list)
        tags = []
        for item in value.data:
            if item.kind == "invalid":
                continue
            if not item.is_scalar or item.data is None:
                self.error(item, f"{what}: a tag must be text, not a {_noun(item)}", code="bad-tag")
                continue
            tag = item.raw
            if not tag or re.search(r"\s", tag):
                self.error(item, f"{what}: tag '{tag}' must be one word (no spaces)", code="bad-tag")
                continue
            if any(not part for part in tag.split("::")):
                self.error(item, f"{what}: tag '{tag}' has an empty part around '::'", code="bad-tag")
                continue
            if CONTROL_CHARACTER.search(tag):
                self.error(item, f"{what}: tag '{tag!r}' contains a control character", code="bad-tag")
                continue
            tags.append(tag)
        return tuple(tags)

    def strings(self, entries: dict[str, Value], key: str, what: str) -> list[tuple[str, Value]]:
        """A list of text items (a single text item is taken as a list of one)."""
        value = entries.get(key)
        if value is None or value.data is None:
            return []
        items = value.data if value.kind == "seq" else [value]
        assert isinstance(items, list)
        out = []
        for item in items:
            if item.kind == "invalid":
                continue
            if not item.is_scalar or item.data is None:
                self.error(item, f"{what}: '{key}' must be a list of text", code="not-text")
                continue
            out.append((item.raw, item))
        return out

    @staticmethod
    def _first(entries: dict[str, Value]) -> Value | int:
        """The first entry of a mapping (where its card starts), for what is missing from it."""
        return min(entries.values(), key=lambda v: (v.line, v.key_column), default=1)


def _close_matches(word: str, known: tuple[str, ...]) -> list[str]:
    """The known word closest to a misspelled one, if any is close (for a message)."""
    import difflib  # only a misspelling pays for it

    return difflib.get_close_matches(word, known, n=1)


def _flow_hint(value: Value) -> str:
    bracket = "[" if value.kind == "seq" else "{"
    return f"; quote it: unquoted text starting with '{bracket}' is a YAML {_noun(value)}"


def _too_big_for_markdown(text: str) -> str:
    """Why `text` is more than Markdown should convert, or "".

    Python-Markdown's inline patterns rescan the rest of a text for each '[' and '<', so time
    grows with their number times the length: these limits keep the worst field under about half
    a second (measured: 10,000 characters with 50 '[' or 100 '<a ', 0.2-0.4 s), far above real
    cards (the MLE deck's longest field has 683 characters and 3 of each).
    """
    if len(text) > MAX_FIELD_CHARS:
        return f"is {len(text):,} characters; a field holds at most {MAX_FIELD_CHARS:,} (split it)"
    for char, limit in MAX_FIELD_MARKS.items():
        if text.count(char) > limit:
            return f"has {text.count(char)} '{char}'; a field holds at most {limit} (Markdown slows on more)"
    return ""


_SHORTEST_TOO_BIG = min(MAX_FIELD_MARKS.values())
"""No text this long or shorter is too big for Markdown."""


def _noun(value: Value) -> str:
    return {"seq": "list", "map": "mapping", "null": "empty value"}.get(value.kind, value.kind)


def load_card_file(
    path: Path, rel: str, problems: list[Diagnostic], raw: bytes | None = None
) -> tuple[Card, ...]:
    """Read one card file (or `raw`, its bytes); append what is wrong with it to `problems`."""
    try:
        root = read_yaml(path, rel, problems, raw)
    except YamlProblems as e:
        problems.extend(e.diagnostics)
        return ()
    check = _Checker(rel, problems)
    if not check.mapping(root, "a card file"):
        return ()
    top = check.keys(root, CARD_FILE_KEYS, "card file")
    subdeck = _subdeck(check, top.get("deck"), "card file")
    file_deck_was = _deck_was(check, top, subdeck, "card file")
    file_tags = tuple(dict.fromkeys(check.tags(top, "card file")))
    cards_value = top.get("cards")
    if cards_value is None or cards_value.data is None or cards_value.data == []:
        check.error(
            cards_value or 1,
            "card file: 'cards' is required and must list at least one card",
            code="no-cards",
        )
        return ()
    if cards_value.kind != "seq":
        check.error(cards_value, "card file: 'cards' must be a list of cards", code="not-a-list")
        return ()
    assert isinstance(cards_value.data, list)
    cards = []
    for index, item in enumerate(cards_value.data, start=1):
        card = _card(check, item, index, (subdeck, file_deck_was), file_tags)
        if card is not None:
            cards.append(card)
    return tuple(cards)


def _subdeck(check: _Checker, value: Value | None, what: str, key: str = "deck") -> str:
    if value is None or value.data is None:
        return ""
    if not value.is_scalar:
        check.error(value, f"{what}: '{key}' must be text, not a {_noun(value)}", code="not-text")
        return ""
    if CONTROL_CHARACTER.search(value.raw) or "\t" in value.raw or "\n" in value.raw:
        check.error(value, f"{what}: deck {value.raw!r} contains a control character", code="bad-subdeck")
        return ""
    parts = [unicodedata.normalize("NFC", part.strip()) for part in value.raw.split("::")]
    if not all(parts):
        check.error(value, f"{what}: deck '{value.raw}' has an empty part", code="bad-subdeck")
        return ""
    return "::".join(parts)


_DeckWas = tuple[str, int] | None
"""`deck_was`: the subdeck released cards were in, and the line that says so."""


def _deck_was(check: _Checker, entries: dict[str, Value], subdeck: str, what: str) -> _DeckWas:
    """The subdeck a file's (or a card's) cards were released in, and its line: `deck_was`."""
    value = entries.get("deck_was")
    if value is None or value.data is None:
        return None
    if "deck" not in entries:
        check.error(
            value, f"{what}: 'deck_was' is the subdeck before 'deck'; give 'deck' too", code="bad-subdeck"
        )
        return None
    old = _subdeck(check, value, what, key="deck_was")
    if not old:
        return None
    if old == subdeck:
        check.error(value, f"{what}: 'deck_was' repeats 'deck'", code="bad-subdeck")
        return None
    return (old, value.line)


def _card(
    check: _Checker,
    item: Value,
    index: int,
    file_deck: tuple[str, _DeckWas],
    file_tags: tuple[str, ...],
) -> Card | None:
    """The card of a card file's item, or None; `file_tags` without duplicates."""
    if item.kind != "map":
        check.mapping(item, f"card #{index}")
        return None
    assert isinstance(item.data, dict)
    entries = item.data
    if not entries.keys() <= _KEYS.keys():  # (its name is only for the message)
        check.keys(item, CARD_KEYS, _card_name(item, index))
    card_id = check.text(entries, "id", f"card #{index}", required=True)
    if card_id and not CARD_ID.fullmatch(card_id):
        check.error(
            entries["id"],
            f"card id '{card_id}' must be lowercase letters, digits and single '-' between them",
            code="bad-id",
        )
        card_id = ""
    what = f"card '{card_id}'" if card_id else f"card #{index}"
    card_type = (check.text(entries, "type", what) if "type" in entries else "") or "basic"
    if card_type not in CARD_TYPES:
        close = _close_matches(card_type, CARD_TYPES)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        check.error(
            entries["type"],
            f"{what}: unknown card type '{card_type}'{hint}; use one of {', '.join(CARD_TYPES)}",
            code="bad-type",
        )
        # Check the rest as the type it most likely is, so that one run shows every problem.
        card_type = close[0] if close else "cloze" if "text" in entries else "basic"
    if card_type == "cloze":
        front = back = ""
        text = check.text(entries, "text", what, required=True)
        for key in ("front", "back"):
            if key in entries:
                check.error(entries[key], f"{what}: a cloze card has 'text', not '{key}'", code="wrong-field")
        written = [
            int(n) if len(n) <= 6 else MAX_CLOZE + 1
            for group in CLOZE_NUMBERS.findall(text)
            for n in group.split(",")
            if n
        ]
        one_colon = ONE_COLON.search(text)
        if 0 in written:
            check.error(entries["text"], f"{what}: cloze numbers start at c1, not c0", code="cloze-number")
        elif written and max(written) > MAX_CLOZE:
            check.error(entries["text"], f"{what}: cloze numbers go up to c{MAX_CLOZE}", code="cloze-number")
        elif one_colon:
            check.error(
                entries["text"],
                f"{what}: '{one_colon.group()}' needs two colons: {{{{c1::answer}}}}",
                code="cloze-colon",
            )
        elif text and not cloze_numbers([text]):
            check.error(
                entries["text"],
                f"{what}: cloze text has no deletion; mark one like {{{{c1::answer}}}}",
                code="cloze-no-deletion",
            )
    else:
        text = ""
        front = check.text(entries, "front", what, required=True)
        back = check.text(entries, "back", what, required=True)
        if "text" in entries:
            check.error(
                entries["text"],
                f"{what}: 'text' is for cloze cards; a {card_type} card has 'front' and 'back'",
                code="wrong-field",
            )
    card_tags = check.tags(entries, what) if "tags" in entries else ()
    tags = check.one(tuple(dict.fromkeys((*file_tags, *card_tags))) if card_tags else file_tags)
    if "deck" in entries:
        subdeck = _subdeck(check, entries.get("deck"), what)
        deck_was = _deck_was(check, entries, subdeck, what)
    else:
        subdeck, deck_was = file_deck
        if "deck_was" in entries:
            _deck_was(check, entries, subdeck, what)  # without 'deck': an error
    was = []
    for old, at in check.strings(entries, "was", what) if "was" in entries else ():
        if not CARD_ID.fullmatch(old):
            check.error(at, f"{what}: earlier id '{old}' is not a valid card id", code="bad-was")
        elif old == card_id:
            check.error(at, f"{what}: 'was' repeats the card's own id", code="bad-was")
        else:
            was.append(old)
    if not card_id:
        return None
    field_lines = {_KEYS.get(key, key): value.line for key, value in entries.items()}
    if deck_was:
        field_lines["deck_was"] = deck_was[1]
    # (A text the card leaves out is "": most cards leave out some.)
    extra = check.text(entries, "extra", what) if "extra" in entries else ""
    source = check.text(entries, "source", what) if "source" in entries else ""
    return _card_of(  # Card(id, type, front, back, text, extra, source, tags, subdeck, was, …)
        card_id,
        card_type,
        front,
        back,
        text,
        extra,
        source,
        tags,
        subdeck,
        tuple(was),
        _location_of(check.rel, item.line, 0),
        field_lines,
        deck_was[0] if deck_was else "",
    )


_card_of = slot_maker(Card)
_location_of = slot_maker(Location)


def _card_name(item: Value, index: int) -> str:
    assert isinstance(item.data, dict)
    card_id = item.data.get("id")
    if card_id is not None and card_id.is_scalar and card_id.data:
        return f"card '{card_id.data}'"
    return f"card #{index}"


def load_deck_file(path: Path, rel: str, problems: list[Diagnostic]) -> DeckSpec | None:
    try:
        root = read_yaml(path, rel, problems)
    except YamlProblems as e:
        problems.extend(e.diagnostics)
        return None
    check = _Checker(rel, problems)
    if not check.mapping(root, "a deck file"):
        return None
    entries = check.keys(root, DECK_KEYS, "deck file")
    name = check.text(entries, "name", "deck file", required=True)
    if name and any(not part.strip() for part in name.split("::")):
        check.error(entries["name"], f"deck file: name '{name}' has an empty part", code="bad-deck-name")
    identity = check.text(entries, "identity", "deck file") or default_identity(name)
    if "identity" in entries and not CARD_ID.fullmatch(identity):
        check.error(
            entries["identity"],
            "deck file: 'identity' must be lowercase letters, digits and '-'",
            code="bad-identity",
        )
    output = check.text(entries, "output", "deck file") or f"{slug(name)}.apkg"
    if "output" in entries and not OUTPUT_NAME.fullmatch(output):
        check.error(
            entries["output"], "deck file: 'output' must be a file name ending in .apkg", code="bad-output"
        )
    homepage = check.text(entries, "homepage", "deck file")
    if homepage and not HOMEPAGE.fullmatch(homepage):
        check.error(
            entries["homepage"],
            "deck file: 'homepage' must be an https:// or http:// address",
            code="bad-homepage",
        )
    globs = check.strings(entries, "cards", "deck file")
    if "cards" in entries and not globs:
        check.error(entries["cards"], "deck file: 'cards' lists no globs", code="no-globs")
    return DeckSpec(
        name="::".join(part.strip() for part in name.split("::")),
        identity=identity,
        identity_line=entries["identity"].line if "identity" in entries else 0,
        description=check.text(entries, "description", "deck file"),
        card_globs=tuple((g, at.line) for g, at in globs) or tuple((g, 0) for g in DEFAULT_CARD_GLOBS),
        output=output,
        note_type_version=check.integer(entries, "note_type_version", "deck file", 1),
        note_type_version_line=entries["note_type_version"].line if "note_type_version" in entries else 0,
        lint=_lint_limits(check, entries.get("lint")),
        location=Location(rel, 1),
        allow_scripts=check.flag(entries, "allow_scripts", "deck file"),
        description_line=entries["description"].line if "description" in entries else 0,
        homepage=homepage,
    )


def _lint_limits(check: _Checker, value: Value | None) -> LintLimits:
    """The limits the deck file names; the others stay off."""
    if value is None or value.data is None or not check.mapping(value, "deck file: 'lint'"):
        return LintLimits()
    entries = check.keys(value, LINT_KEYS, "deck file: lint")
    off = LintLimits()
    return LintLimits(
        max_answer_words=check.integer(entries, "max_answer_words", "lint", off.max_answer_words),
        max_list_items=check.integer(entries, "max_list_items", "lint", off.max_list_items),
        max_deletions_per_card=check.integer(
            entries, "max_deletions_per_card", "lint", off.max_deletions_per_card
        ),
        max_deletions_per_note=check.integer(
            entries, "max_deletions_per_note", "lint", off.max_deletions_per_note
        ),
        paper_tag=check.text(entries, "paper_tag", "lint") or off.paper_tag,
        study_order=check.flag(entries, "study_order", "lint"),
    )


def load_project(
    root: Path,
    problems: list[Diagnostic],
    cache: RenderCache | None = None,
    workers: int = 1,
    parsed: Callable[[tuple[Card, ...]], None] | None = None,
) -> Project:
    """Load every deck file and every card file they use; report problems to `problems`.

    What could be read is returned even when there are problems, so that later stages can
    report theirs in the same run. With a `cache`, a card file whose bytes were loaded before
    is not parsed again. With `workers` > 1, many large card files are parsed in that many
    processes (see cardfilepool.py); the result is the same. `parsed` hears of the cards of
    each card file parsed (not taken from the cache) as soon as they are read.
    """
    deck_paths = sorted((root / "decks").glob("*.y*ml")) if (root / "decks").is_dir() else []
    if not deck_paths:
        problems.append(
            Diagnostic(
                Location("decks", 0),
                "no deck files (decks/*.yaml) found; start a project with `build-deck init`",
                code="no-decks",
            )
        )
    decks = []
    for path in deck_paths:
        reason = refusal(root, path)
        if reason is not None:
            problems.append(_refused(_rel(root, path), reason))
            continue
        deck = load_deck_file(path, _rel(root, path), problems)
        if deck is not None:
            decks.append(deck)
    _check_unique(decks, lambda d: Path(d.location.path).stem, "deck file name", problems)
    _check_unique(decks, lambda d: d.name, "deck name", problems)
    _check_unique(decks, lambda d: d.output, "output file", problems)

    card_files: dict[str, tuple[Card, ...]] = {}
    deck_files: dict[str, tuple[str, ...]] = {}
    digests: dict[str, str] = {}
    ahead = _to_parse(root, decks, cache, workers) if workers > 1 else []
    pool = CardFilePool(load_card_file, ahead, workers)
    for deck in decks:
        chosen: dict[str, None] = {}
        for pattern, line in deck.card_globs:
            problems.extend(_unreadable_folders(root, pattern))
            matches = _glob(root, pattern)
            if not matches and line:
                problems.append(
                    Diagnostic(
                        Location(deck.location.path, line),
                        f"'{pattern}' matches no card file",
                        code="glob-no-match",
                    )
                )
            chosen.update(dict.fromkeys(_rel(root, p) for p in matches))
        if not chosen and all(line == 0 for _, line in deck.card_globs):
            problems.append(
                Diagnostic(
                    Location(deck.location.path, 1),
                    f"deck '{deck.name}' has no cards: no file matches {', '.join(DEFAULT_CARD_GLOBS)}",
                    code="no-cards",
                )
            )
        deck_files[deck.location.path] = tuple(chosen)
        for rel in chosen:
            if rel in card_files:
                continue
            # A card file that cannot be read is an error, never a file whose cards were removed.
            reason = refusal(root, root / rel)
            if reason is not None:
                problems.append(_refused(rel, reason))
                card_files[rel] = ()
                continue
            try:
                card_files[rel] = _load_card_file(root / rel, rel, problems, cache, pool, digests, parsed)
            except OSError as e:
                problems.append(
                    Diagnostic(Location(rel, 0), f"cannot be read: {e.strerror or e}", code="file-unreadable")
                )
                card_files[rel] = ()
    pool.close()
    problems.extend(_misspelled_extensions(root, card_files.keys()))
    _check_card_ids(card_files, problems)
    for deck in decks:
        _check_subdecks(
            [card for rel in deck_files[deck.location.path] for card in card_files[rel]], problems
        )
    unused = sorted(
        {_rel(root, p) for pattern in DEFAULT_CARD_GLOBS for p in _glob(root, pattern) if p.is_file()}
        - card_files.keys()
    )
    return Project(
        decks=tuple(decks),
        card_files=card_files,
        deck_files=deck_files,
        unused_card_files=tuple(unused),
        card_file_digests=digests,
    )


def _to_parse(
    root: Path, decks: list[DeckSpec], cache: RenderCache | None, workers: int
) -> list[tuple[Path, str, bytes]]:
    """The card files the decks use that the loader will parse (not refused, not in the cache),
    for the card file pool; none, and nothing read, when by their sizes the pool would not start
    its workers (most projects: their files are then read once, by the loader)."""
    paths: dict[str, Path] = {}
    for deck in decks:
        for pattern, _ in deck.card_globs:
            for path in _glob(root, pattern):
                paths.setdefault(_rel(root, path), path)
    if not pays(workers, list(map(_size, paths.values()))):
        return []
    files: dict[str, tuple[Path, str, bytes]] = {}
    for rel in paths:
        if refusal(root, root / rel) is not None:
            continue
        try:
            raw = (root / rel).read_bytes()
        except OSError:
            continue  # the loader reports it
        files[rel] = (root / rel, rel, raw)
    if cache is not None:
        keys = {rel: _cache_key(rel, raw) for rel, (_, _, raw) in files.items()}
        kept = cache.has(keys.values(), "card-file")
        files = {rel: file for rel, file in files.items() if keys[rel] not in kept}
    return list(files.values())


def _size(path: Path) -> int:
    """The size of what `path` names, links followed (only to decide: the pool reads nothing of
    a file the loader refuses, and checks the sizes of what it reads again)."""
    try:
        return path.stat().st_size
    except OSError:
        return 0  # (gone or unreadable: the loader says why)


def _cache_key(rel: str, raw: bytes) -> str:
    return f"{rel}\0{hashlib.sha256(raw).hexdigest()}"


def _load_card_file(
    path: Path,
    rel: str,
    problems: list[Diagnostic],
    cache: RenderCache | None,
    pool: CardFilePool,
    digests: dict[str, str],
    on_parsed: Callable[[tuple[Card, ...]], None] | None = None,
) -> tuple[Card, ...]:
    """load_card_file, or what it made of these very bytes in an earlier build (or a worker now).
    With a cache, `digests` learns the digest of the bytes the cards come from."""
    if cache is None:
        parsed = pool.parsed_file(rel, path)
        if parsed is not None:
            problems.extend(parsed[1])
            cards = parsed[0]
        else:
            cards = load_card_file(path, rel, problems)
        if on_parsed is not None:
            on_parsed(cards)
        return cards
    raw = path.read_bytes()
    key = digests[rel] = _cache_key(rel, raw)
    kept = cache.lookup([key], "card-file").get(key)
    loaded = decode_loaded(kept) if kept is not None else None
    if loaded is not None and not _could_load(loaded[0], rel):
        loaded = None  # a card the loader never makes: not an entry of ours
    if loaded is not None:
        cards, found = loaded
    else:
        parsed = pool.parsed(rel, raw)
        if parsed is not None:
            cards, found = parsed
        else:
            found = []
            cards = load_card_file(path, rel, found, raw)
        cache.store({key: encode_loaded(cards, found)}, "card-file")
        if on_parsed is not None:
            on_parsed(cards)
    problems.extend(found)
    return cards


_PATH_OF, _TYPE_OF, _ID_OF, _TAGS_OF, _WAS_OF, _SUBDECK_OF = map(
    operator.attrgetter, ("location.path", "type", "id", "tags", "was", "subdeck")
)


def _could_load(cards: tuple[Card, ...], rel: str) -> bool:
    """Whether the loader could have made these cards of the card file `rel`: each in that
    file, of a known type, with an id it accepts and tags without spaces. (A cache entry's
    cards: their values checked a column at a time, each distinct path, type and tag list once.)"""
    return (
        set(map(_PATH_OF, cards)) <= {rel}
        and set(map(_TYPE_OF, cards)) <= _CARD_TYPES
        and all(map(CARD_ID.fullmatch, map(_ID_OF, cards)))
        and all(
            tag and not any(c.isspace() for c in tag) for tags in set(map(_TAGS_OF, cards)) for tag in tags
        )
    )


_CARD_TYPES = frozenset(CARD_TYPES)


def _glob(root: Path, pattern: str) -> list[Path]:
    """What `pattern` matches inside the project (no absolute paths, no '..').

    Not only files: a dangling link, a FIFO or a folder named like a card file is the user's
    card file gone wrong, to be reported rather than skipped.
    """
    if not pattern.strip() or Path(pattern).is_absolute() or ".." in Path(pattern).parts:
        return []
    try:
        matches = root.glob(pattern)
        return sorted(p for p in matches if not p.is_dir() or p.suffix.lower() in (".yaml", ".yml"))
    except (ValueError, OSError):  # "Unacceptable pattern"
        return []


def _refused(rel: str, reason: str) -> Diagnostic:
    if "outside the project" in reason:
        return Diagnostic(Location(rel, 0), reason, code="outside-project")
    return Diagnostic(Location(rel, 0), reason, code="file-refused")


def _unreadable_folders(root: Path, pattern: str) -> list[Diagnostic]:
    """Folders a glob would look into but cannot: their card files would vanish unseen."""
    parts = Path(pattern).parts
    if not parts or Path(pattern).is_absolute() or ".." in parts:
        return []
    fixed = [part for part in itertools.takewhile(lambda p: not glob.has_magic(p), parts[:-1])]
    start = root.joinpath(*fixed)
    if not start.is_dir():
        return []
    deep = any(glob.has_magic(part) for part in parts[len(fixed) : -1])
    found = []

    def unreadable(error: OSError) -> None:
        if error.filename:
            where = Location(_rel(root, Path(error.filename)), 0)
            message = "folder cannot be read: permission denied"
            found.append(Diagnostic(where, message, code="folder-unreadable"))

    if deep:
        for _ in os.walk(start, onerror=unreadable):
            pass
    else:
        try:
            os.listdir(start)
        except OSError as e:
            unreadable(e)
    return found


def _misspelled_extensions(root: Path, read: Iterable[str]) -> list[Diagnostic]:
    """`cards/B.YAML` is not matched by `*.yaml`: say so instead of leaving its cards out."""
    found = []
    taken = set(read)
    for folder in ("cards", "decks"):
        for path in sorted((root / folder).rglob("*")) if (root / folder).is_dir() else []:
            suffix = path.suffix
            if suffix.lower() in (".yaml", ".yml") and suffix not in (".yaml", ".yml"):
                rel = _rel(root, path)
                if rel not in taken:
                    message = f"not read: write the extension in lower case ({suffix.lower()}) to use it"
                    found.append(Diagnostic(Location(rel, 0), message, code="extension-case"))
    return found


def _rel(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()


def _check_unique(
    decks: list[DeckSpec],
    key: Callable[[DeckSpec], str],
    what: str,
    problems: list[Diagnostic],
) -> None:
    seen: dict[str, DeckSpec] = {}
    for deck in decks:
        if key(deck) in seen:
            first = seen[key(deck)].location.path
            problems.append(
                Diagnostic(
                    deck.location, f"{what} '{key(deck)}' is also used by {first}", code="duplicate-deck"
                )
            )
        seen.setdefault(key(deck), deck)


def _check_card_ids(card_files: dict[str, tuple[Card, ...]], problems: list[Diagnostic]) -> None:
    """Ids and earlier ids are identities: each may belong to one card only."""
    every = list(itertools.chain.from_iterable(card_files.values()))
    owners: dict[str, Card] = dict(zip(map(_ID_OF, every), every, strict=True))
    if len(owners) < len(every):  # (else no id is taken twice: each card owns its id)
        owners = _id_owners(every, problems)
    for card in filter(_WAS_OF, every):  # cards with earlier ids, in order
        for old in card.was:
            owner = owners.get(old)
            if owner is not None and owner is not card:
                problems.append(
                    Diagnostic(
                        card.location,
                        f"card '{card.id}': earlier id '{old}' is the id of the card at {owner.location}",
                        code="duplicate-id",
                    )
                )
            else:
                owners[old] = card


def _id_owners(cards: list[Card], problems: list[Diagnostic]) -> dict[str, Card]:
    """The first card of each id; each later card with an id taken is a problem."""
    owners: dict[str, Card] = {}
    for card in cards:
        first = owners.get(card.id)
        if first is not None:
            problems.append(
                Diagnostic(
                    card.location,
                    f"duplicate card id '{card.id}' (also at {first.location})",
                    code="duplicate-id",
                )
            )
        else:
            owners[card.id] = card
    return owners


def _check_subdecks(cards: list[Card], problems: list[Diagnostic]) -> None:
    """Anki's deck names ignore case: "Sub" and "sub" in one package become "Sub" and "sub_"."""
    names = set(map(_SUBDECK_OF, cards))
    if len({name.casefold() for name in names}) == len(names):
        return  # no two spellings of one name
    spellings: dict[str, Card] = {}
    for card in cards:
        first = spellings.setdefault(card.subdeck.casefold(), card)
        if first.subdeck != card.subdeck:
            problems.append(
                Diagnostic(
                    card.location,
                    f"card '{card.id}': subdeck '{card.subdeck}' differs only in case from "
                    f"'{first.subdeck}' ({first.location}); Anki would make two decks",
                    code="subdeck-case",
                )
            )
