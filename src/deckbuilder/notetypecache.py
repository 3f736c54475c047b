"""Rendered note types kept between builds: a warm build renders no template and imports no Jinja2.

A deck's note types (their CSS and card templates, as TemplateSet renders them) are kept in
the render cache in one entry, keyed by everything rendering reads: the name and bytes of every
file in the project's `templates/` and in the templates shipped with deckbuilder, the context
(each kind, the deck's name, identity and note type version), the versions of Jinja2, MarkupSafe
and Pygments (whose styles make the code CSS) and, through the cache's fingerprint,
deckbuilder's own code. Only note types rendered without a problem anywhere in the build's
templates are kept, so a hit reports nothing that rendering would have. A `templates/` holding
anything but regular files (a link, a folder) is never kept: what a link leads to is not in
the key. The ids and names are not kept: they are made afresh from the deck's identity.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable

from .model import Diagnostic
from .notetypes import KINDS, NoteType, TemplateSet, note_type_of
from .rendercache import RenderCache, entry_list, installed_version, metadata_folders

_KIND = "note-types"


@functools.cache
def _library_versions() -> str:
    folders = metadata_folders()
    return ";".join(
        f"{dist}={installed_version(dist, folders)}" for dist in ("jinja2", "markupsafe", "pygments")
    )


def template_files(templates: TemplateSet) -> str | None:
    """A digest of every template file rendering may read, or None when the project's folder
    holds anything but regular files (or cannot be listed)."""
    digest = hashlib.sha256(_library_versions().encode())
    for label, folder in (("project", templates.override_dir), ("shipped", templates.shipped_dir)):
        if label == "project" and not (folder.exists() or folder.is_symlink()):
            digest.update(b"\0no project templates")
            continue
        try:
            if folder.is_symlink() or not folder.is_dir():
                return None
            entries = sorted(folder.iterdir())
            files = []
            for path in entries:
                if path.is_symlink() or not path.is_file():
                    return None
                files.append((path.name, path.read_bytes()))
        except OSError:
            return None
        digest.update(f"\0{label}\0{len(files)}".encode())
        for name, data in files:
            digest.update(f"\0{len(name)}\0{name}\0{len(data)}\0".encode("utf-8", "surrogatepass") + data)
    return digest.hexdigest()


class NoteTypeCache:
    """A build's note types: from the render cache, or rendered (and then kept)."""

    def __init__(self, templates: TemplateSet, cache: RenderCache | None) -> None:
        self._templates = templates
        self._cache = cache
        self._files = template_files(templates) if cache is not None else None

    def _name(self, deck_name: str, identity: str, version: int) -> str:
        return json.dumps(
            [self._files, [repr(kind) for kind in KINDS.values()], deck_name, identity, version]
        )

    def has(self, deck_name: str, identity: str, version: int) -> bool:
        """Whether the deck's note types are kept (their entry is not read: a damaged one
        is found when they are asked for, and then rendered)."""
        if self._cache is None or self._files is None:
            return False
        name = self._name(deck_name, identity, version)
        return name in self._cache.has([name], _KIND)

    def note_types(
        self, deck_name: str, identity: str, version: int, problems: list[Diagnostic]
    ) -> dict[str, NoteType]:
        """The deck's note type of each kind (KINDS), as TemplateSet.note_type renders them."""
        templates = self._templates

        def rendered(found: list[Diagnostic]) -> dict[str, NoteType]:
            return {
                kind.type: templates.note_type(kind, deck_name, identity, version, found)
                for kind in KINDS.values()
            }

        if self._cache is None or self._files is None:
            return rendered(problems)
        name = self._name(deck_name, identity, version)
        kept = _decode(self._cache.lookup([name], _KIND).get(name, ""))
        if kept is not None:
            return {
                kind.type: note_type_of(kind, deck_name, identity, version, css, sides)
                for kind, (css, sides) in zip(KINDS.values(), kept, strict=True)
            }
        found: list[Diagnostic] = []
        made = rendered(found)
        problems.extend(found)
        # Kept only if rendering read the files of the key: one saved since the key was made
        # (while a large project's cards were read) would leave its note types under the bytes
        # it replaced, for a later build with those bytes (the edit undone) to take.
        if not found and not templates.reported_any and template_files(templates) == self._files:
            self._cache.store({name: _encode(made.values())}, _KIND)
        return made


def _encode(note_types: Iterable[NoteType]) -> str:
    return json.dumps(
        [[nt.css, [[t.front, t.back] for t in nt.templates]] for nt in note_types], ensure_ascii=False
    )


def _decode(text: str) -> list[tuple[str, list[tuple[str, str]]]] | None:
    """What _encode wrote of KINDS' note types, or None for anything else."""
    kept = entry_list(text, len(KINDS))
    if kept is None:
        return None
    decoded = []
    for entry, kind in zip(kept, KINDS.values(), strict=True):
        if type(entry) is not list or len(entry) != 2:
            return None
        css, sides = entry
        if type(css) is not str or type(sides) is not list or len(sides) != len(kind.cards):
            return None
        if not all(type(s) is list and len(s) == 2 and type(s[0]) is type(s[1]) is str for s in sides):
            return None
        decoded.append((css, [(front, back) for front, back in sides]))
    return decoded
