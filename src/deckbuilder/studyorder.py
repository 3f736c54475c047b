"""The order a new learner meets the cards in Anki, checked against the deck file's order.

With Anki's default deck options (new cards gathered by "Deck"), a study session gathers new
cards deck by deck in the order of the deck list, which sorts subdecks by name, and by position
within each deck (measured in Anki 26.9 by tests/test_desktop.py). The package cannot change
this: Anki imports a deck options preset only when the member ticks "Import any deck presets".
So the deck file's order is the study order only while its subdecks come in name order.
"""

from __future__ import annotations

from collections.abc import Iterable

from .model import Card, Diagnostic


def deck_list_key(subdeck: str) -> tuple[str, ...]:
    """Where a subdeck sits in Anki's deck list: by name, parents before their children."""
    return tuple(part.casefold() for part in subdeck.split("::")) if subdeck else ()


def study_order(cards: Iterable[Card], deck_name: str) -> list[Diagnostic]:
    """A warning at the first card of each subdeck Anki would study before the ones listed above it."""
    warnings: list[Diagnostic] = []
    furthest: tuple[str, ...] | None = None
    furthest_name = ""
    warned: set[str] = set()
    for card in cards:
        key = deck_list_key(card.subdeck)
        if furthest is None or key > furthest:
            furthest, furthest_name = key, card.subdeck
        elif key < furthest and card.subdeck not in warned:
            warned.add(card.subdeck)
            here = card.subdeck or f"{deck_name} (the top deck)"
            warnings.append(
                Diagnostic(
                    card.location,
                    f"card '{card.id}': subdeck '{here}' comes after '{furthest_name}' in the deck file, "
                    "but Anki's default options study subdecks in name order, so new learners meet "
                    f"it first; list its cards before '{furthest_name}', or name subdecks so they sort "
                    "in the order you mean (renaming a released subdeck leaves members' cards in the "
                    "old one)",
                    warning=True,
                    code="lint-study-order",
                )
            )
    return warnings
