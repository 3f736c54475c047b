"""Orchestrates a build: load, render, lint, plan the release, write packages."""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import operator
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeGuard

from . import releasenotes
from .activecontent import scripts_in
from .buildlock import one_build_at_a_time
from .cardcache import CardCache, FieldChecks
from .collector import paused
from .drafttime import DraftTimes, plan_inputs, rest_digest
from .lint import lint
from .load import load_project
from .lock import Lock, NoteInput, NoteTypeInput, Release
from .model import Card, DeckError, DeckSpec, Diagnostic, Location, Project, deck_name, slot_maker
from .notecheck import NoteChecker, cloze_syntax, unbalanced_html
from .notetypecache import NoteTypeCache
from .notetypes import TemplateSet
from .output import Content, write_all
from .package import (
    NoteRecord,
    PackageContent,
    card_ordinals,
    import_genanki,
    note_guid,
    note_guids,
    write_package,
)
from .packagecache import KeptPackages, inputs_digest
from .plan import DeckPlan
from .releasenotes import release_stamp
from .render import (
    MarkdownRenderer,
    MediaFiles,
    RenderedCard,
    default_workers,
    markdown_settings,
    without_soft_breaks,
)
from .rendercache import RenderCache, cache_dir, entry_list, fingerprint
from .studyorder import study_order


@dataclass
class BuildResult:
    decks: list[DeckPlan] = field(default_factory=list)
    warnings: list[Diagnostic] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)


@paused()  # (a build: see collector.py)
def build(
    root: Path,
    out: Path | None = None,
    names: Sequence[str] = (),
    *,
    check: bool = False,
    run_lint: bool = False,
    strict: bool = False,
    preview: bool = False,
    cache: bool = True,
    workers: int | None = None,
    release: bool = False,
    locked: bool = False,
    on_wait: Callable[[], None] | None = None,
    progress: Callable[[str, float], None] | None = None,
) -> BuildResult:
    """Build the project (see `_build`), one writing build of a project at a time.

    A build that writes waits for any other build of the same project (calling `on_wait` once
    if it has to), so that the packages and lock it writes come from one build alone.
    `progress(step, fraction)` hears of each step as it begins (for a progress bar).
    """
    options: dict[str, Any] = {
        "check": check,
        "run_lint": run_lint,
        "strict": strict,
        "preview": preview,
        "cache": cache,
        "progress": progress or (lambda step, fraction: None),
    }
    if check:
        return _build(root, out, names, workers=workers, release=release, locked=locked, **options)
    with one_build_at_a_time(root.resolve(), on_wait):
        return _build(root, out, names, workers=workers, release=release, locked=locked, **options)


