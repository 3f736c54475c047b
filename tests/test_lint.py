"""Each lint warning, its location, and the limits a deck file sets."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .conftest import run

NAME = "name: Lint Deck\n"
LIMITS = (
    "lint:\n  max_answer_words: 25\n  max_list_items: 3\n  max_deletions_per_card: 1\n"
    "  max_deletions_per_note: 4\n  paper_tag: paper\n"
)
DECK = NAME + LIMITS


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
    deck = NAME + "lint:\n  max_answer_words: 2\n  max_list_items: 1\n  paper_tag: study\n"
    cards = (
        "cards:\n  - id: a\n    tags: [study]\n    front: Q?\n    back: three words here\n"
        "  - id: b\n    tags: [paper]\n    front: R?\n    back: |\n      - x\n      - y\n"
    )
    assert warnings_of(make_project, cards, deck) == [
        "cards/c.yaml:2: warning: card 'a': a 'study' card needs a 'source'",
        "cards/c.yaml:5: warning: card 'a': answer has 3 words (limit 2); move the explanation to 'extra'",
        "cards/c.yaml:9: warning: card 'b': answer lists 2 items (limit 1); make a card per item or a cloze",
    ]


def test_limits_apply_only_when_the_deck_file_asks(make_project: Callable[..., Path]) -> None:
    """No `lint:` block, no limits; the limit-free rules (here: a repeated question) still run."""
    cards = (
        f"tags: [paper]\ncards:\n  - id: a\n    front: Q?\n    back: {LONG}\n"
        "  - id: b\n    front: Q?\n    back: |\n      - 1\n      - 2\n      - 3\n      - 4\n"
    )
    assert warnings_of(make_project, cards, NAME) == [
        "cards/c.yaml:6: warning: card 'b': same question as the card at cards/c.yaml:3"
    ]
    assert len(warnings_of(make_project, cards, DECK)) == 5  # two sources, words, list, question


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


def test_too_many_cloze_numbers_on_one_note(make_project: Callable[..., Path]) -> None:
    five = " ".join(f"{{{{c{n}::s{n}}}}}" for n in range(1, 6))
    four = " ".join(f"{{{{c{n}::t{n}}}}}" for n in range(1, 5))
    cards = (
        f"cards:\n  - id: a\n    type: cloze\n    text: '{five}'\n"
        f"  - id: b\n    type: cloze\n    text: '{four}'\n"
    )
    assert warnings_of(make_project, cards) == [
        "cards/c.yaml:4: warning: card 'a': 5 cloze numbers on one note (limit 4); "
        "split it into notes whose clozes overlap"
    ]
    deck = NAME + "lint:\n  max_deletions_per_note: 5\n"
    assert warnings_of(make_project, cards, deck) == []


def test_question_asking_two_things(make_project: Callable[..., Path]) -> None:
    asks_two = [
        "What is X? Why does it matter?",
        "What is a context, and how many models does that imply?",
        "Which loss trains it and which hyperparameter matters?",
        "Who drives the conversation, and with what aim?",
    ]
    asks_one = [
        "Why are user and item embeddings concatenated?",
        "How are the wide and deep parts combined?",
        "Instead of asking “What should I do next?”, what should you say?",
        "What does the `and why` flag do?",
    ]
    cards = "cards:\n" + "".join(
        f"  - id: q{i}\n    front: {q!r}\n    back: Answer {i}.\n" for i, q in enumerate(asks_two + asks_one)
    )
    found = warnings_of(make_project, cards)
    assert found == [
        f"cards/c.yaml:{3 + 3 * i}: warning: card 'q{i}': the question asks two things; make a card for each"
        for i in range(len(asks_two))
    ]


def test_answer_repeating_its_question(make_project: Callable[..., Path]) -> None:
    cards = (
        "cards:\n"
        "  - id: a\n    front: 'Paper (2016): why does the ranker weight positives by watch time?'\n"
        "    back: The ranker weight positives by watch time.\n"
        "  - id: b\n    front: 'Paper (2016): which optimizer?'\n    back: Which optimizer.\n"
        "  - id: c\n    front: 'Paper (2016): A, B or both?'\n    back: Both.\n"
        "  - id: d\n    front: 'Paper (2016): why weight positives by watch time?'\n"
        "    back: Watch time measures engagement better than clicks.\n"
    )
    assert warnings_of(make_project, cards) == [
        "cards/c.yaml:4: warning: card 'a': the answer repeats its question (7 words in a row); "
        "answer with what the question does not say",
        "cards/c.yaml:7: warning: card 'b': the answer repeats its question (2 words in a row); "
        "answer with what the question does not say",
    ]


def test_image_only_questions_differ_by_image(make_project: Callable[..., Path]) -> None:
    png = bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360000002000185d3f2e70000000049454e44ae426082"
    )
    root = make_project(
        {
            "decks/lint.yaml": DECK,
            "cards/a.png": png,
            "cards/b.png": png + b"\0",
            "cards/c.yaml": (
                "cards:\n  - id: a\n    front: '![](a.png)'\n    back: A\n"
                "  - id: b\n    front: '![](b.png)'\n    back: B\n"
                "  - id: c\n    front: '![](a.png)'\n    back: C\n"
            ),
        }
    )
    result = run("--project", root, "--check")
    assert result.exit_code == 0, result.output
    assert [line for line in result.stderr.splitlines() if ": warning: " in line] == [
        "cards/c.yaml:8: warning: card 'c': same question as the card at cards/c.yaml:2"
    ]
