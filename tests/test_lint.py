"""Each lint warning, its location, and the limits a deck file sets."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .conftest import run

DECK = "name: Lint Deck\n"


def warnings_of(make_project: Callable[..., Path], cards: str, deck: str = DECK) -> list[str]:
    root = make_project({"decks/lint.yaml": deck, "cards/c.yaml": cards})
    result = run("--project", root, "--check")
    assert result.exit_code == 0, result.output
    return [line for line in result.stderr.splitlines() if ": warning: " in line]


LONG = " ".join(["word"] * 26)


def test_clean_cards_give_no_warning(make_project: Callable[..., Path]) -> None:
    cards = "cards:\n  - id: a\n    front: Q?\n    back: A short answer.\n"
    assert warnings_of(make_project, cards) == []


def test_long_answer(make_project: Callable[..., Path]) -> None:
    cards = f"cards:\n  - id: a\n    front: Q?\n    back: {LONG}\n    extra: {LONG} {LONG}\n"
    assert warnings_of(make_project, cards) == [
        "cards/c.yaml:4: warning: card 'a': answer has 26 words (limit 25); move the explanation to 'extra'"
    ]


def test_long_front_of_reversed_card_is_an_answer_too(make_project: Callable[..., Path]) -> None:
    cards = f"cards:\n  - id: a\n    type: reversed\n    front: {LONG}\n    back: term\n"
    assert warnings_of(make_project, cards) == [
        "cards/c.yaml:4: warning: card 'a': answer has 26 words (limit 25); move the explanation to 'extra'"
    ]


def test_long_list(make_project: Callable[..., Path]) -> None:
    cards = (
        "cards:\n  - id: a\n    front: Q?\n    back: |\n      - one\n      - two\n"
        "      - three\n      - four\n"
    )
    assert warnings_of(make_project, cards) == [
        "cards/c.yaml:4: warning: card 'a': answer lists 4 items (limit 3); make a card per item or a cloze"
    ]


def test_cloze_number_hiding_several_deletions(make_project: Callable[..., Path]) -> None:
    cards = "cards:\n  - id: a\n    type: cloze\n    text: '{{c1::x}} and {{c1::y}} and {{c2::z}}'\n"
    assert warnings_of(make_project, cards) == [
        "cards/c.yaml:4: warning: card 'a': cloze c1 hides 2 deletions (limit 1); give each its own number"
    ]


def test_duplicate_question(make_project: Callable[..., Path]) -> None:
    cards = (
        "cards:\n  - id: a\n    front: What is X?\n    back: A\n"
        "  - id: b\n    front: '  what is **x**'\n    back: B\n"
    )
    assert warnings_of(make_project, cards) == [
        "cards/c.yaml:5: warning: card 'b': same question as the card at cards/c.yaml:2"
    ]


def test_paper_card_without_source(make_project: Callable[..., Path]) -> None:
    cards = "tags: [paper]\ncards:\n  - id: a\n    front: Q?\n    back: A\n"
    assert warnings_of(make_project, cards) == [
        "cards/c.yaml:3: warning: card 'a': a 'paper' card needs a 'source'"
    ]


def test_limits_come_from_the_deck_file(make_project: Callable[..., Path]) -> None:
    deck = DECK + "lint:\n  max_answer_words: 2\n  max_list_items: 1\n  paper_tag: study\n"
    cards = (
        "cards:\n  - id: a\n    tags: [study]\n    front: Q?\n    back: three words here\n"
        "  - id: b\n    tags: [paper]\n    front: R?\n    back: |\n      - x\n      - y\n"
    )
    assert warnings_of(make_project, cards, deck) == [
        "cards/c.yaml:2: warning: card 'a': a 'study' card needs a 'source'",
        "cards/c.yaml:5: warning: card 'a': answer has 3 words (limit 2); move the explanation to 'extra'",
        "cards/c.yaml:9: warning: card 'b': answer lists 2 items (limit 1); make a card per item or a cloze",
    ]


def test_lint_only_on_request_and_strict_fails(make_project: Callable[..., Path]) -> None:
    root = make_project(
        {"decks/lint.yaml": DECK, "cards/c.yaml": f"cards:\n  - id: a\n    front: Q\n    back: {LONG}\n"}
    )
    plain = run("--project", root)
    assert plain.exit_code == 0 and "warning" not in plain.stderr
    linted = run("--project", root, "--lint")
    assert linted.exit_code == 0 and "1 warning." in linted.stderr
    (root / "dist" / "lint-deck.apkg").unlink()
    strict = run("--project", root, "--strict")
    assert strict.exit_code == 1
    assert not (root / "dist" / "lint-deck.apkg").exists()
