"""Release notes written beside each package: what the latest release changed, for members."""

from __future__ import annotations

import datetime
import html
import re
from collections.abc import Sequence

from .lint import plain_text
from .lockfile import ToDo
from .model import deck_name
from .plan import DeckPlan
from .subdeckmoves import subdeck_moves

_PART_NAMES = {"tags": "tags", "deck": "subdeck", "type": "card type"}


def markdown(plan: DeckPlan) -> str:
    release, spec = plan.release, plan.spec
    day = _day(release.time)
    cards = {rc.card.id: rc for rc in plan.cards}

    def question_of(card_id: str) -> str:  # made one at a time: a first release lists every card
        rc = cards.get(card_id)
        return _short(plain_text(rc.fields["text"] or rc.fields["front"]) if rc is not None else "")

    groups: dict[str, list[str]] = {"added": [], "changed": [], "renamed": [], "removed": []}
    removed_ids = []
    moved_ids = [c.card_id for c in release.changes if c.kind in ("changed", "renamed") and "deck" in c.what]
    moves = subdeck_moves(plan)
    only_renamed = 0
    for change in release.changes:
        question = question_of(change.card_id)
        if change.kind == "added":
            groups["added"].append(f"- {_code(change.card_id)} {question}")
        elif change.kind == "changed" and change.what == ("deck",) and change.card_id in moves.renamed_ids:
            only_renamed += 1
        elif change.kind == "changed":
            groups["changed"].append(f"- {_code(change.card_id)} {question} ({_parts(change.what)})")
        elif change.kind == "renamed":
            old, *parts = change.what
            detail = f"; {_parts(parts)} changed" if [p for p in parts if p != "ID"] else ""
            groups["renamed"].append(f"- {_code(old)} → {_code(change.card_id)} {question}{detail}")
        else:
            removed_ids.append(change.card_id)
            groups["removed"].append(f"- {_code(change.card_id)}")
    title = f"{plan.label}, {day}" if plan.draft else f"{plan.label} ({day})"
    lines = [f"# {_text(spec.name)} — {title}", ""]
    if plan.draft:
        lines += [
            f"A draft of release {release.number}, for trying in your own Anki: importing it, and "
            "later the release, updates your copy. Members should wait for the release "
            "(`build-deck release`).",
            "",
        ]
    lines += [
        f"{len(plan.content.notes)} notes, {plan.card_count} cards, "
        f"{len(plan.content.media)} media files in {_code(spec.output)}.",
        "",
        "Import the package over your copy with Anki's default options: changed notes are "
        "updated, your reviews and scheduling are kept, and notes you edited yourself are left "
        "alone unless this release changed them too.",
    ]
    titles = {
        "added": "Added",
        "changed": "Changed",
        "renamed": "Renamed (same note, new id)",
        "removed": "Removed",
    }
    for kind, entries in groups.items():
        if kind == "changed" and only_renamed:
            more = "more " if entries else ""
            notes = "note: only its subdeck" if only_renamed == 1 else "notes: only their subdeck"
            entries = [*entries, f"- {only_renamed} {more}{notes}, renamed (below)"]
            count = len(entries) - 1 + only_renamed
            lines += ["", f"## {titles[kind]} ({count})", "", *entries]
        elif entries:
            lines += ["", f"## {titles[kind]} ({len(entries)})", "", *entries]
    if moves.renames:
        # Notes moved in a release a member skipped are still in their old subdecks (from where
        # is not recorded), so that member empties the old parents only after moving them.
        number, state = release.number, release.state
        skipped_moves = any(state.to_do_since(since).moved for since in range(1, number - 1))
        lines += _renames(moves.renames, moves.emptied, skipped_moves)
    moved_ids = [card_id for card_id in moved_ids if card_id not in moves.renamed_ids]
    if moved_ids:
        lines += [
            "",
            f"{len(moved_ids)} of these notes moved to another subdeck. Anki keeps the cards you "
            "already have where they are; to move them too, open Browse, search each line's notes, "
            "select the cards and use Change Deck to the subdeck named:",
            "",
            *_moves_by_deck(moved_ids, plan),
        ]
    if release.retired_note_types:
        search = " OR ".join(_note_type_search(name) for name in release.retired_note_types)
        lines += [
            "",
            "## Note types replaced",
            "",
            "This release brings new note types, so every note arrives as a new note. Your old "
            "notes, with their reviews, stay in your collection and no longer update. To find "
            "them, open Browse and search:",
            "",
            f"    {search}",
            "",
            "then delete or suspend them once the new cards have taken over.",
        ]
    if removed_ids:
        search = " OR ".join(f'"ID:{card_id}"' for card_id in removed_ids)
        lines += [
            "",
            "Anki never deletes notes on import: removed notes stay in your collection. To find "
            "them, open Browse and search:",
            "",
            f"    {search}",
            "",
            "then delete or suspend them as you like.",
        ]
    if release.note_type_changes:
        lines += ["", "## Note types (templates or styling updated)", ""]
        lines += [f"- {_text(name)}" for name in release.note_type_changes]
    if not any(groups.values()) and not only_renamed and not release.note_type_changes:
        lines += ["", "No changes."]
    lines += _earlier_releases(plan)
    return "\n".join(lines) + "\n"


