"""The shipped MLE Interview deck: builds, lints clean, and every card renders in real Anki."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from anki.collection import Collection

from deckbuilder.build import build

from .conftest import REPO, import_package, new_collection, run


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Collection, str]:
    root = tmp_path_factory.mktemp("shipped")
    for part in ("decks", "cards"):
        shutil.copytree(REPO / part, root / part)
    result = run("--project", root, "--strict")
    assert result.exit_code == 0, result.output
    col = new_collection(tmp_path_factory.mktemp("col") / "collection.anki2")
    import_package(col, root / "dist" / "mle-interview.apkg")
    return root, col, result.stdout


def test_lint_is_clean(shipped: tuple[Path, Collection, str]) -> None:
    root, _, _ = shipped
    result = run("--project", root, "--check")
    assert result.exit_code == 0
    assert result.stderr == ""


def test_the_committed_lock_matches_the_cards(shipped: tuple[Path, Collection, str]) -> None:
    """Building the repository leaves the lock alone; its draft is the lock's release or the next one.

    Between releases the cards run ahead of the lock (new and edited cards land first as drafts;
    the author's `build-deck release` commits the lock, and release.yml's `--locked` refuses a tag
    whose lock does not already describe it). What may never happen is a draft that skips a
    release number or gives a released note another identity.
    """
    root, _, stdout = shipped
    lock = (REPO / "decks" / "mle-interview.lock.json").read_text()
    assert (root / "decks" / "mle-interview.lock.json").read_text() == lock
    committed = json.loads(lock)
    if f"release {committed['release']}: no changes since" in stdout:
        return
    assert f"draft (after release {committed['release']}): " in stdout, stdout
    (plan,) = build(root, check=True).decks
    assert plan.release.number == committed["release"] + 1
    for card_id, entry in committed["notes"].items():
        if card_id in plan.release.guids:
            assert plan.release.guids[card_id] == entry["guid"], card_id


def test_size_and_topics(shipped: tuple[Path, Collection, str]) -> None:
    _, col, _ = shipped
    assert col.note_count() > 100
    names = {d.name for d in col.decks.all_names_and_ids()}
    for topic in (
        "1 Interview Loop",
        "2 Coding Rounds",
        "3 System Design",
        "4 ML System Design",
        "7 Resources",
    ):
        assert f"MLE Interview::{topic}" in names
    assert "MLE Interview::8 Papers::9 Compared" in names
    papers = [
        n for n in names if n.startswith("MLE Interview::8 Papers::") and not n.endswith("::9 Compared")
    ]
    assert len(papers) == 8
    for deck in papers:
        count = len(col.find_notes(f'"deck:{deck}"'))
        assert 5 <= count <= 25, (deck, count)
    assert col.find_cards("deck:Default") == []


def test_every_card_renders(shipped: tuple[Path, Collection, str]) -> None:
    _, col, _ = shipped
    for cid in col.find_cards(""):
        card = col.get_card(cid)
        out = card.render_output()
        question = re.sub(r"<[^>]+>", "", out.question_text).strip()
        answer = re.sub(r"<[^>]+>", "", out.answer_text).strip()
        assert question, card.note()["ID"]
        assert len(answer) > len(question), card.note()["ID"]
        assert "{{" not in out.question_text and "{{" not in out.answer_text
        if card.note_type()["type"] == 1:  # cloze: the active deletion is hidden
            assert re.search(r'<span class="cloze" [^>]*>\[[^<]*\]</span>', out.question_text), card.note()[
                "ID"
            ]
            assert '<span class="cloze" data-ordinal=' in out.answer_text


def test_paper_cards_name_paper_and_year_and_cite_it(shipped: tuple[Path, Collection, str]) -> None:
    _, col, _ = shipped
    for nid in col.find_notes("tag:paper"):
        note = col.get_note(nid)
        question = note["Text"] if "Text" in note else note["Front"]
        assert re.search(r"\((?:19|20)\d\d\)", question), note["ID"]
        assert re.search(r"https?://", note["Source"]), note["ID"]


def test_a_new_learner_meets_every_note_in_the_deck_files_order(
    shipped: tuple[Path, Collection, str], tmp_path: Path
) -> None:
    """Anki's default options, no daily limit: the whole deck, not only the first session."""
    root, _, _ = shipped
    col = new_collection(tmp_path / "learner" / "collection.anki2")
    import_package(col, root / "dist" / "mle-interview.apkg")
    top = col.decks.id_for_name("MLE Interview")
    col.decks.select(top)
    config = col.decks.config_dict_for_deck_id(top)
    assert config["id"] == 1  # the default preset: the package brought none
    config["new"]["perDay"] = config["rev"]["perDay"] = 9999  # the review limit caps new cards too
    col.decks.update_config(config)
    queued = col.sched.get_queued_cards(fetch_limit=9999).cards
    studied = [(card.note()["ID"], card.ord) for q in queued for card in [col.get_card(q.card.id)]]
    assert len(studied) == col.card_count()
    (plan,) = build(root, check=True).decks
    assert [card_id for card_id, ord_ in studied if ord_ == 0] == [rc.card.id for rc in plan.cards]
