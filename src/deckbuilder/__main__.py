import sys

from .collector import pause_program


def main() -> None:
    """`build-deck` and `python -m deckbuilder`."""
    pause_program()  # (its imports, and each command but serve, which resumes it)
    try:
        from .cli import run
    except KeyboardInterrupt:  # Ctrl-C while Python is still loading the program
        sys.stderr.write("Aborted!\n")
        sys.exit(1)
    run()


if __name__ == "__main__":
    main()
