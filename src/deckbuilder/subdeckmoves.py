"""Subdecks a release renames, as members can follow: rename theirs in Anki before importing.

Anki matches decks by name and never moves a card it already has, so after a subdeck is renamed
a member's existing cards stay in the old subdeck while the new cards arrive in the new one
(ANKI.md). Renaming the member's old subdeck to the new name before the import avoids the split:
the import then finds the deck by its name. That is only right when the whole old subdeck goes
to one new subdeck that members do not have, not even as a parent, and nothing else lives in or
under the old one (renaming a deck in Anki takes its children along, and renaming onto an
existing name makes a copy named with a "+"). Anki ignores letter case in deck names, and so do
these comparisons. Card files say which subdeck their cards were released in (`deck_was`); the
lock has checked that it is the one members have.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

from .lock import digest
from .lockfile import NoteEntry
from .model import deck_name
from .plan import DeckPlan


@dataclass(frozen=True)
class SubdeckMoves:
    renames: tuple[tuple[str, str], ...]
    """(old full name, new full name) in the deck file's order, a new parent before its children."""
    emptied: tuple[str, ...]
    """Old parent subdecks the renames leave without cards."""
    renamed_ids: frozenset[str]
    """Card ids whose move the renames take care of."""


def subdeck_moves(plan: DeckPlan) -> SubdeckMoves:
    spec, number = plan.spec, plan.release.number
    entries = plan.release.state.notes
    if not any(card.deck_was and _moves_now(entries.get(card.id), number) for card in map(_CARD, plan.cards)):
        return _NO_MOVES  # (no released note moves by `deck_was`: most releases)
    current = {rc.card.id: deck_name(spec, rc.card.subdeck) for rc in plan.cards}
    targets: dict[str, set[str]] = {}
    moving: dict[str, list[str]] = {}
    """Old name -> ids of the released notes moving out of it by `deck_was`."""
    arrivals: dict[str, set[str]] = {}
    """New name -> the old names its moving notes come from."""
    settled: set[str] = set()
    """Decks holding notes released before this release that stay where they were."""
    for rc in plan.cards:
        card, entry = rc.card, entries.get(rc.card.id)
        if not isinstance(entry, NoteEntry) or entry.added == number:
            continue
        if entry.moved == number and card.deck_was:
            old = deck_name(spec, card.deck_was)
            targets.setdefault(old, set()).add(current[card.id])
            moving.setdefault(old, []).append(card.id)
            arrivals.setdefault(current[card.id], set()).add(old)
        elif entry.moved != number:
            settled.add(current[card.id])
    decks_now = set(current.values())
    old_names = set(targets)
    # Members keep removed notes where they were (the lock has their deck's digest, not its name),
    # and notes moved without `deck_was` until they move them: from where, nothing says.
    names = {spec.name} | {p for d in decks_now | old_names for p in (d, *_parents(d, spec.name))}
    by_digest = {digest(name): name for name in names}
    kept = {
        by_digest.get(e.hashes.get("deck", ""), "")
        for e in entries.values()
        if isinstance(e, NoteEntry) and e.removed
    }
    known = {i for ids in moving.values() for i in ids}
    unplaced = "" in kept or any(
        isinstance(e, NoteEntry) and e.moved == number and not e.removed and i not in known
        for i, e in entries.items()
    )
    kept.discard("")
    renames: list[tuple[str, str]] = []
    for old, new in targets.items():
        (target, *others) = new
        stays = any(_same(d, old) for d in decks_now - {target})  # a change of case only is a rename
        nested = any(_under(d, old) for d in decks_now | old_names)
        # Members have these decks and their parents: renaming onto one makes "target+".
        taken = any((_same(d, target) and d != old) or _under(d, target) for d in settled | old_names | kept)
        if others or stays or nested or taken or arrivals[target] != {old}:
            continue
        renames.append((old, target))
    # A rename makes its new name's parents, so one renaming onto such a parent goes first.
    first = {t: min(i for i, (_, n) in enumerate(renames) if _same(n, t) or _under(n, t)) for _, t in renames}
    renames.sort(key=lambda rename: (first[rename[1]], rename[1].count("::")))
    renamed = {old for old, _ in renames}
    emptied = sorted(
        {
            parent
            for old in renamed
            for parent in _parents(old, spec.name)
            if not unplaced
            and not any(
                _same(d, parent) or _under(d, parent) for d in decks_now | ((old_names | kept) - renamed)
            )
        },
        key=lambda name: (-name.count("::"), name),
    )
    return SubdeckMoves(
        renames=tuple(renames),
        emptied=tuple(emptied),
        renamed_ids=frozenset(i for old in renamed for i in moving[old]),
    )


_NO_MOVES = SubdeckMoves((), (), frozenset())
_CARD = operator.attrgetter("card")


def _moves_now(entry: object, number: int) -> bool:
    """Whether a card's released note moves subdeck in release `number` (see the loop below)."""
    return isinstance(entry, NoteEntry) and entry.added != number and entry.moved == number


def _same(name: str, other: str) -> bool:
    """One deck to Anki, which ignores letter case in deck names."""
    return name.casefold() == other.casefold()


def _under(name: str, parent: str) -> bool:
    return name.casefold().startswith(parent.casefold() + "::")


def _parents(name: str, top: str) -> list[str]:
    parts = name.split("::")
    parents = ["::".join(parts[:n]) for n in range(1, len(parts))]
    return [p for p in parents if p != top and p.startswith(top + "::")]
