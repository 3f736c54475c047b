"""Renaming released subdecks (`deck_was`): what the release notes tell members, done in real Anki.

Anki matches decks by name and never moves a card it has, so a renamed subdeck splits a member's
cards between the old and the new name unless the member renames theirs first. These tests follow
the release notes' instructions in a real collection and check where every card ends up.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from anki.collection import Collection

from .conftest import import_package, new_collection, run

DECK = (
    "name: Group\nidentity: group\n"
    "cards: [cards/loop.yaml, cards/apis.yaml, cards/caching.yaml, cards/extra.yaml]\n"
)


def card_file(deck: str, *ids: str, deck_was: str = "") -> str:
    lines = [f"deck: {deck}"] + ([f"deck_was: {deck_was}"] if deck_was else []) + ["cards:"]
    for card_id in ids:
        lines += [f"  - id: {card_id}", f"    front: What is {card_id}?", f"    back: It is {card_id}."]
    return "\n".join(lines) + "\n"


RELEASE_1 = {
    "decks/group.yaml": DECK,
    "cards/loop.yaml": card_file("Loop", "loop-a", "loop-b"),
    "cards/apis.yaml": card_file("Blocks::APIs", "api-a"),
    "cards/caching.yaml": card_file("Blocks::Caching", "cache-a", "cache-b"),
    "cards/extra.yaml": card_file("Extra", "extra-a"),
}
RENAMED = {
    "cards/loop.yaml": card_file("1 Loop", "loop-a", "loop-b", "loop-new", deck_was="Loop"),
    "cards/apis.yaml": card_file("2 Blocks::1 APIs", "api-a", deck_was="Blocks::APIs"),
    "cards/caching.yaml": card_file("2 Blocks::2 Caching", "cache-a", "cache-b", deck_was="Blocks::Caching"),
}
EXPECTED = {
    "loop-a": "Group::1 Loop",
    "loop-b": "Group::1 Loop",
    "loop-new": "Group::1 Loop",
    "api-a": "Group::2 Blocks::1 APIs",
    "cache-a": "Group::2 Blocks::2 Caching",
    "cache-b": "Group::2 Blocks::2 Caching",
    "extra-a": "Group::Extra",
}


def release(root: Path) -> str:
    result = run("release", "--project", root)
    assert result.exit_code == 0, result.output
    return result.stdout


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")


def where(col: Collection) -> dict[str, str]:
    """Card id -> the deck of each of its cards (one card per note here)."""
    found: dict[str, str] = {}
    for cid in col.find_cards(""):
        card = col.get_card(cid)
        card_id = card.note()["ID"]
        assert card_id not in found, f"two cards for {card_id}"
        found[card_id] = col.decks.name(card.did)
    return found


def renames_in(notes: str) -> list[tuple[str, str]]:
    section = notes.split("## Subdecks renamed", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^- `([^`]+)` → `([^`]+)`$", section, re.M)


def emptied_in(notes: str) -> list[str]:
    (listed,) = re.findall(r"these old parent subdecks hold no cards: (.*?)\. Check", notes)
    return re.findall(r"`([^`]+)`", listed)


def studied_member(tmp_path: Path, root: Path) -> tuple[Collection, dict[int, tuple[int, ...]]]:
    col = new_collection(tmp_path / "member" / "collection.anki2")
    import_package(col, root / "dist" / "group.apkg")
    for card_id in ("loop-a", "cache-a"):
        (cid,) = col.find_cards(f'"ID:{card_id}"')
        card = col.get_card(cid)
        card.start_timer()
        col.sched.answerCard(card, 3)
    return col, schedule(col)


def schedule(col: Collection) -> dict[int, tuple[int, ...]]:
    return {
        cid: (c.nid, c.ord, c.type, c.queue, c.due, c.ivl, c.reps)
        for cid in col.find_cards("")
        for c in [col.get_card(cid)]
    }


@pytest.fixture
def renamed(make_project, tmp_path: Path) -> tuple[Path, Collection, dict[int, tuple[int, ...]], str]:  # type: ignore[no-untyped-def]
    root = make_project(RELEASE_1)
    release(root)
    col, before = studied_member(tmp_path, root)
    write(root, RENAMED)
    assert "release 2: 1 added, 5 changed" in release(root)
    notes = (root / "dist" / "group.release-notes.md").read_text("utf-8")
    return root, col, before, notes


def test_the_release_notes_list_each_rename_and_the_emptied_parent(renamed) -> None:  # type: ignore[no-untyped-def]
    _, _, _, notes = renamed
    assert renames_in(notes) == [
        ("Group::Loop", "Group::1 Loop"),
        ("Group::Blocks::APIs", "Group::2 Blocks::1 APIs"),
        ("Group::Blocks::Caching", "Group::2 Blocks::2 Caching"),
    ]
    assert emptied_in(notes) == ["Group::Blocks"]
    assert "moved to another subdeck" not in notes  # the renames cover every move


def test_renaming_before_the_import_puts_every_card_where_the_deck_file_says(renamed) -> None:  # type: ignore[no-untyped-def]
    root, col, before, notes = renamed
    for old, new in renames_in(notes):
        col.decks.rename(col.decks.by_name(old), new)
    for parent in emptied_in(notes):
        assert not col.find_cards(f'"deck:{parent}"')
        col.decks.remove([col.decks.id_for_name(parent)])
    log = import_package(col, root / "dist" / "group.apkg")
    assert [n.fields[-1] for n in log.new] == ["loop-new"] and not log.conflicting
    assert where(col) == EXPECTED
    names = {d.name for d in col.decks.all_names_and_ids()}
    assert names == {"Default", "Group", "Group::1 Loop", "Group::2 Blocks", "Group::2 Blocks::1 APIs"} | {
        "Group::2 Blocks::2 Caching",
        "Group::Extra",
    }
    assert {cid: s for cid, s in schedule(col).items() if cid in before} == before


def test_a_member_who_imported_first_moves_the_cards_by_the_search_given(renamed) -> None:  # type: ignore[no-untyped-def]
    root, col, before, notes = renamed
    import_package(col, root / "dist" / "group.apkg")
    assert where(col)["loop-a"] == "Group::Loop"  # Anki left the member's card where it was
    searches = dict(imported_first_in(notes))
    assert searches["Group::1 Loop"] == '"deck:Group::Loop" -"deck:Group::Loop::*"'
    for old, new in renames_in(notes):
        col.set_deck(col.find_cards(searches[new]), col.decks.id_for_name(new))
        col.decks.remove([col.decks.id_for_name(old)])
    for parent in emptied_in(notes):
        col.decks.remove([col.decks.id_for_name(parent)])
    assert where(col) == EXPECTED
    assert not [d.name for d in col.decks.all_names_and_ids() if d.name.endswith("+")]
    assert {cid: s for cid, s in schedule(col).items() if cid in before} == before


def test_a_subdeck_merged_into_one_that_stays_is_a_move_by_search(make_project) -> None:  # type: ignore[no-untyped-def]
    root = make_project(RELEASE_1)
    release(root)
    write(root, {"cards/apis.yaml": card_file("Blocks::Caching", "api-a", deck_was="Blocks::APIs")})
    release(root)
    notes = (root / "dist" / "group.release-notes.md").read_text("utf-8")
    assert "## Subdecks renamed" not in notes  # renaming onto Caching would make "Caching+"
    assert '\n- `Group::Blocks::Caching`: `"ID:api-a"`\n' in notes


def test_deck_was_must_name_the_subdeck_members_have(make_project) -> None:  # type: ignore[no-untyped-def]
    root = make_project(RELEASE_1)
    release(root)
    write(root, {"cards/loop.yaml": card_file("1 Loop", "loop-a", "loop-b", deck_was="Lop")})
    result = run("--project", root)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "cards/loop.yaml:2: card 'loop-a': 'deck_was' says release 1 had it in 'Group::Lop', but it "
        "was in another deck; the release notes would tell members to rename a deck they do not "
        "have. Name the deck it was in, or drop 'deck_was' (members are then told to move its "
        "cards by a search)",
        "1 error; no package written.",
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "deck_was: Loop\ncards:\n  - {id: a, front: Q?, back: A.}\n",
            "cards/x.yaml:1:11: card file: 'deck_was' is the subdeck before 'deck'; give 'deck' too",
        ),
        (
            "deck: Loop\ndeck_was: Loop\ncards:\n  - {id: a, front: Q?, back: A.}\n",
            "cards/x.yaml:2:11: card file: 'deck_was' repeats 'deck'",
        ),
        (
            "deck: Loop\ncards:\n  - {id: a, front: Q?, back: A., deck_was: Old}\n",
            "cards/x.yaml:3:44: card 'a': 'deck_was' is the subdeck before 'deck'; give 'deck' too",
        ),
        (
            "deck: Loop\ndeck_was: [Old]\ncards:\n  - {id: a, front: Q?, back: A.}\n",
            "cards/x.yaml:2:11: card file: 'deck_was' must be text, not a list",
        ),
    ],
)
def test_deck_was_is_checked_where_it_is_written(make_project, text: str, message: str) -> None:  # type: ignore[no-untyped-def]
    root = make_project({"decks/d.yaml": "name: D\n", "cards/x.yaml": text})
    result = run("--check", "--project", root)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == message


# What a member does, line by line, with the release notes
# ---------------------------------------------------------


def imported_first_in(notes: str) -> list[tuple[str, str]]:
    """(new subdeck, Browse search of the old one's own cards) for a member who imported first."""
    section = notes.split("## Subdecks renamed", 1)[1].split("\n## ", 1)[0]
    after = section.split("Imported already?", 1)[1] if "Imported already?" in section else ""
    return re.findall(r"^- `([^`]+)`: `(\"deck:[^`]+)`$", after, re.M)


def moves_in(notes: str) -> list[tuple[str, str]]:
    """(subdeck, Browse search of its notes) for the notes moved without a rename."""
    return re.findall(r'^- `([^`]+)`: `("ID:[^`]+)`$', notes, re.M)


def follow_before_import(col: Collection, root: Path, notes: str) -> None:
    if "## Subdecks renamed" in notes:
        for old, new in renames_in(notes):
            col.decks.rename(col.decks.by_name(old), new)
        for parent in emptied_in(notes) if "hold no cards" in notes else []:
            assert not col.find_cards(f'"deck:{parent}"'), f"{parent} is said to be empty"
            col.decks.remove([col.decks.id_for_name(parent)])
    import_package(col, root / "dist" / "group.apkg")
    for deck, search in moves_in(notes):
        col.set_deck(col.find_cards(search), col.decks.id_for_name(deck))


def follow_after_import(col: Collection, root: Path, notes: str) -> None:
    import_package(col, root / "dist" / "group.apkg")
    if "## Subdecks renamed" in notes:
        for new, search in imported_first_in(notes):
            old = re.findall(r'^"deck:(.*)" -', search)[0].replace("\\", "")
            col.set_deck(col.find_cards(search), col.decks.id_for_name(new))
            col.decks.remove([col.decks.id_for_name(old)])
    for deck, search in moves_in(notes):
        col.set_deck(col.find_cards(search), col.decks.id_for_name(deck))


def fresh(tmp_path: Path, root: Path) -> dict[str, str]:
    """Where a new member's import puts each card."""
    col = new_collection(tmp_path / "fresh" / "collection.anki2")
    import_package(col, root / "dist" / "group.apkg")
    return where(col)


def two_releases(make_project, tmp_path: Path, first: dict[str, str], second: dict[str, str]):  # type: ignore[no-untyped-def]
    """The project after `second` is released, a member's collection of release 1, its notes."""
    root = make_project(first)
    release(root)
    col, _ = studied_member(tmp_path, root)
    write(root, second)
    release(root)
    return root, col, (root / "dist" / "group.release-notes.md").read_text("utf-8")


@pytest.mark.parametrize(("old", "neighbour"), [("Q_A", "QxA"), ("Top*", "Topics"), ('Say "hi"', "Say")])
def test_the_search_for_members_who_imported_first_finds_only_the_old_subdeck(
    make_project, tmp_path: Path, old: str, neighbour: str
) -> None:  # type: ignore[no-untyped-def]
    # Anki's search reads `_` as any one letter and `*` as any text; a quote ends the text.
    first = RELEASE_1 | {
        "cards/loop.yaml": card_file(old, "loop-a"),
        "cards/extra.yaml": card_file(neighbour, "extra-a"),
    }
    second = {"cards/loop.yaml": card_file("1 Loop", "loop-a", deck_was=old)}
    root, col, notes = two_releases(make_project, tmp_path, first, second)
    follow_after_import(col, root, notes)
    assert where(col) == fresh(tmp_path, root)
    assert where(col)["extra-a"] == f"Group::{neighbour}"


def test_a_rename_that_changes_only_letter_case_keeps_members_cards(make_project, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # Anki's deck names ignore case: the import finds "Loop" for "loop", so there is no old deck to empty.
    second = {"cards/loop.yaml": card_file("loop", "loop-a", "loop-b", "loop-new", deck_was="Loop")}
    root, col, notes = two_releases(make_project, tmp_path, RELEASE_1, second)
    assert renames_in(notes) == [("Group::Loop", "Group::loop")]  # still worth doing, before or after
    follow_after_import(col, root, notes)
    assert {k: v.casefold() for k, v in where(col).items()} == {
        k: v.casefold() for k, v in fresh(tmp_path, root).items()
    }


def test_a_parent_renamed_only_in_letter_case_is_not_said_to_be_empty(make_project, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    second = {
        "cards/apis.yaml": card_file("blocks::1 APIs", "api-a", deck_was="Blocks::APIs"),
        "cards/caching.yaml": card_file(
            "blocks::2 Caching", "cache-a", "cache-b", deck_was="Blocks::Caching"
        ),
    }
    root, col, notes = two_releases(make_project, tmp_path, RELEASE_1, second)
    follow_before_import(col, root, notes)
    assert {k: v.casefold() for k, v in where(col).items()} == {
        k: v.casefold() for k, v in fresh(tmp_path, root).items()
    }


@pytest.mark.parametrize(
    ("ids", "line"),
    [(("loop-a", "loop-b"), "- 2 notes: only their subdeck"), (("loop-a",), "- 1 note: only its subdeck")],
)
def test_a_release_that_only_renames_subdecks_does_not_say_no_changes(
    make_project, tmp_path: Path, ids: tuple[str, ...], line: str
) -> None:  # type: ignore[no-untyped-def]
    first = RELEASE_1 | {"cards/loop.yaml": card_file("Loop", *ids)}
    second = {"cards/loop.yaml": card_file("1 Loop", *ids, deck_was="Loop")}
    _, _, notes = two_releases(make_project, tmp_path, first, second)
    assert "No changes." not in notes
    assert f"## Changed ({len(ids)})\n\n{line}, renamed (below)\n" in notes


@pytest.mark.parametrize(
    ("file", "second"),
    [
        # onto the parent members have: Anki would make "Blocks+"
        ("cards/apis.yaml", card_file("Blocks", "api-a", deck_was="Blocks::APIs")),
        # onto the package's deck itself
        (
            "cards/extra.yaml",
            "deck:\ndeck_was: Extra\n" + card_file("X", "extra-a").split("\n", 1)[1],
        ),
    ],
)
def test_no_rename_onto_a_deck_members_already_have(
    make_project, tmp_path: Path, file: str, second: str
) -> None:  # type: ignore[no-untyped-def]
    root, col, notes = two_releases(make_project, tmp_path, RELEASE_1, {file: second})
    follow_before_import(col, root, notes)
    assert where(col) == fresh(tmp_path, root)
    assert not [d.name for d in col.decks.all_names_and_ids() if d.name.endswith("+")]


@pytest.mark.parametrize(
    "second",
    [
        # a parent with its own cards gets a child: the child's file comes first in the deck file
        {
            "cards/loop.yaml": card_file(
                "2 Blocks::1 Caching", "cache-a", "cache-b", deck_was="Blocks::Caching"
            ),
            "cards/caching.yaml": card_file("2 Blocks", "loop-a", "loop-b", deck_was="Loop"),
            "cards/apis.yaml": card_file("Blocks::APIs", "api-a"),
        },
        # a subdeck renamed into a child of another renamed one, listed first
        {
            "cards/apis.yaml": card_file("1 Loop::APIs", "api-a", deck_was="Blocks::APIs"),
            "cards/loop.yaml": card_file("1 Loop", "loop-a", "loop-b", deck_was="Loop"),
            "decks/group.yaml": DECK.replace(
                "cards/loop.yaml, cards/apis.yaml", "cards/apis.yaml, cards/loop.yaml"
            ),
        },
    ],
)
def test_renames_are_listed_in_an_order_anki_can_follow(
    make_project, tmp_path: Path, second: dict[str, str]
) -> None:  # type: ignore[no-untyped-def]
    root, col, notes = two_releases(make_project, tmp_path, RELEASE_1, second)
    assert len(renames_in(notes)) == 2
    follow_before_import(col, root, notes)
    assert where(col) == fresh(tmp_path, root)
    assert not [d.name for d in col.decks.all_names_and_ids() if d.name.endswith("+")]


@pytest.mark.parametrize(
    "apis",
    [
        card_file("Extra", "api-a", deck_was="Blocks"),  # merged into a subdeck that stays
        card_file("Extra", "api-a"),  # moved without `deck_was`: from where, the notes cannot say
        card_file("Extra", "api-new"),  # removed: members keep it where it was
    ],
)
def test_a_parent_still_holding_cards_is_not_said_to_be_empty(
    make_project, tmp_path: Path, apis: str
) -> None:  # type: ignore[no-untyped-def]
    first = RELEASE_1 | {"cards/apis.yaml": card_file("Blocks", "api-a")}
    second = {
        "cards/apis.yaml": apis,
        "cards/caching.yaml": card_file(
            "2 Blocks::2 Caching", "cache-a", "cache-b", deck_was="Blocks::Caching"
        ),
    }
    root, col, notes = two_releases(make_project, tmp_path, first, second)
    assert renames_in(notes) == [("Group::Blocks::Caching", "Group::2 Blocks::2 Caching")]
    follow_before_import(col, root, notes)
    assert where(col) == fresh(tmp_path, root) | ({"api-a": "Group::Blocks"} if "api-new" in apis else {})


def test_a_parent_holding_a_note_removed_earlier_is_not_said_to_be_empty(
    make_project, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    first = RELEASE_1 | {"cards/apis.yaml": card_file("Blocks", "api-a")}
    second = {"cards/apis.yaml": card_file("Extra", "api-new")}  # api-a removed: members keep it
    root, col, _ = two_releases(make_project, tmp_path, first, second)
    import_package(col, root / "dist" / "group.apkg")
    write(
        root, {"cards/caching.yaml": card_file("2 Caching", "cache-a", "cache-b", deck_was="Blocks::Caching")}
    )
    release(root)
    notes = (root / "dist" / "group.release-notes.md").read_text("utf-8")
    assert renames_in(notes) == [("Group::Blocks::Caching", "Group::2 Caching")]
    follow_before_import(col, root, notes)
    assert where(col) == fresh(tmp_path, root) | {"api-a": "Group::Blocks"}


def test_a_member_who_skipped_a_release_empties_the_old_parents_only_after_the_moves(
    make_project, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    # Release 2 moved api-a out of Blocks; a member of release 1 still has it there.
    first = RELEASE_1 | {"cards/apis.yaml": card_file("Blocks", "api-a")}
    root, col, _ = two_releases(
        make_project, tmp_path, first, {"cards/apis.yaml": card_file("Extra", "api-a")}
    )
    write(
        root, {"cards/caching.yaml": card_file("2 Caching", "cache-a", "cache-b", deck_was="Blocks::Caching")}
    )
    release(root)
    notes = (root / "dist" / "group.release-notes.md").read_text("utf-8")
    assert emptied_in(notes) == ["Group::Blocks"]  # true for members of release 2
    paragraph = re.findall(r"^Then these old parent subdecks.*$", notes, re.M)[0]
    for old, new in renames_in(notes):
        col.decks.rename(col.decks.by_name(old), new)
    if "On an earlier release than the last, delete them only once" not in paragraph:  # delete now
        assert not col.find_cards('"deck:Group::Blocks"'), "Group::Blocks is said to be empty"
    import_package(col, root / "dist" / "group.apkg")
    catch_up = notes.split("### If you have release 1\n", 1)[1]
    for deck, search in re.findall(r'^  - `([^`]+)`: `("ID:[^`]+)`$', catch_up, re.M):
        col.set_deck(col.find_cards(search), col.decks.id_for_name(deck))
    assert not col.find_cards('"deck:Group::Blocks"')
    col.decks.remove([col.decks.id_for_name("Group::Blocks")])
    assert where(col) == fresh(tmp_path, root)
