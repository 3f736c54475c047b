"""`build-deck init`: a new deck project that builds at once, written from package data.

Like `mkdocs new` and `cargo new`: a deck file with a name and an identity chosen up front, an
example card file that doubles as the format reference, .gitignore, a release workflow, a
README for members, the JSON Schemas editors validate the files with, and requirements.txt
pinning the deckbuilder (and libraries) the project was started with. Nothing is overwritten.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
from dataclasses import dataclass
from importlib import resources
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

from . import schema
from .load import CARD_ID, slug
from .model import SUGGESTED_LIMITS

# skeleton file -> where it goes in the project ({slug}: the deck's file name)
SKELETON = {
    "deck.yaml": "decks/{slug}.yaml",
    "cards/example.yaml": "cards/example.yaml",
    "cards/images/example.png": "cards/images/example.png",
    "gitignore": ".gitignore",
    "release.yml": ".github/workflows/release.yml",
    "README.md": "README.md",
}


class ProjectExists(Exception):
    """The folder already holds a deck project: init would overwrite or mix with it."""


class BadName(Exception):
    """A deck name or identity init cannot use."""


@dataclass(frozen=True)
class NewProject:
    root: Path
    name: str
    identity: str
    written: tuple[str, ...]
    """Files written, relative to the root."""
    kept: tuple[str, ...]
    """Files that existed already and were left alone."""
    deck_file: str


def default_name(folder: Path) -> str:
    """`my-python-deck` -> `My Python Deck`."""
    words = re.sub(r"[-_.\s]+", " ", folder.resolve().name).strip()
    return words.title() if words else "My Deck"


def new_identity(name: str) -> str:
    """The name's slug and a random suffix: unlikely to be any other deck's identity."""
    return f"{slug(name)}-{secrets.token_hex(3)}"


def create(root: Path, name: str | None = None, identity: str | None = None) -> NewProject:
    """Write a new project into `root` (made if missing); raise ProjectExists or BadName."""
    name = (name if name is not None else default_name(root)).strip()
    if not name or any(not part.strip() for part in name.split("::")) or re.search(r"[\x00-\x1f]", name):
        raise BadName(f"deck name {name!r} is empty or has an empty part")
    identity = identity if identity is not None else new_identity(name)
    if not CARD_ID.fullmatch(identity):
        raise BadName(f"identity {identity!r} must be lowercase letters, digits and '-'")
    decks = root / "decks"
    if decks.is_dir() and any(decks.glob("*.y*ml")):
        raise ProjectExists(f"{decks}: already holds deck files; this is a deck project already")
    deck_slug = slug(name)
    values = {
        "@NAME@": json.dumps(name, ensure_ascii=False),
        "@IDENTITY@": identity,
        "@SLUG@": deck_slug,
        "@MAX_ANSWER_WORDS@": str(SUGGESTED_LIMITS.max_answer_words),
        "@MAX_LIST_ITEMS@": str(SUGGESTED_LIMITS.max_list_items),
        "@MAX_DELETIONS_PER_CARD@": str(SUGGESTED_LIMITS.max_deletions_per_card),
        "@MAX_DELETIONS_PER_NOTE@": str(SUGGESTED_LIMITS.max_deletions_per_note),
        "@PAPER_TAG@": SUGGESTED_LIMITS.paper_tag,
    }
    files: dict[str, bytes] = {}
    skeleton = resources.files("deckbuilder") / "skeleton"
    for source, destination in SKELETON.items():
        content = (skeleton / source).read_bytes()
        if source.endswith((".yaml", ".md")):
            text = content.decode("utf-8")
            for key, value in values.items():
                # The README's title is the name as written, not as a YAML string.
                text = text.replace(key, name if key == "@NAME@" and source == "README.md" else value)
            content = text.encode("utf-8")
        files[destination.format(slug=deck_slug)] = content
    for schema_name, document in schema.documents().items():
        files[f"schemas/{schema_name}"] = (json.dumps(document, indent=2) + "\n").encode("utf-8")
    files["requirements.txt"] = requirements().encode("utf-8")
    written, kept = [], []
    for rel, content in files.items():
        target = root / rel
        if target.exists() or target.is_symlink():
            kept.append(rel)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("xb") as f:  # never overwrite, even a file made since the check
            f.write(content)
        written.append(rel)
    return NewProject(root, name, identity, tuple(written), tuple(kept), f"decks/{deck_slug}.yaml")


def pinned_source(direct_url: str | None) -> str | None:
    """`deckbuilder @ git+URL@COMMIT` when pip installed it from git (PEP 610's record of where
    an installed package came from), so the deck repository pins that very commit; else None."""
    try:
        origin = json.loads(direct_url or "")
        vcs = origin["vcs_info"]
        url, commit = origin["url"], vcs["commit_id"]
    except (ValueError, KeyError, TypeError):
        return None
    if (
        vcs.get("vcs") != "git"
        or not isinstance(url, str)
        or not re.fullmatch(r"[0-9a-f]{7,64}", str(commit))
    ):
        return None
    if url.startswith("file:"):
        return None  # a clone on the author's disk: nobody else can install from there
    return f"deckbuilder @ git+{url}@{commit}"


def requirements() -> str:
    """deckbuilder and every library it renders with, at the versions installed now."""
    pins: dict[str, str] = {}
    pending = ["deckbuilder"]
    while pending:
        name = pending.pop()
        key = name.lower().replace("_", "-")
        if key in pins:
            continue
        try:
            dist = distribution(name)
        except PackageNotFoundError:
            continue
        pins[key] = f"{dist.metadata['Name']}=={dist.version}"
        for requirement in dist.requires or []:
            if "extra ==" in requirement:
                continue
            match = re.match(r"[A-Za-z0-9._-]+", requirement)
            if match:
                pending.append(match.group())
    deckbuilder = pins.pop("deckbuilder", "deckbuilder")
    with contextlib.suppress(PackageNotFoundError):
        deckbuilder = pinned_source(distribution("deckbuilder").read_text("direct_url.json")) or deckbuilder
    lines = [
        "# The versions this deck is built with: the same versions render the same notes, so the",
        "# release workflow builds the very packages you built. Update them together.",
        "# deckbuilder itself: from PyPI, or from git, e.g. deckbuilder @ git+https://…/deckbuilder@v1",
        deckbuilder,
        *sorted(pins.values(), key=str.lower),
    ]
    return "\n".join(lines) + "\n"