def _build(
    root: Path,
    out: Path | None = None,
    names: Sequence[str] = (),
    *,
    check: bool = False,
    run_lint: bool = False,
    strict: bool = False,
    preview: bool = False,
    cache: bool = True,
    workers: int | None = None,
    release: bool = False,
    locked: bool = False,
    progress: Callable[[str, float], None],
) -> BuildResult:
    """Build the project's packages; raise DeckError with every problem, writing nothing.

    A build is a draft: it never writes the lock, and notes changed since the last release get
    a draft time. With `release`, decks whose cards changed become the lock's next release
    (written after their packages); a release with nothing to release is an error.
    `cache`: reuse Markdown conversions of earlier builds (see rendercache.py). `workers`:
    processes that convert Markdown (default: one per core; output is the same either way).
    """
    root = root.resolve()
    out = (out or root / "dist").resolve()
    problems: list[Diagnostic] = []
    settings = fingerprint(markdown_settings()) if cache else b""
    render_cache = RenderCache(cache_dir(), settings) if cache else None
    progress("reading the card files", 0.0)
    workers = default_workers() if workers is None else workers
    renderer = MarkdownRenderer(root, MediaFiles())
    # The cards read afresh start converting as they are read (with a second core).
    early = renderer.convert_early(render_cache, workers)
    ahead: list[tuple[dict[str, tuple[Lock, list[Diagnostic]]], list[Diagnostic]]] = []
    try:
        project = load_project(root, problems, render_cache, workers, early)
        selected = select_decks(project, names)
        templates = TemplateSet(root)
        templates.check_override_names(problems)
        note_types = NoteTypeCache(templates, render_cache)
        all_cards = [card for cards in project.card_files.values() for card in cards]
        progress(f"rendering {len(all_cards)} cards", 0.1)
        checks = FieldChecks()

        def meanwhile() -> None:  # while the Markdown worker converts: what needs no HTML
            found: list[Diagnostic] = []
            read = _check_identities(root, project, found)
            ahead.append((read, found))
            kept = (
                note_types.has(
                    spec.name, read[spec.location.path][0].identity(spec, []), spec.note_type_version
                )
                for spec in selected
            )
            if not all(kept):  # (note types from the cache need no template)
                templates.compile_ahead()
            import_genanki()

        renderer.meanwhile = meanwhile
        rendered = _render(project, renderer, render_cache, checks, problems, workers)
    finally:  # (after _render's finish, nothing to stop; before it, an error or Ctrl-C)
        renderer.stop_worker()
    now = _now(problems)
    result = BuildResult()
    result.warnings += [
        Diagnostic(Location(rel, 0), "no deck uses this card file", warning=True, code="unused-card-file")
        for rel in project.unused_card_files
    ]

    def outside_code(html: str) -> bool:
        return checks.of(html).cloze

    def unbalanced(html: str) -> str:
        return checks.of(html).unbalanced

    # Only cards with a finding in some field can have a problem the four field checks report.
    flagged = [rc for file_cards in rendered.values() for rc in file_cards if checks.found_any(rc)]
    for rc in flagged:
        problems.extend(cloze_syntax(rc, outside_code))
        result.warnings += unbalanced_html(rc, unbalanced)
    flagged_ids = {id(rc) for rc in flagged}
    cards_valid = not problems
    if ahead:
        locks, found = ahead[0]
        problems.extend(found)
    else:
        locks = _check_identities(root, project, problems)
    drafts = DraftTimes(render_cache, root, out) if render_cache is not None and not check else None
    for number, spec in enumerate(selected):
        progress(f"checking {spec.name}", 0.6 + 0.3 * number / len(selected))
        cards = tuple(rc for path in project.deck_files[spec.location.path] for rc in rendered[path])
        deck_flagged = tuple(rc for rc in cards if id(rc) in flagged_ids)
        if not spec.allow_scripts:
            problems.extend(_scripts(spec, deck_flagged, checks))
        result.warnings += _odd_tags(deck_flagged, checks)
        plan = _plan_deck(
            root,
            spec,
            cards,
            note_types,
            renderer.media,
            now,
            problems,
            cards_valid,
            release,
            render_cache,
            checks,
            locks.get(spec.location.path),
            drafts,
        )
        if plan is not None:
            result.decks.append(plan)
        if run_lint or strict or check or preview:
            result.warnings += lint(cards, spec.lint, render_cache, str(root / spec.location.path))
            if spec.lint.study_order:
                result.warnings += study_order((rc.card for rc in cards), spec.name)
    kept = KeptPackages(render_cache)
    # Released decks whose package on disk is what this build would write: left as they are.
    writes = not check and render_cache is not None
    inputs = {id(plan): inputs_digest(plan.content) for plan in result.decks if writes and not plan.draft}
    left = {
        id(plan)
        for plan in result.decks
        if (digest := inputs.get(id(plan))) and kept.unchanged(out / plan.spec.output, digest)
    }
    # Drafts that are the deck's last draft, whose package is on disk (drafttime.py).
    left.update(id(plan) for plan in result.decks if drafts is not None and drafts.is_kept(plan.spec))
    if render_cache is not None:
        render_cache.save()  # even if the build fails below: the next try starts from here

    def reopen_cache() -> RenderCache:  # for the preview's pages (saved and closed above)
        return RenderCache(cache_dir(), settings)

    reopen = reopen_cache if render_cache is not None else None
    if release and not problems and not any(plan.release.new_now for plan in result.decks):
        for plan in result.decks:
            problems.append(
                Diagnostic(
                    Location(plan.spec.location.path, 0),
                    f"nothing to release: the cards of {plan.spec.name} are release "
                    f"{plan.release.number} already",
                    code="nothing-to-release",
                )
            )
    if locked:
        problems += [
            Diagnostic(
                Location(plan.lock.rel, 0),
                (
                    f"the cards of {plan.spec.name} differ from release {plan.release.number - 1}"
                    if plan.release.number > 1
                    else f"{plan.spec.name} has no release yet"
                )
                + "; run `build-deck release` and commit the lock file",
                code="not-locked",
            )
            for plan in result.decks
            if plan.draft
        ]
    if strict or release:
        problems += result.warnings
    if problems:
        if preview and not check:
            # The preview is for finding problems: show them above the cards that did render.
            for plan in result.decks:
                try:
                    shown = DeckError([*problems, *result.warnings]).diagnostics
                    _write_preview(plan, shown, out, reopen)
                except OSError as e:  # the errors themselves matter more than the page
                    problems.append(
                        Diagnostic(Location(str(e.filename), 0), e.strerror or str(e), code="write-failed")
                    )
        # Warnings too: every problem of the run at once (under --strict they are in `problems`).
        raise DeckError([*problems, *(w for w in result.warnings if w not in problems)])
    if check:
        return result
    files: dict[Path, Content] = {}
    progress("writing the packages", 0.9)
    for plan in result.decks:
        if id(plan) not in left:
            files[out / plan.spec.output] = functools.partial(write_package, plan.content)
        files[out / f"{plan.spec.stem}.release-notes.md"] = releasenotes.markdown(plan).encode("utf-8")
        if preview:
            from .preview import page_writer, preview_path  # only --preview pays for the page

            files[preview_path(plan, out)] = page_writer(plan, result.warnings, reopen)
    result.written = [*(out / plan.spec.output for plan in result.decks if id(plan) in left), *files]
    if release:
        # Lock files last: they record a release only once its packages are in place.
        files.update(
            {plan.lock.path: Lock.dump(plan.release.state) for plan in result.decks if plan.release.new_now}
        )
    write_all(files)
    written = [plan for plan in result.decks if inputs.get(id(plan)) and id(plan) not in left]
    if (written or drafts is not None) and render_cache is not None:
        reopened = RenderCache(cache_dir(), settings)  # (saved and closed before the writes)
        kept = KeptPackages(reopened)
        for plan in written:
            kept.wrote(out / plan.spec.output, inputs[id(plan)] or "")
        if drafts is not None:
            drafts.save(reopened)
        reopened.save()
    return result


