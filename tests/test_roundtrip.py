"""The sample project, built and imported into a real Anki collection."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from anki.collection import Collection

from .conftest import cards_in_order, import_package, new_collection, run


@pytest.fixture
def imported(sample: Path, tmp_path: Path) -> Collection:
    result = run("--project", sample)
    assert result.exit_code == 0, result.output
    col = new_collection(tmp_path / "col" / "collection.anki2")
    log = import_package(col, sample / "dist" / "sample.apkg")
    assert len(log.new) == 9
    return col


def note_of(col: Collection, card_id: str):  # type: ignore[no-untyped-def]
    (nid,) = col.find_notes(f'"ID:{card_id}"')
    return col.get_note(nid)


def cards_of(col: Collection, card_id: str) -> list:  # type: ignore[type-arg]
    note = note_of(col, card_id)
    return sorted(note.cards(), key=lambda c: c.ord)


def test_counts_decks_and_tags(imported: Collection) -> None:
    assert imported.note_count() == 9
    assert imported.card_count() == 11  # the reversed note and the 2-deletion cloze make 2 each
    names = {d.name for d in imported.decks.all_names_and_ids()}
    assert {"Sample Deck", "Sample Deck::Extras", "Sample Deck::Extras::Nested"} <= names
    assert set(imported.tags.all()) == {"sample", "terms", "extras"}
    assert imported.find_cards("deck:Default") == []
    assert re.fullmatch(
        # No newline: Anki's overview shows every newline of the description.
        r'A <em>sample</em> deck for the tests\. <p class="deck-release"><small>Draft before release 1 · '
        r"built \d{4}-\d\d-\d\d</small></p>",
        imported.decks.get(imported.decks.id_for_name("Sample Deck"))["desc"],
    )


def test_basic_card(imported: Collection) -> None:
    (card,) = cards_of(imported, "capital-of-france")
    out = card.render_output()
    assert "What is the capital of <strong>France</strong>?" in out.question_text
    assert "Paris" not in out.question_text
    assert '<div class="answer">Paris</div>' in out.answer_text
    assert '<div class="extra">It has been the capital since 987.</div>' in out.answer_text
    assert '<a href="https://en.wikipedia.org/wiki/Paris">' in out.answer_text
    assert '<div class="card-id">capital-of-france</div>' in out.answer_text
    assert ".nightMode" in card.question() and ".night_mode" in card.question()


def test_template_override_applies(imported: Collection) -> None:
    (card,) = cards_of(imported, "capital-of-france")
    assert 'class="question overridden"' in card.render_output().question_text
    (first, _) = cards_of(imported, "term-latency")
    assert "overridden" not in first.render_output().question_text  # only basic.front.html


def test_reversed_card_both_ways(imported: Collection) -> None:
    forward, backward = cards_of(imported, "term-latency")
    assert "latency" in forward.render_output().question_text
    assert "the time one request takes" not in forward.render_output().question_text
    assert "the time one request takes" in forward.render_output().answer_text
    assert "the time one request takes" in backward.render_output().question_text
    assert ">latency<" not in backward.render_output().question_text
    assert '<div class="answer">latency</div>' in backward.render_output().answer_text


def test_type_in_card(imported: Collection) -> None:
    (card,) = cards_of(imported, "type-two-plus-two")
    out = card.render_output()
    assert "[[type:Back]]" in out.question_text  # Anki's own marker for the typing box
    # The back shows the answer once: in Anki's comparison of the typed answer.
    assert "[[type:Back]]" in out.answer_text
    assert '<div class="answer">' not in out.answer_text


def test_cloze_hides_one_deletion_per_card(imported: Collection) -> None:
    first, second = cards_of(imported, "outline-cloze")
    q1, a1 = first.render_output().question_text, first.render_output().answer_text
    assert re.search(r'<span class="cloze"[^>]*data-ordinal="1">\[\.\.\.\]</span>', q1)
    assert "clarify the problem</span>" not in q1
    assert "propose a high-level design" in q1  # the other deletion stays visible
    assert '<span class="cloze" data-ordinal="1">clarify the problem</span>' in a1
    q2 = second.render_output().question_text
    assert "clarify the problem" in q2
    assert re.search(r'data-ordinal="2">\[\.\.\.\]</span>', q2)


def test_code_is_highlighted_without_inline_styles(imported: Collection) -> None:
    (card,) = cards_of(imported, "code-sample")
    q = card.render_output().question_text
    assert '<div class="highlight"><pre>' in q
    assert '<span class="nb">print</span>' in q
    assert "style=" not in q
    css = card.question()
    assert ".highlight .nb" in css and ".nightMode .highlight .nb" in css


def test_math_reaches_anki_untouched(imported: Collection) -> None:
    (card,) = cards_of(imported, "math-sample")
    out = card.render_output()
    assert r"\(a_1 * b_2\)" in out.question_text
    assert r"\[x_{i} = a_1 * b_2\]" in out.answer_text
    assert "<em>" not in out.question_text


def test_images_are_packed_and_referenced(imported: Collection) -> None:
    (card,) = cards_of(imported, "image-sample")
    (src,) = re.findall(r'<img[^>]*src="([^"]+)"', card.render_output().question_text)
    media = Path(imported.media.dir())
    assert (media / src).read_bytes() == (
        Path(__file__).parent / "data" / "sample" / "images" / "diagram.png"
    ).read_bytes()
    assert f'<img src="{src}" alt="again">' in card.render_output().answer_text
    assert f"<img src={src} alt=unquoted>" in card.render_output().answer_text
    (other,) = cards_of(imported, "extra-one")
    (src2,) = re.findall(r'src="([^"]+)"', other.render_output().answer_text)
    assert src2 != src  # same file name "diagram.png", different images: no collision
    check = imported.media.check()
    assert list(check.missing) == [] and list(check.unused) == []


def test_table_and_subdeck(imported: Collection) -> None:
    (card,) = cards_of(imported, "extra-table")
    assert "<table>" in card.render_output().answer_text
    assert imported.decks.name(card.did) == "Sample Deck::Extras::Nested"


def test_new_cards_come_in_source_order(imported: Collection) -> None:
    order = list(dict.fromkeys(c.note()["ID"] for c in cards_in_order(imported)))
    assert order == [
        "capital-of-france",
        "term-latency",
        "type-two-plus-two",
        "outline-cloze",
        "code-sample",
        "math-sample",
        "image-sample",
        "extra-one",
        "extra-table",
    ]
    queue = [imported.get_card(cid) for cid in imported.find_cards("is:new")]
    assert all(c.queue == 0 for c in queue)


def test_an_image_in_the_deck_description_is_packed(sample: Path, tmp_path: Path) -> None:
    """An image only the description uses: Anki keeps it because its name starts with '_'."""
    deck = sample / "decks" / "sample.yaml"
    (sample / "decks" / "logo.png").write_bytes((sample / "images" / "diagram.png").read_bytes() + b"\0")
    deck.write_text(deck.read_text().replace("for the tests.", "for the tests. ![logo](logo.png)"))
    assert run("--project", sample).exit_code == 0
    col = new_collection(tmp_path / "c" / "collection.anki2")
    import_package(col, sample / "dist" / "sample.apkg")
    desc = col.decks.get(col.decks.id_for_name("Sample Deck"))["desc"]
    (src,) = re.findall(r'src="([^"]+)"', desc)
    assert (Path(col.media.dir()) / src).is_file()
    assert list(col.media.check().missing) == []
