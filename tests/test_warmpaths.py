"""The warm build's shortcuts against the plain code each one stands for (kept here as the oracle),
over generated inputs: the same answers, the same problems in the same order."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deckbuilder import build, load, package, releasenotes
from deckbuilder.cardcache import CardCache, FieldChecks
from deckbuilder.model import CARD_TYPES, Card, Diagnostic, Location
from deckbuilder.render import RenderedCard
from deckbuilder.rendercache import RenderCache

from .conftest import run
from .test_rendercache import counting, note_text, rendered_card


def _could_load_one(card: Card, rel: str) -> bool:
    """load._could_load as it was: one card at a time."""
    return (
        card.location.path == rel
        and card.type in CARD_TYPES
        and load.CARD_ID.fullmatch(card.id) is not None
        and all(tag and not any(c.isspace() for c in tag) for tag in card.tags)
    )


def _check_card_ids(card_files: dict[str, tuple[Card, ...]], problems: list[Diagnostic]) -> None:
    """load._check_card_ids as it was: a loop over every card, twice."""
    owners: dict[str, Card] = {}
    for cards in card_files.values():
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
    for cards in card_files.values():
        for card in cards:
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


def _check_subdecks(cards: list[Card], problems: list[Diagnostic]) -> None:
    """load._check_subdecks as it was: every card's subdeck looked up."""
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


# Mostly what the loader makes, sometimes what it never does.
_IDS = st.sampled_from(["a", "b", "c-1", "c", "x1", "a", "b", "c", "A", "a-", "-a", "a b", "", "ß"])
_TAGS = st.sampled_from(["t", "u", "é", "t", "u", "t u", "", " ", "\u00a0", "t\n"])
_SUBDECKS = st.sampled_from(["", "Sub", "sub", "SUB", "Other", "Straße", "STRASSE", "A::B", "a::b"])


@st.composite
def _cards(draw: st.DrawFn, path: str) -> Card:
    return Card(
        id=draw(_IDS),
        type=draw(st.sampled_from([*CARD_TYPES, *CARD_TYPES, "Basic", "other", ""])),
        front="Q",
        back="A",
        text="",
        extra="",
        source="",
        tags=tuple(draw(st.lists(_TAGS, max_size=3))),
        subdeck=draw(_SUBDECKS),
        was=tuple(draw(st.lists(_IDS, max_size=2))),
        location=Location(
            draw(st.sampled_from([path, path, path, path, "cards/other.yaml", "cards/b.yaml/"])),
            draw(st.integers(1, 9)),
        ),
    )


_FILES = st.dictionaries(
    st.sampled_from(["cards/a.yaml", "cards/b.yaml", "cards/c.yaml"]),
    st.integers(0, 6),
    max_size=3,
)


@st.composite
def _card_files(draw: st.DrawFn) -> dict[str, tuple[Card, ...]]:
    return {rel: tuple(draw(_cards(rel)) for _ in range(n)) for rel, n in draw(_FILES).items()}


@settings(max_examples=400, deadline=None)
@given(st.lists(_cards("cards/a.yaml"), max_size=6))
def test_an_entrys_cards_are_checked_as_each_card_was(cards: list[Card]) -> None:
    assert load._could_load(tuple(cards), "cards/a.yaml") == all(
        _could_load_one(card, "cards/a.yaml") for card in cards
    )


@settings(max_examples=400, deadline=None)
@given(_card_files())
def test_ids_are_checked_as_every_card_was(card_files: dict[str, tuple[Card, ...]]) -> None:
    expected: list[Diagnostic] = []
    _check_card_ids(card_files, expected)
    found: list[Diagnostic] = []
    load._check_card_ids(card_files, found)
    assert found == expected


@settings(max_examples=400, deadline=None)
@given(st.lists(_cards("cards/a.yaml"), max_size=8))
def test_subdecks_are_checked_as_every_card_was(cards: list[Card]) -> None:
    expected: list[Diagnostic] = []
    _check_subdecks(cards, expected)
    found: list[Diagnostic] = []
    load._check_subdecks(cards, found)
    assert found == expected


def _keep(folder: Path, rendered: tuple[RenderedCard, ...], failed: set[int], stamp: str) -> None:
    cache = RenderCache(folder, b"one")
    cards = CardCache(cache, FieldChecks(), "/project")
    cards.lookup({"cards/c.yaml": tuple(rc.card for rc in rendered)}, {"cards/c.yaml": stamp})
    cards.keep("cards/c.yaml", rendered, failed)
    cache.save()


def _look_up(
    folder: Path, cards: tuple[Card, ...], stamp: str, monkeypatch: pytest.MonkeyPatch
) -> tuple[dict[int, dict[str, str]], list[object], bool]:
    """The hits, the cards whose digest was worked out, and whether the entry needs no rewrite."""
    cache = RenderCache(folder, b"one")
    kept = CardCache(cache, FieldChecks(), "/project")
    sourced = counting(monkeypatch, kept, "source")
    hits = kept.lookup({"cards/c.yaml": cards}, {"cards/c.yaml": stamp})
    cache.close()
    return hits.get("cards/c.yaml", {}), [args[0] for args in sourced], "cards/c.yaml" in kept._same