def _render(
    project: Project,
    renderer: MarkdownRenderer,
    cache: RenderCache | None,
    checks: FieldChecks,
    problems: list[Diagnostic],
    workers: int | None,
) -> dict[str, tuple[RenderedCard, ...]]:
    """Every card file's cards rendered: from the card cache, or converted (and then kept)."""
    kept = CardCache(cache, checks, str(renderer.root))
    hits = kept.lookup(project.card_files, project.card_file_digests)
    misses = [
        card
        for path, cards in project.card_files.items()
        for index, card in enumerate(cards)
        if index not in hits.get(path, ())
    ]
    renderer.convert_ahead(misses, cache, default_workers() if workers is None else workers)
    del misses
    checks.learn_simple(renderer.quick_htmls)
    rendered = {}
    for path, cards in project.card_files.items():
        file_hits = hits.pop(path, {})
        if len(file_hits) == len(cards):  # every card from the card cache (its index order)
            rendered[path] = tuple(map(_rendered_card, cards, file_hits.values(), itertools.repeat(())))
            kept.keep(path, rendered[path], ())
            continue
        done = []
        failed = set()  # cards whose problems are found afresh: not kept
        for index, card in enumerate(cards):
            fields = file_hits.get(index)
            if fields is not None:
                done.append(RenderedCard(card, fields))
            else:
                before = len(problems)
                done.append(renderer.render_card(card, problems))
                if len(problems) > before:
                    failed.add(index)
        rendered[path] = tuple(done)
        kept.keep(path, rendered[path], failed)
    renderer.finish()
    renderer.forget_conversions()
    if cache is not None:
        cache.flush()  # the new entries hold the deck's HTML: written now, not held until the end
    return rendered


