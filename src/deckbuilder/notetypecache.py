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

The shipped templates' note types also come rendered with deckbuilder, in `shipped-note-types.json`,
so that a project that overrides no template builds without Jinja2 or Pygments even with the cache
empty. The file holds them under the digest of what rendering them reads: the key above (the
library versions and the shipped template files, no project templates) and the code that renders
them (notetypes.py, templatesandbox.py). A build takes them only where its project has no
`templates/` and the digest is the one it makes (another Pygments, a template edited in place:
rendered). The shipped templates never read the deck's name, the only part of their context that
differs from deck to deck; writing the file checks it. `python -m deckbuilder.notetypecache`
writes it again; a test fails while it is not what rendering gives.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

from .model import Diagnostic
from .notetypes import KINDS, NoteType, TemplateSet, note_type_of
from .rendercache import RenderCache, entry_list, installed_version, metadata_folders

_KIND = "note-types"
SHIPPED = Path(__file__).parent / "shipped-note-types.json"
"""The shipped templates' note types, rendered (see the module's docstring)."""
_RENDERING_CODE = ("notetypes.py", "templatesandbox.py")


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

    @functools.cached_property
    def _shipped(self) -> list[tuple[str, list[tuple[str, str]]]] | None:
        """The shipped note types, where the project overrides no template and they are current."""
        folder = self._templates.override_dir
        if self._files is None or folder.exists() or folder.is_symlink():
            return None
        try:
            kept = json.loads(SHIPPED.read_bytes())
        except (OSError, ValueError, RecursionError):
            return None
        if type(kept) is not list or len(kept) != 2 or kept[0] != shipped_key(self._files):
            return None
        return _decoded(kept[1])

    def _name(self, deck_name: str, identity: str, version: int) -> str:
        return json.dumps(
            [self._files, [repr(kind) for kind in KINDS.values()], deck_name, identity, version]
        )

    def has(self, deck_name: str, identity: str, version: int) -> bool:
        """Whether the deck's note types are kept (their entry is not read: a damaged one
        is found when they are asked for, and then rendered)."""
        if self._cache is None or self._files is None:
            return False
        if self._shipped is not None:
            return True
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
        kept = self._shipped or _decode(self._cache.lookup([name], _KIND).get(name, ""))
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
    return json.dumps(_kept(note_types), ensure_ascii=False)


def _kept(note_types: Iterable[NoteType]) -> list[list[object]]:
    """What is kept of each note type: its CSS and each card's front and back."""
    return [[nt.css, [[t.front, t.back] for t in nt.templates]] for nt in note_types]


def _decode(text: str) -> list[tuple[str, list[tuple[str, str]]]] | None:
    """What _encode wrote of KINDS' note types, or None for anything else."""
    return _decoded(entry_list(text, len(KINDS)))


def _decoded(kept: object) -> list[tuple[str, list[tuple[str, str]]]] | None:
    if type(kept) is not list or len(kept) != len(KINDS):
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


def shipped_key(files: str) -> str:
    """The digest the shipped note types are kept under: `files` (template_files of a project
    with no templates) and the code that renders them."""
    digest = hashlib.sha256(files.encode())
    for name in _RENDERING_CODE:
        digest.update(b"\0" + (Path(__file__).parent / name).read_bytes())
    return digest.hexdigest()


def render_shipped() -> str:
    """What SHIPPED holds: the shipped templates' note types, rendered, under their digest."""
    import tempfile

    with tempfile.TemporaryDirectory() as empty:
        templates = TemplateSet(Path(empty))
        check_same_for_every_deck(templates.shipped_dir)
        files = template_files(templates)
        problems: list[Diagnostic] = []
        made = [templates.note_type(kind, "Deck", "deck", 1, problems) for kind in KINDS.values()]
        if problems or files is None:
            raise SystemExit("\n".join(map(str, problems)) or "the shipped templates could not be read")
    return json.dumps([shipped_key(files), _kept(made)], ensure_ascii=False, indent=1) + "\n"


def check_same_for_every_deck(folder: Path) -> None:
    """Refuse templates that read the deck's name: their note types differ from deck to deck."""
    import jinja2.meta

    env = TemplateSet(folder).env
    for path in sorted(folder.iterdir()):
        if "deck_name" in jinja2.meta.find_undeclared_variables(env.parse(path.read_text("utf-8"))):
            raise SystemExit(f"{path}: reads deck_name, so its note types differ from deck to deck")


if __name__ == "__main__":
    SHIPPED.write_text(render_shipped(), "utf-8")