def test_an_entry_of_the_same_bytes_gives_its_cards_digests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    one, two, three = (rendered_card(id=n, front=f"**{n}**") for n in "abc")
    rendered = (one, two, three)
    cards = tuple(rc.card for rc in rendered)
    everything = {0: one.fields, 1: two.fields, 2: three.fields}
    _keep(tmp_path, rendered, set(), "bytes-1")
    # The bytes the entry was made from: each card's digest is the entry's, none worked out.
    assert _look_up(tmp_path, cards, "bytes-1", monkeypatch) == (everything, [], True)
    # Other bytes (or none known): every card's digest worked out, the same cards served.
    for other in ("bytes-2", ""):
        assert _look_up(tmp_path, cards, other, monkeypatch) == (everything, list(cards), True)
    # Other bytes with a card edited: that card is not served, whatever the entry says.
    edited = (one.card, dataclasses.replace(two.card, back="B"), three.card)
    hits, sourced, same = _look_up(tmp_path, edited, "bytes-2", monkeypatch)
    assert (hits, sourced, same) == ({0: one.fields, 2: three.fields}, list(edited), False)
    # A card the entry did not keep (its rendering had problems) has its digest worked out, is
    # not served, and the entry is written again.
    _keep(tmp_path / "failed", rendered, {1}, "bytes-1")
    hits, sourced, same = _look_up(tmp_path / "failed", cards, "bytes-1", monkeypatch)
    assert (hits, sourced, same) == ({0: one.fields, 2: three.fields}, [two.card], False)
    # A card with an image is never kept: worked out (no digest), not served, nothing to rewrite.
    image = rendered_card(id="d", extra="![d](d.png)")
    _keep(tmp_path, (one, image), set(), "bytes-3")
    assert _look_up(tmp_path, (one.card, image.card), "bytes-3", monkeypatch) == (
        {0: one.fields},
        [image.card],
        True,
    )


def test_an_entry_of_the_same_bytes_for_other_cards_is_not_trusted_for_their_digests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    one, two = (rendered_card(id=n, front=f"**{n}**") for n in "ab")
    _keep(tmp_path, (one, two), set(), "bytes-1")
    # More cards than the entry has digests: not the cards it was made from.
    three = rendered_card(id="c", front="**c**").card
    hits, sourced, same = _look_up(tmp_path, (one.card, two.card, three), "bytes-1", monkeypatch)
    assert (hits, sourced, same) == ({0: one.fields, 1: two.fields}, [one.card, two.card, three], False)


def test_the_card_entry_of_an_edited_file_serves_only_its_unedited_cards(
    make_project: Callable[..., Path], tmp_path: Path
) -> None:
    cards = "".join(f"  - id: c{i}\n    front: '**Q{i}**'\n    back: A{i}\n" for i in range(6))
    root = make_project({"decks/d.yaml": "name: D\n", "cards/c.yaml": "cards:\n" + cards})
    fresh = run("--project", root, "--out", tmp_path / "a", "--no-cache")
    assert fresh.exit_code == 0, fresh.output
    for edit in ("**Q3**", "**Q3-edited**"), ("**Q3-edited**", "**Q3**"):
        text = (root / "cards" / "c.yaml").read_text(encoding="utf-8")
        (root / "cards" / "c.yaml").write_text(text.replace(*edit), encoding="utf-8")
        for name in ("cold", "warm"):
            built = run("--project", root, "--out", tmp_path / name, "--format", "json")
            assert built.exit_code == 0, built.output
            reference = run("--project", root, "--out", tmp_path / "ref", "--no-cache", "--format", "json")
            assert built.stdout == reference.stdout
            assert note_text((tmp_path / name / "d.apkg").read_bytes(), tmp_path) == note_text(
                (tmp_path / "ref" / "d.apkg").read_bytes(), tmp_path
            )


PNG_1X1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082"
)


def _note_keys(
    cards: tuple[RenderedCard, ...], notes: tuple[Any, ...], digest_of: Callable[[str], str]
) -> list[str]:
    """Each note's key as _CheckedNotes worked it out for every note before entries had stamps."""
    keys = []
    for rc, note in zip(cards, notes, strict=True):
        nt = note.note_type
        inputs = json.dumps([[t.front for t in nt.templates], nt.kind.fields, nt.kind.cloze])
        key = "\0".join(
            (
                hashlib.sha256(inputs.encode()).hexdigest(),
                rc.card.type,
                rc.card.id,
                "1" if note.tags else "0",
                *map(digest_of, rc.fields.values()),
                rc.card.text,
            )
        )
        keys.append(hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32])
    return keys