_rendered_card = slot_maker(RenderedCard)
"""RenderedCard(card, fields, media), without a frozen dataclass's __init__ (one per card)."""


def _write_preview(
    plan: DeckPlan, diagnostics: list[Diagnostic], out: Path, cache: Callable[[], RenderCache] | None
) -> Path:
    from .preview import write_preview

    path: Path = write_preview(plan, diagnostics, out, cache)
    return path


class UnknownDeck(Exception):
    """A deck named on the command line is not in the project (a usage error)."""


def select_decks(project: Project, names: Sequence[str]) -> list[DeckSpec]:
    """Decks named on the command line (by name, deck file name or its stem), or all."""
    if not names:
        return list(project.decks)
    by_name = {}
    for deck in project.decks:
        path = Path(deck.location.path)
        by_name.update({deck.name: deck, path.stem: deck, path.name: deck, path.as_posix(): deck})
    unknown = [n for n in names if n not in by_name]
    if unknown:
        known = ", ".join(sorted(d.name for d in project.decks))
        raise UnknownDeck(f"no deck named {', '.join(map(repr, unknown))}; decks: {known}")
    return list(dict.fromkeys(by_name[n] for n in names))


def _now(problems: list[Diagnostic]) -> int:
    """The time of a new release: now, or SOURCE_DATE_EPOCH for a reproducible first build."""
    now = int(time.time())
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if not epoch:
        return now
    if not epoch.isascii() or not epoch.isdigit() or len(epoch) > 12:
        problems.append(
            Diagnostic(
                Location("SOURCE_DATE_EPOCH", 0),
                f"'{epoch}' is not a number of seconds",
                code="source-date-epoch",
            )
        )
        return now
    if int(epoch) > now + 60:
        # A release from the future would stay "newer" than members' own edits until then.
        problems.append(
            Diagnostic(
                Location("SOURCE_DATE_EPOCH", 0),
                f"{epoch} is in the future; check the clock",
                code="source-date-epoch",
            )
        )
        return now
    return int(epoch)


_CARD_OF = operator.attrgetter("card")


def note_fields(rendered: RenderedCard) -> tuple[str, ...]:
    f, card = rendered.fields, rendered.card
    if card.type == "cloze":
        return (f["text"], f["extra"], f["source"], card.id)
    return (f["front"], f["back"], f["extra"], f["source"], card.id)


