"""A package is not written again while the file on disk is what the build would write.

A package's bytes are a function of its content (notes, note types, media, description, times)
and of what writes it: deckbuilder's code and the libraries in the render cache's fingerprint,
and Python's, SQLite's and zlib's versions. Once it has written a package, a build keeps the
digest of the file in the render cache, by a digest of all of these; a later build with the same
inputs reads the file, and leaves it only if its bytes still have that digest (a deleted or
edited `dist/` is written again). A draft's times are the build's own, so only the packages of
released decks whose cards did not change are ever left as they are.
"""

from __future__ import annotations

import dataclasses
import hashlib
import sqlite3
import sys
import zlib
from pathlib import Path

from .package import PackageContent
from .rendercache import RenderCache

_KIND = "package"
_WRITERS = f"{sys.version}\0{sqlite3.sqlite_version}\0{zlib.ZLIB_RUNTIME_VERSION}".encode()


def inputs_digest(content: PackageContent) -> str | None:
    """A digest of everything the package's bytes depend on besides the code, or None when a
    media file cannot be read (the writer then reports it)."""
    digest = hashlib.sha256(_WRITERS)
    for field in dataclasses.fields(content):
        value = getattr(content, field.name)
        digest.update(f"\0{field.name}\0".encode())
        if field.name == "notes":
            note_types: set[int] = set()
            for note in value:
                nt = note.note_type
                if nt.id not in note_types:  # the note type once, in full; then its id
                    note_types.add(nt.id)
                    digest.update(repr(nt).encode())
                # (The note with its note type's id for the note type, as a plain tuple.)
                digest.update(repr((note.guid, nt.id, note.fields, note.tags, note.deck, note.mod)).encode())
        elif field.name == "media":
            for name, path in sorted(value.items()):
                try:
                    data = path.read_bytes()
                except OSError:
                    return None
                digest.update(repr(name).encode() + hashlib.sha256(data).digest())
        else:
            digest.update(repr(value).encode())
    return digest.hexdigest()


def file_digest(path: Path) -> str | None:
    """The digest of a regular file's bytes, or None (no such file, a link, unreadable)."""
    try:
        if path.is_symlink() or not path.is_file():
            return None
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


class KeptPackages:
    """Digests of the packages earlier builds wrote, by their inputs."""

    def __init__(self, cache: RenderCache | None) -> None:
        self._cache = cache

    def unchanged(self, path: Path, inputs: str) -> bool:
        """Whether `path` holds the bytes a build with these inputs wrote."""
        if self._cache is None:
            return False
        written = self._cache.lookup([inputs], _KIND).get(inputs)
        return written is not None and written == file_digest(path)

    def wrote(self, path: Path, inputs: str) -> None:
        """Keep the digest of the package just written (call `save` on the cache after)."""
        written = file_digest(path)
        if self._cache is not None and written is not None:
            self._cache.store({inputs: written}, _KIND)
