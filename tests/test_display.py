"""What Anki will show, checked before a package ships (issue 11's defects, found in the desktop).

Math written inside or next to text, the deck description's line breaks, cloze markup Anki would
show as typed, web images, unbalanced HTML, and the study order of subdecks.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from .conftest import DATA, import_package, new_collection, run

DECK = "name: Test Deck\noutput: test.apkg\n"


def build(root: Path) -> Path:
    result = run("--project", root)
    assert result.exit_code == 0, result.output
    return root / "dist" / "test.apkg"


def problems(root: Path, *options: str) -> list[str]:
    result = run("--project", root, "--check", *options)
    return [line for line in result.stderr.splitlines() if re.match(r"\S+:\d+: ", line)]


def anki_sides(apkg: Path, tmp: Path) -> dict[str, tuple[str, str]]:
    col = new_collection(tmp / "anki" / "collection.anki2")
    import_package(col, apkg)
    sides = {}
    for cid in col.find_cards(""):
        card = col.get_card(cid)
        sides[card.note()["ID"]] = (card.question(), card.answer())
    return sides


MATH_CARDS = r"""cards:
  - id: in-sentence
    front: 'The loss is $$L = -\log p_y$$ for one example. What is $p_y$?'
    back: p
  - id: square-then-text
    front: Which identity?
    back: |
      \[a^2 + b^2 = c^2\]
      holds for right triangles.
  - id: dollars-then-text
    front: Which formula?
    back: |
      $$E = mc^2$$
      where E is energy.
  - id: alone
    front: Which sum?
    back: |
      $$x_{i} = a_1 * b_2$$
  - id: in-code
    front: 'How do you write display math? `$$x$$`'
    back: 'With `\[x\]`.'
  - id: punctuation
    front: 'What is $a$, and what is $b$?'
    back: ok