def _plan_deck(
    root: Path,
    spec: DeckSpec,
    cards: tuple[RenderedCard, ...],
    templates: NoteTypeCache,
    media: MediaFiles,
    now: int,
    problems: list[Diagnostic],
    cards_valid: bool,
    releasing: bool,
    cache: RenderCache | None = None,
    checks: FieldChecks | None = None,
    read: tuple[Lock, list[Diagnostic]] | None = None,
    drafts: DraftTimes | None = None,
) -> DeckPlan | None:
    """`read`: the deck's lock and what reading it found, when already read. `drafts`: the
    decks' last drafts, whose times a draft with the same inputs takes (drafttime.py)."""
    checks = checks or FieldChecks()
    before = len(problems)
    if read is None:
        lock = Lock.for_deck(root, spec, problems)
    else:
        lock, found = read
        problems.extend(found)
    if len(problems) > before:
        return None
    identity = lock.identity(spec, problems)
    note_types = templates.note_types(spec.name, identity, spec.note_type_version, problems)
    nt_inputs = [
        NoteTypeInput(str(nt.id), nt.name, nt.kind.fields, nt.fingerprint) for nt in note_types.values()
    ]
    lock.check_version(spec, problems)
    lock.check_note_types(nt_inputs, spec, problems)
    if len(problems) > before:
        return None
    deck_names: dict[str, str] = {}  # one string per subdeck, not one per note

    def deck_of(card: Card) -> str:
        name = deck_names.get(card.subdeck)
        if name is None:
            name = deck_names[card.subdeck] = _deck_name(spec, card)
        return name

    # Each note type's part names and id, made once: a note's parts are its fields, then these.
    part_names = {kind: (*nt.kind.fields, "tags", "deck", "type") for kind, nt in note_types.items()}
    type_ids = {kind: str(nt.id) for kind, nt in note_types.items()}
    version = spec.note_type_version
    inputs = []
    note_values = []
    oldest = [card.was[-1] if card.was else card.id for card in map(_CARD_OF, cards)]
    default_guids = note_guids(identity, version, oldest)
    for rc, guid in zip(cards, default_guids, strict=True):
        card = rc.card
        values = note_fields(rc)
        deck = deck_names.get(card.subdeck) or deck_of(card)
        note_values.append((values, deck))
        type_id = type_ids[card.type]
        parts = dict(zip(part_names[card.type], (*values, " ".join(card.tags), deck, type_id), strict=True))
        if card.deck_was:
            deck_was = Location(card.location.path, card.field_lines["deck_was"])
            inputs.append(
                NoteInput(
                    card.id,
                    card.was,
                    guid,
                    type_id,
                    parts,
                    card.location,
                    deck_was,
                    deck_name(spec, card.deck_was),
                )
            )
        else:
            inputs.append(NoteInput(card.id, card.was, guid, type_id, parts, card.location))
    # After load errors the cards are incomplete: what the lock would say of them is noise.
    plan_problems: list[Diagnostic] = problems if cards_valid else []
    released_time = lock.state.built
    # The lock's guids are checked against those of the cards' ids, most of which are made above.
    made: dict[str, str] = dict(zip(oldest, default_guids, strict=True)) if lock.state.notes else {}
    del oldest, default_guids

    def guid_for(version: int, card_id: str) -> str:
        guid = made.get(card_id) if version == spec.note_type_version else None
        return guid if guid is not None else note_guid(identity, version, card_id)

    lock.check_guids(inputs, guid_for, plan_problems)
    plan_time, draft_inputs, earlier = now, "", None
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if drafts is not None and cards_valid and not releasing and not epoch:
        # The deck's last draft, if it had these very inputs: its time, so its package.
        draft_inputs = plan_inputs(lock, identity, spec, note_types, inputs, [rc.card.tags for rc in cards])
        earlier = drafts.earlier(spec, draft_inputs, now, lock.state.time)
        plan_time = earlier.time if earlier is not None else now
    release = lock.plan(
        inputs, nt_inputs, identity, spec.note_type_version, plan_time, plan_problems, checks.digest
    )
    again = inputs if earlier is not None else None  # (should the rest of the package differ)
    del inputs  # every note's parts: the release has what it needs of them
    if release.new_now and epoch and now < released_time:
        # Older than the last release: changed notes would not look newer than members' edits.
        problems.append(
            Diagnostic(
                Location("SOURCE_DATE_EPOCH", 0),
                f"{now} is older than release {release.number - 1} of {spec.name} "
                f"({released_time}); unset it or give a later time",
                code="source-date-epoch",
            )
        )
    if len(problems) > before:
        return None
    describer = MarkdownRenderer(root, media, keep_media=True)
    where = Location(spec.location.path, spec.description_line or 1)
    description = describer.html(spec.description, root / "decks", where, problems)
    if not spec.allow_scripts:
        problems.extend(
            Diagnostic(where, f"the description carries script ({what}); {_SCRIPT_WAY_OUT}", code="script")
            for what in scripts_in(description)
        )
    draft = release.new_now and not releasing
    used = {name for rc in cards for name in rc.media} | set(describer.used)

    def packed(release: Release) -> PackageContent:
        guids, mods = release.guids, release.mods
        notes = tuple(
            [
                NoteRecord(
                    guids[rc.card.id], note_types[rc.card.type], values, rc.card.tags, deck, mods[rc.card.id]
                )
                for rc, (values, deck) in zip(cards, note_values, strict=True)
            ]
        )
        stamp = release_stamp(release.number, draft, release.time, spec.homepage)
        return PackageContent(
            deck_name=spec.name,
            description=without_soft_breaks(description + stamp),  # Anki's overview shows every newline
            notes=notes,
            note_type_mods={nt.id: release.note_type_mods[str(nt.id)] for nt in note_types.values()},
            media={name: media.files[name] for name in sorted(used)},
            timestamp=release.time,
        )

    content = packed(release)
    if drafts is not None:
        rest = rest_digest(content) if draft and draft_inputs else None
        if earlier is not None and again is not None and (not draft or rest != earlier.rest):
            # What the notes are made of is the last draft's, not the rest (an image's bytes,
            # the description's HTML): a new time, as for any change.
            release = lock.plan(again, nt_inputs, identity, spec.note_type_version, now, [], checks.digest)
            content, earlier = packed(release), None
            rest = rest_digest(content)
        del again
        if not draft or rest is None:
            drafts.no_draft(spec)
        elif earlier is not None:
            drafts.kept(spec)
        else:
            drafts.will_write(spec, draft_inputs, now, rest, content)
    checked = _CheckedNotes(
        cache, cards, content.notes, checks.digest, str(root / spec.location.path), checks.card_files
    )
    all_ords = []
    note_problems = NoteChecker()
    same_ords: dict[tuple[int, ...], list[int]] = {}  # most notes have the same cards: one list
    for index, ((note, ords), rc) in enumerate(zip(card_ordinals(content, checked.ords), cards, strict=True)):
        if cards_valid and index not in checked.ords:  # failed cards would only echo their problems
            found = note_problems(rc, note, ords)
            problems.extend(found)
            if not found:
                checked.passed(index, ords)
        all_ords.append(same_ords.setdefault(tuple(ords), ords))
    checked.store()
    total = sum(map(len, all_ords))
    content = replace(content, card_ords=tuple(all_ords))
    return DeckPlan(spec, content, cards, total, release, lock, tuple(note_types.values()), draft)


