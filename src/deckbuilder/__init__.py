"""Build Anki packages from hand-written YAML flashcards."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("deckbuilder")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"
