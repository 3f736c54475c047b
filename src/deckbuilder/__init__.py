"""Build Anki packages from hand-written YAML flashcards."""

__version__ = "0.1.0"
"""The same as pyproject.toml's (a test checks): read at start-up without importlib.metadata."""