class _CheckedNotes:
    """Notes that passed check_note in an earlier build, with genanki's cards for them.

    A note's key holds everything check_note and genanki's card rules read: the card's type, id
    and written text, its HTML fields (by the lock's digests of them), whether it has tags, the
    note type's templates and fields. What a build found is kept in one entry per card file of
    the deck (found by the paths of the deck and the card file): the keys of the file's notes
    and the cards of each one that passed. Only a note whose key is in its file's entry is taken
    from it, so a changed card is checked again by itself; a note with problems is never kept,
    so its problems are found (and located) afresh.

    An entry also holds a digest of the card file's bytes and the note types (its stamp): an
    entry made from the same bytes holds the keys of these very notes, but for cards with an
    image (their HTML follows image files), whose keys are worked out again.
    """

    def __init__(
        self,
        cache: RenderCache | None,
        cards: tuple[RenderedCard, ...],
        notes: tuple[NoteRecord, ...],
        digest_of: Callable[[str], str],
        deck: str = "",
        card_files: Mapping[str, tuple[str, list[str]]] | None = None,
    ) -> None:
        """`deck`: where the deck file is (with the project's folder), naming its entries.
        `card_files`: FieldChecks.card_files, what the card cache learnt of each card file."""
        self._cache = cache
        self._keys: list[str] = []
        self._files: dict[str, list[int]] = {}
        """The indexes of each card file's notes, by its entry's name."""
        self._stamps: dict[str, str] = {}
        """Each entry's stamp ("" where the card file's bytes are not known)."""
        self._stale: set[str] = set()
        """Entries that do not hold their file's notes as they are now."""
        self._passed: dict[int, list[int]] = {}
        """Notes that passed in this build (not taken from an entry)."""
        self.ords: dict[int, list[int]] = {}
        """Genanki's cards of each note that passed before, by index."""
        if cache is None:
            return
        note_types: dict[int, str] = {}
        kinds = []
        for nt in {id(note.note_type): note.note_type for note in notes}.values():
            inputs = json.dumps([[t.front for t in nt.templates], nt.kind.fields, nt.kind.cloze])
            note_types[nt.id] = hashlib.sha256(inputs.encode()).hexdigest()
            kinds.append((nt.kind.type, note_types[nt.id]))
        types = json.dumps(sorted(kinds))

        def key_of(index: int) -> str:
            card, note = cards[index].card, notes[index]
            tagged = "1" if note.tags else "0"
            key = "\0".join(
                (
                    note_types[note.note_type.id],
                    card.type,
                    card.id,
                    tagged,
                    *map(digest_of, cards[index].fields.values()),
                    card.text,
                )
            )
            # Its digest, not its text: the entries would hold a copy of the deck's texts.
            return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]

        paths: dict[str, str] = {}
        path = None
        indexes: list[int] = []
        for index, rc in enumerate(cards):
            if rc.card.location.path != path:  # a card file's cards come one after the other
                path = rc.card.location.path
                indexes = self._files.setdefault(f"{deck}\0{path}", [])
                paths[f"{deck}\0{path}"] = path
            indexes.append(index)
        keys = self._keys = [""] * len(cards)
        kept = cache.lookup(self._files, "note-checks")
        for name, indexes in self._files.items():
            read, digests = (card_files or {}).get(paths[name], ("", []))
            stamp = ""
            if read and len(digests) == len(indexes):
                stamp = hashlib.sha256(f"{read}\0{types}".encode("utf-8", "surrogatepass")).hexdigest()
            self._stamps[name] = stamp
            entry = _decode_checks(kept.get(name, ""))
            if entry is not None and stamp and entry[0] == stamp and len(entry[1]) == len(indexes):
                # The same bytes and note types: the entry's keys are these notes', but for
                # cards with an image.
                for index, key, card_digest in zip(indexes, entry[1], digests, strict=True):
                    keys[index] = key if card_digest else key_of(index)
            else:
                for index in indexes:
                    keys[index] = key_of(index)
            found, same = _file_ords(entry, [keys[index] for index in indexes])
            if not same:
                self._stale.add(name)
            for i, ords in found.items():
                nt = notes[indexes[i]].note_type
                if ords[-1] < (500 if nt.kind.cloze else len(nt.templates)):  # cloze: c1 to c500
                    self.ords[indexes[i]] = ords
                else:
                    self._stale.add(name)  # cards its note type cannot have: checked again

    def passed(self, index: int, ords: list[int]) -> None:
        if self._cache is not None:
            self._passed[index] = ords

    def store(self) -> None:
        if self._cache is None:
            return
        entries = {}
        for name, indexes in self._files.items():
            if name in self._stale or not self._passed.keys().isdisjoint(indexes):
                table: dict[tuple[int, ...], int] = {}
                passed = [self.ords.get(index) or self._passed.get(index) for index in indexes]
                rows = [-1 if ords is None else table.setdefault(tuple(ords), len(table)) for ords in passed]
                keys = [self._keys[index] for index in indexes]
                entries[name] = json.dumps([self._stamps[name], keys, list(table), rows])
        self._cache.store(entries, "note-checks")