"""


def test_display_math_inside_or_next_to_text_reaches_anki_as_math(
    make_project: Callable[..., Path], tmp_path: Path
) -> None:
    root = make_project({"decks/test.yaml": DECK, "cards/c.yaml": MATH_CARDS})
    sides = anki_sides(build(root), tmp_path)
    question, _ = sides["in-sentence"]
    assert r'The loss is <span class="arithmatex">\[L = -\log p_y\]</span> for one example.' in question
    _, answer = sides["square-then-text"]
    assert r'<span class="arithmatex">\[a^2 + b^2 = c^2\]</span>' in answer
    assert "holds for right triangles." in answer
    _, answer = sides["dollars-then-text"]
    assert r'<span class="arithmatex">\[E = mc^2\]</span>' in answer
    _, answer = sides["alone"]
    assert r'<div class="arithmatex">\[x_{i} = a_1 * b_2\]</div>' in answer  # as before: notes unchanged
    question, answer = sides["in-code"]
    assert "<code>$$x$$</code>" in question and r"<code>\[x\]</code>" in answer
    for card_id, (question, answer) in sides.items():
        for side in (question, answer):
            text = re.sub(r"<code>.*?</code>", "", side)
            assert "$" not in re.sub(r"<style>.*?</style>", "", text, flags=re.S), (card_id, side)


def test_punctuation_stays_on_the_line_of_its_math(make_project: Callable[..., Path], tmp_path: Path) -> None:
    root = make_project({"decks/test.yaml": DECK, "cards/c.yaml": MATH_CARDS})
    question, _ = anki_sides(build(root), tmp_path)["punctuation"]
    assert (
        r'What is <span class="nowrap"><span class="arithmatex">\(a\)</span>,</span> and what is '
        r'<span class="nowrap"><span class="arithmatex">\(b\)</span>?</span>' in question
    )


def test_description_keeps_paragraphs_not_line_breaks(
    make_project: Callable[..., Path], tmp_path: Path
) -> None:
    deck = DECK + "description: |\n  One paragraph written\n  over two lines.\n\n  A second one.\n"
    root = make_project({"decks/test.yaml": deck, "cards/c.yaml": MATH_CARDS})
    col = new_collection(tmp_path / "anki" / "collection.anki2")
    import_package(col, build(root))
    desc = col.decks.by_name("Test Deck")["desc"]
    # Anki's overview shows the description with `white-space: pre-wrap`: every newline shows.
    assert desc.startswith("<p>One paragraph written over two lines.</p><p>A second one.</p>")
    assert "\n" not in desc.split("<pre", 1)[0]


def test_code_block_keeps_its_lines_in_a_description(
    make_project: Callable[..., Path], tmp_path: Path
) -> None:
    deck = DECK + "description: |\n  Try:\n\n  ```\n  a = 1\n  b = 2\n  ```\n"
    root = make_project({"decks/test.yaml": deck, "cards/c.yaml": MATH_CARDS})
    col = new_collection(tmp_path / "anki" / "collection.anki2")
    import_package(col, build(root))
    assert "a = 1\nb = 2" in col.decks.by_name("Test Deck")["desc"]


def test_cloze_with_one_colon_is_located(make_project: Callable[..., Path]) -> None:
    cards = "cards:\n  - id: walrus\n    type: cloze\n    text: 'The {{c1::tusk}} of a {{c2:walrus}}.'\n"
    root = make_project({"decks/test.yaml": DECK, "cards/c.yaml": cards})
    assert problems(root) == ["cards/c.yaml:4:11: card 'walrus': '{{c2:' needs two colons: {{c1::answer}}"]


def test_cloze_syntax_outside_a_cloze_card_is_located(make_project: Callable[..., Path]) -> None:
    cards = (
        "cards:\n  - id: basic\n    front: 'The {{c1::tusk}} of a walrus?'\n    back: ivory\n"
        "  - id: code-is-fine\n    front: 'What does `{{c1::x}}` make?'\n    back: a deletion\n"
    )
    root = make_project({"decks/test.yaml": DECK, "cards/c.yaml": cards})
    assert problems(root) == [
        "cards/c.yaml:3: card 'basic': a {{c…::…}} deletion in 'front' shows as typed on a basic "
        "card; make it 'type: cloze' with the deletions in 'text', or put the braces in `code`"
    ]


def test_web_images_are_refused_with_a_hint(make_project: Callable[..., Path]) -> None:
    cards = (
        "cards:\n  - id: web\n    front: 'What is this? ![x](https://example.org/x.png)'\n    back: x\n"
        "  - id: raw\n    front: 'And this? <img src=\"//example.org/y.png\">'\n    back: y\n"
    )
    root = make_project({"decks/test.yaml": DECK, "cards/c.yaml": cards})
    hint = "members offline would see a broken image; save the file in the project and link it"
    assert problems(root) == [
        f"cards/c.yaml:3: image 'https://example.org/x.png' is on the web: {hint}",
        f"cards/c.yaml:6: image '//example.org/y.png' is on the web: {hint}",
    ]


def test_unbalanced_html_is_a_warning(make_project: Callable[..., Path]) -> None:
    cards = (
        "cards:\n  - id: open\n    front: 'Which word is <b>bold?'\n    back: bold\n"
        "  - id: stray\n    front: 'Which word?'\n    back: 'this</i>'\n"
        '  - id: fine\n    front: \'A <b>b</b> <i>i</i> <br> <img src="x.png" alt="">?\'\n    back: ok\n'
    )
    root = make_project({"decks/test.yaml": DECK, "cards/c.yaml": cards, "cards/x.png": PNG})
    result = run("--project", root)
    assert result.exit_code == 0, result.output
    assert [line for line in result.stderr.splitlines() if "warning" in line and ":" in line[:20]] == [
        "cards/c.yaml:3: warning: card 'open': 'front' leaves <b> open; close it with </b>",
        "cards/c.yaml:7: warning: card 'stray': 'back' has </i> without its <i>; Anki shows the rest "
        "of the card oddly",
    ]


def test_subdecks_out_of_name_order_are_pointed_out(make_project: Callable[..., Path]) -> None:
    deck = DECK + "lint:\n  study_order: true\ncards: [cards/b.yaml, cards/a.yaml]\n"
    files = {
        "decks/test.yaml": deck,
        "cards/b.yaml": "deck: Zeta\ncards:\n  - id: z\n    front: Which letter is last?\n    back: zeta\n",
        "cards/a.yaml": "deck: Alpha\ncards:\n  - id: a\n    front: First letter?\n    back: alpha\n",
    }
    root = make_project(files)
    assert problems(root, "--lint") == [
        "cards/a.yaml:3: warning: card 'a': subdeck 'Alpha' comes after 'Zeta' in the deck file, but "
        "Anki's default options study subdecks in name order, so new learners meet it first; list its "
        "cards before 'Zeta', or name subdecks so they sort in the order you mean (renaming a released "
        "subdeck leaves members' cards in the old one)"
    ]
    (root / "decks" / "test.yaml").write_text(deck.replace("b.yaml, cards/a.yaml", "a.yaml, cards/b.yaml"))
    assert problems(root, "--lint") == []


PNG = (DATA / "sample" / "images" / "diagram.png").read_bytes()
