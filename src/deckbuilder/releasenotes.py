"""Release notes written beside each package: what the latest release changed, for members."""

from __future__ import annotations

import datetime
import html
from collections.abc import Sequence

from .lint import plain_text
from .lockfile import ToDo
from .plan import DeckPlan

_PART_NAMES = {"tags": "tags", "deck": "subdeck", "type": "card type"}


def markdown(plan: DeckPlan) -> str:
    release, spec = plan.release, plan.spec
    day = _day(release.time)
    questions = {rc.card.id: plain_text(rc.fields["text"] or rc.fields["front"]) for rc in plan.cards}
    groups: dict[str, list[str]] = {"added": [], "changed": [], "renamed": [], "removed": []}
    removed_ids = []
    moved_ids = [c.card_id for c in release.changes if c.kind in ("changed", "renamed") and "deck" in c.what]
    for change in release.changes:
        question = _short(questions.get(change.card_id, ""))
        if change.kind == "added":
            groups["added"].append(f"- `{change.card_id}` {question}")
        elif change.kind == "changed":
            groups["changed"].append(f"- `{change.card_id}` {question} ({_parts(change.what)})")
        elif change.kind == "renamed":
            old, *parts = change.what
            detail = f"; {_parts(parts)} changed" if [p for p in parts if p != "ID"] else ""
            groups["renamed"].append(f"- `{old}` → `{change.card_id}` {question}{detail}")
        else:
            removed_ids.append(change.card_id)
            groups["removed"].append(f"- `{change.card_id}`")
    title = f"{plan.label}, {day}" if plan.draft else f"{plan.label} ({day})"
    lines = [f"# {spec.name} — {title}", ""]
    if plan.draft:
        lines += [
            f"A draft of release {release.number}, for trying in your own Anki: importing it, and "
            "later the release, updates your copy. Members should wait for the release "
            "(`build-deck release`).",
            "",
        ]
    lines += [
        f"{len(plan.content.notes)} notes, {plan.card_count} cards, "
        f"{len(plan.content.media)} media files in `{spec.output}`.",
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
        if entries:
            lines += ["", f"## {titles[kind]} ({len(entries)})", "", *entries]
    if moved_ids:
        search = " OR ".join(f'"ID:{card_id}"' for card_id in moved_ids)
        lines += [
            "",
            f"{len(moved_ids)} of these notes moved to another subdeck. Anki keeps the cards you "
            "already have where they are; to move them too, open Browse, search",
            "",
            f"    {search}",
            "",
            "select the cards and use Change Deck.",
        ]
    if release.retired_note_types:
        search = " OR ".join(f'note:"{name}"' for name in release.retired_note_types)
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
        lines += [f"- {name}" for name in release.note_type_changes]
    if not any(groups.values()) and not release.note_type_changes:
        lines += ["", "No changes."]
    lines += _earlier_releases(plan)
    return "\n".join(lines) + "\n"


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
            search = " OR ".join(f'note:"{name}"' for name in todo.replaced_note_types)
            lines.append(
                f"- Note types replaced since: search `{search}`, then delete or suspend those "
                "notes once the new cards have taken over."
            )
        if todo.removed:
            search = " OR ".join(f'"ID:{card_id}"' for card_id in todo.removed)
            lines.append(f"- Removed since: search `{search}`, then delete or suspend them.")
        if todo.moved:
            search = " OR ".join(f'"ID:{card_id}"' for card_id in todo.moved)
            lines.append(
                f"- Moved to another subdeck since: search `{search}`, select the cards and use Change Deck."
            )
    return lines


def _day(when: int) -> str:
    return datetime.datetime.fromtimestamp(when, datetime.timezone.utc).date().isoformat()


def _parts(parts: Sequence[str]) -> str:
    return ", ".join(_PART_NAMES.get(p, p) for p in parts if p != "ID") or "id"


def _short(text: str, limit: int = 80) -> str:
    text = text.replace("`", "'")
    return f"— {text[: limit - 1]}…" if len(text) > limit else (f"— {text}" if text else "")
