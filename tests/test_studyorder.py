"""The study-order lint's idea of Anki's deck list order, against the real Anki scheduler."""

from __future__ import annotations

import random
from pathlib import Path

from deckbuilder.studyorder import deck_list_key

from .conftest import new_collection

NAMES = [
    "T::10 A", "T::2 B", "T::b", "T::B2", "T::a", "T::É", "T::e", "T::Z", "T::_x", "T::ß",
    "T::a b", "T::a::c", "T::a-b", "T::ä", "T::Ω", "T::1 Basics::2 More", "T::1 Basics::10 Later",
    "T::1 basics", "T::1 Basics",
]  # fmt: skip


def test_new_cards_come_in_the_order_the_lint_expects(tmp_path: Path) -> None:
    col = new_collection(tmp_path / "collection.anki2")
    basic = col.models.by_name("Basic")
    names = [n for n in NAMES if n != "T::1 basics"]  # Anki folds case: one deck with "T::1 Basics"
    random.Random(7).shuffle(names)
    for name in names:  # created (and positioned) in a shuffled order
        note = col.new_note(basic)
        note["Front"] = name
        col.add_note(note, col.decks.id(name))
    top = col.decks.id("T")
    col.decks.select(top)
    config = col.decks.config_dict_for_deck_id(top)
    config["new"]["perDay"] = len(names)
    col.decks.update_config(config)
    queued = col.sched.get_queued_cards(fetch_limit=len(names)).cards
    studied = [col.get_card(q.card.id).note()["Front"] for q in queued]
    assert studied == sorted(names, key=lambda n: deck_list_key(n.removeprefix("T::")))
    # Names compare as text, not as numbers: "10 …" comes before "2 …".
    assert studied.index("T::10 A") < studied.index("T::2 B")
    assert studied.index("T::1 Basics::10 Later") < studied.index("T::1 Basics::2 More")