def _renames(renames: Sequence[tuple[str, str]], emptied: Sequence[str], skipped_moves: bool) -> list[str]:
    lines = [
        "",
        f"## Subdecks renamed ({len(renames)})",
        "",
        "Anki keeps the cards you already have in their old subdecks. **Before you import**, "
        "rename each of these subdecks you have: in Anki's deck list, the gear beside it → "
        "Rename, then type the whole new name (Anki makes the parent decks it needs). The "
        "import then puts the new cards beside your old ones.",
        "",
        *(f"- {_code(old)} → {_code(new)}" for old, new in renames),
    ]
    if emptied:
        listed = ", ".join(map(_code, emptied))
        wait = (
            " On an earlier release than the last, delete them only once you have moved the cards "
            'listed under "Coming from an earlier release".'
            if skipped_moves
            else ""
        )
        lines += [
            "",
            f"Then these old parent subdecks hold no cards: {listed}. Check in Browse (search "
            f"`deck:` and the name) and delete them; deleting a deck deletes the cards in it.{wait}",
        ]
    # Only letter case changed: the import found the old subdeck (Anki ignores case), so the
    # rename still works; the old subdeck is the new one, never to be deleted.
    moves = [(old, new) for old, new in renames if old.casefold() != new.casefold()]
    if len(moves) < len(renames):
        lines += ["", "A rename above that changes only letter case works after importing too."]
    if moves:
        lines += [
            "",
            "Imported already? Then the new subdecks exist, and renaming onto one makes a copy whose "
            'name ends in "+". Move the cards instead: open Browse, search each line\'s old subdeck '
            "(the search leaves out its children), select all, Change Deck to the subdeck named, "
            "then delete the old, empty subdeck:",
            "",
            *(f"- {_code(new)}: {_code(_own_cards(old))}" for old, new in moves),
        ]
    return lines


def _own_cards(deck: str) -> str:
    """Anki's search for a deck's cards but not its children's."""
    name = _search_value(deck)
    return f'"deck:{name}" -"deck:{name}::*"'


def _note_type_search(name: str) -> str:
    """Anki's search for the notes of a note type (its name holds the deck's name: any text).
    Anki drops double quotes from a note type's name when it imports one."""
    return f'note:"{_search_value(name.replace(chr(34), ""))}"'


def _search_value(text: str) -> str:
    """Text as Anki's search matches it literally: `*`, `_`, `"` and `\\` escaped."""
    return re.sub(r'([\\"*_])', r"\\\1", text)