def test_note_keys_taken_from_an_entry_are_the_notes_keys(
    make_project: Callable[..., Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[tuple[Any, tuple[Any, ...]]] = []

    class Spied(build._CheckedNotes):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            made.append((self, args))

    monkeypatch.setattr(build, "_CheckedNotes", Spied)
    basic = "".join(f"  - id: b{i}\n    front: '**Q{i}**'\n    back: A{i}\n" for i in range(4))
    pictured = "  - id: pic\n    front: 'What is ![d](d.png)?'\n    back: P\n    tags: [t]\n"
    cloze = "  - id: cz\n    type: cloze\n    text: '{{c1::a}} and {{c2::b}}'\n"
    root = make_project(
        {
            "decks/d.yaml": "name: D\n",
            "cards/a.yaml": "cards:\n" + basic + pictured,
            "cards/b.yaml": "cards:\n" + cloze + basic.replace("id: b", "id: c"),
            "cards/d.png": PNG_1X1,
        }
    )
    stamped = []
    for step in ("cold", "warm", "image", "template", "warm again"):
        if step == "image":
            (root / "cards" / "d.png").write_bytes(PNG_1X1 + b"\0")
        if step == "template":
            (root / "templates").mkdir()
            (root / "templates" / "basic.front.html").write_text("<div>{{Front}}</div>", encoding="utf-8")
        made.clear()
        build.build(root, tmp_path / step)
        ((checked, (_, cards, notes, digest_of, *_)),) = made
        assert checked._keys == _note_keys(cards, notes, digest_of), step
        stamped.append(set(checked._stamps.values()))
    assert "" not in set().union(*stamped)  # every file's bytes were known: the stamps were used
    assert stamped[0] == stamped[1] == stamped[2] != stamped[3] == stamped[4]


@settings(max_examples=300, deadline=None)
@given(
    st.text(min_size=1, max_size=12),
    st.integers(1, 4),
    st.lists(st.text(max_size=20) | st.from_regex(r"[a-z0-9]+(?:-[a-z0-9]+)*", fullmatch=True), max_size=20),
)
def test_a_decks_guids_are_each_notes_guid(identity: str, version: int, card_ids: list[str]) -> None:
    assert package.note_guids(identity, version, card_ids) == [
        package.note_guid(identity, version, card_id) for card_id in card_ids
    ]


_MARKUP = re.compile(r"[\\`*_\[\]<&~]")
_CHARACTER_REFERENCES = {"<": "&lt;", "&": "&amp;", "~": "&#126;"}


@settings(max_examples=1000, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab \\`*_[]<&~;#é\n")), max_size=30) | st.text(max_size=30))
def test_release_note_text_is_escaped_as_one_pattern_did(text: str) -> None:
    expected = _MARKUP.sub(lambda m: _CHARACTER_REFERENCES.get(m[0]) or "\\" + m[0], text)
    assert releasenotes._text(text) == expected


def test_the_lock_digests_of_ids_come_from_an_entry_of_the_same_bytes(tmp_path: Path) -> None:
    from deckbuilder.lock import digest

    rendered = tuple(rendered_card(id=n, front=f"**{n}**") for n in ("a", "b-2", "c"))
    cards = tuple(rc.card for rc in rendered)
    _keep(tmp_path, rendered, set(), "bytes-1")
    for stamp, learnt in (("bytes-1", True), ("bytes-2", False)):
        cache = RenderCache(tmp_path, b"one")
        checks = FieldChecks()
        CardCache(cache, checks, "/project").lookup({"cards/c.yaml": cards}, {"cards/c.yaml": stamp})
        cache.close()
        ids = {card.id: checks._digests.get(card.id) for card in cards}
        assert ids == ({card.id: digest(card.id) for card in cards} if learnt else dict.fromkeys(ids)), stamp


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            _cards("cards/a.yaml"),
            st.dictionaries(st.sampled_from(["front", "back", "text", "deck_was"]), st.integers(0, 99)),
        ),
        max_size=6,
    )
)
def test_a_card_file_entry_gives_back_every_field_of_its_cards(
    cards: list[tuple[Card, dict[str, int]]],
) -> None:
    from deckbuilder.rendercache import decode_loaded, encode_loaded

    made = tuple(dataclasses.replace(card, field_lines=lines) for card, lines in cards)
    problems = [Diagnostic(card.location, f"problem {n}", n % 2 == 0, "x") for n, card in enumerate(made)]
    decoded = decode_loaded(encode_loaded(made, problems))
    assert decoded is not None
    assert [[getattr(c, f.name) for f in dataclasses.fields(Card)] for c in decoded[0]] == [
        [getattr(c, f.name) for f in dataclasses.fields(Card)] for c in made
    ]
    assert decoded[1] == problems


@settings(max_examples=2000, deadline=None)
@given(
    st.lists(
        st.sampled_from(["<pre", "<pre>", "</pre>", "<pre class='x'>", "</pre", "<prex", "<pre_", "<preé"])
        | st.text(alphabet="ab \n<>/pre_é1\u00b2", max_size=6),
        max_size=10,
    ).map("".join)
)
def test_code_blocks_are_found_as_their_pattern_finds_them(fragment: str) -> None:
    from deckbuilder import lint

    assert lint._without_code_blocks(fragment) == lint._CODE_BLOCK.sub(" code ", fragment)