def _are_ords(ords: object) -> TypeGuard[list[int]]:
    """Card ordinals as genanki gives them: some, ascending, each once, none below 0."""
    return (
        isinstance(ords, list)
        and bool(ords)
        and all(type(o) is int for o in ords)
        and ords[0] >= 0
        and all(a < b for a, b in itertools.pairwise(ords))
    )


_ChecksEntry = tuple[str, list[str], list[list[int]], list[int]]


def _decode_checks(kept: str) -> _ChecksEntry | None:
    """A card file's entry of checked notes: its stamp, the notes' keys, the distinct cards of
    the notes that passed and each note's row among them (-1 for one that did not pass); None
    for what is no such entry."""
    entry = entry_list(kept, 4)
    if entry is None:
        return None
    stamp, their_keys, table, rows = entry
    if (
        type(stamp) is not str
        or not (type(their_keys) is type(table) is type(rows) is list)
        or len(their_keys) != len(rows)
        or not set(map(type, their_keys)) <= {str}
        or not set(map(type, rows)) <= {int}
        or not all(_are_ords(ords) for ords in table)
        or (rows and not (min(rows) >= -1 and max(rows) < len(table)))
    ):
        return None
    return stamp, their_keys, table, rows


def _file_ords(entry: _ChecksEntry | None, keys: list[str]) -> tuple[dict[int, list[int]], bool]:
    """Genanki's cards of each note (by its index in `keys`) that a card file's entry says
    passed, and whether the entry holds these very notes ({}, False for no entry)."""
    if entry is None:
        return {}, False
    _, their_keys, table, rows = entry
    if their_keys == keys:
        return {index: table[row] for index, row in enumerate(rows) if row >= 0}, True
    passed = {key: table[row] for key, row in zip(their_keys, rows, strict=True) if row >= 0}
    return {index: passed[key] for index, key in enumerate(keys) if key in passed}, False