def _code(text: str) -> str:
    """Markdown code showing `text` as it is, whatever backticks it holds (CommonMark's rule,
    which Python-Markdown follows: a run of backticks longer than any inside, and a space
    inside each end when the text begins or ends with a backtick)."""
    if "`" not in text:  # (most ids and names)
        return f"`{text}`"
    fence = "`" * (max(map(len, _BACKTICKS.findall(text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


_BACKTICKS = re.compile("`+")
_ESCAPES = (
    *((c, "\\" + c) for c in "\\`*_[]"),  # the backslash first: the others add backslashes…
    ("&", "&amp;"),  # … and "&" before the character references, which add "&"
    ("<", "&lt;"),
    ("~", "&#126;"),
)
"""What each character Markdown or HTML would act on becomes, in an order where no replacement
makes what a later one replaces (so that each character is replaced as if by itself)."""


def _text(text: str) -> str:
    """Running Markdown text that shows `text` as it is: a card's words, a deck's name (a
    project's text, which may hold what GitHub's Markdown or HTML would act on: emphasis,
    links, images, tags). Backslash escapes where both CommonMark and Python-Markdown take
    them, character references for the rest."""
    for markup, escaped in _ESCAPES:  # (a release lists up to every card: a few tests each)
        if markup in text:
            text = text.replace(markup, escaped)
    return text


def release_stamp(number: int, draft: bool, when: int, homepage: str) -> str:
    """The end of the deck's description in Anki: which release a member has, where the next is."""
    day = _day(when)
    if not draft:
        text = f"Release {number} · {day}"
    elif number > 1:
        text = f"Draft after release {number - 1} · built {day}"
    else:
        text = f"Draft before release 1 · built {day}"
    if homepage:
        url = html.escape(homepage)
        text = f'{html.escape(text)} · new releases: <a href="{url}">{url}</a>'
    else:
        text = html.escape(text)
    return f'\n<p class="deck-release"><small>{text}</small></p>'


def _earlier_releases(plan: DeckPlan) -> list[str]:
    """For members who skipped releases: what to do by hand since each earlier release."""
    number, state = plan.release.number, plan.release.state
    if number < 3:
        return []
    groups: list[tuple[list[int], ToDo]] = []
    for since in range(1, number - 1):
        todo = state.to_do_since(since)
        if groups and groups[-1][1] == todo:
            groups[-1][0].append(since)
        else:
            groups.append(([since], todo))
    lines = [
        "",
        "## Coming from an earlier release",
        "",
        "The end of the deck's description in Anki says which release you have. Importing this "
        "one updates every note; below is what Anki leaves to you since your release (open "
        f"Browse and search). On release {number - 1}, the changes above are all there is.",
    ]
    for releases, todo in groups:
        which = (
            f"release {releases[0]}"
            if len(releases) == 1
            else f"release {releases[0]}" + (" or " if len(releases) == 2 else " to ") + str(releases[-1])
        )
        lines += ["", f"### If you have {which}", ""]
        if not todo:
            lines.append("- Nothing else to do.")
        if todo.replaced_note_types:
            search = " OR ".join(_note_type_search(name) for name in todo.replaced_note_types)
            lines.append(
                f"- Note types replaced since: search {_code(search)}, then delete or suspend those "
                "notes once the new cards have taken over."
            )
        if todo.removed:
            search = " OR ".join(f'"ID:{card_id}"' for card_id in todo.removed)
            lines.append(f"- Removed since: search {_code(search)}, then delete or suspend them.")
        if todo.moved:
            lines.append(
                "- Moved to another subdeck since: search each line's notes, select the cards and "
                "use Change Deck to the subdeck named:"
            )
            lines += [f"  {line}" for line in _moves_by_deck(todo.moved, plan)]
    return lines


def _moves_by_deck(card_ids: Sequence[str], plan: DeckPlan) -> list[str]:
    """One line per subdeck the notes now belong to: the subdeck and the search of its notes."""
    deck_of = {rc.card.id: deck_name(plan.spec, rc.card.subdeck) for rc in plan.cards}
    by_deck: dict[str, list[str]] = {}
    for card_id in card_ids:
        by_deck.setdefault(deck_of.get(card_id, plan.spec.name), []).append(card_id)
    lines = []
    for deck, ids in by_deck.items():
        search = " OR ".join(f'"ID:{card_id}"' for card_id in ids)
        lines.append(f"- {_code(deck)}: {_code(search)}")
    return lines


def _day(when: int) -> str:
    return datetime.datetime.fromtimestamp(when, datetime.UTC).date().isoformat()


def _parts(parts: Sequence[str]) -> str:
    return ", ".join(_PART_NAMES.get(p, p) for p in parts if p != "ID") or "id"


def _short(text: str, limit: int = 80) -> str:
    if len(text) > limit:
        return f"— {_text(text[: limit - 1])}…"
    return f"— {_text(text)}" if text else ""