def _odd_tags(cards: tuple[RenderedCard, ...], checks: FieldChecks) -> list[Diagnostic]:
    """What genanki would warn about (and Anki may drop): `<my-tag>`, `<x:y>` in a field."""
    found = []
    for rc in cards:
        for name, html in rc.fields.items():
            tags = checks.of(html).odd_tags
            if tags:
                line = rc.card.field_lines.get(name, rc.card.location.line)
                found.append(
                    Diagnostic(
                        Location(rc.card.location.path, line),
                        f"card '{rc.card.id}': '{name}' has {tags}, which genanki "
                        "takes for an invalid HTML tag; write &lt; for a '<' that should show",
                        warning=True,
                        code="html-tag",
                    )
                )
    return found


_SCRIPT_WAY_OUT = "members' Anki would run it: remove it, or set allow_scripts: true in the deck file"


def _scripts(spec: DeckSpec, cards: tuple[RenderedCard, ...], checks: FieldChecks) -> list[Diagnostic]:
    """Script in card fields, which Anki runs: an error unless the deck file allows it."""
    found = []
    for rc in cards:
        for name, html in rc.fields.items():
            scripts = checks.of(html).scripts
            for what in scripts.splitlines() if scripts else ():
                line = rc.card.field_lines.get(name, rc.card.location.line)
                found.append(
                    Diagnostic(
                        Location(rc.card.location.path, line),
                        f"card '{rc.card.id}': '{name}' carries script ({what}); {_SCRIPT_WAY_OUT} "
                        f"{spec.location.path}",
                        code="script",
                    )
                )
    return found


def _check_identities(
    root: Path, project: Project, problems: list[Diagnostic]
) -> dict[str, tuple[Lock, list[Diagnostic]]]:
    """Two packages with one identity would overwrite each other's notes in a collection.

    Returns each deck's lock (by deck file) with what reading it found, read once for the build."""
    owners: dict[str, DeckSpec] = {}
    locks = {}
    for spec in project.decks:
        found: list[Diagnostic] = []
        lock = Lock.for_deck(root, spec, found)
        locks[spec.location.path] = (lock, found)
        identity = lock.identity(spec, [])
        first = owners.setdefault(identity, spec)
        if first is not spec:
            problems.append(
                Diagnostic(
                    Location(spec.location.path, spec.identity_line or 1),
                    f"identity '{identity}' is also {first.location.path}'s; "
                    "give this deck an identity of its own",
                    code="duplicate-identity",
                )
            )
    return locks


def _deck_name(spec: DeckSpec, card: Card) -> str:
    return deck_name(spec, card.subdeck)
