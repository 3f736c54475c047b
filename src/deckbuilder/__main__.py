import sys

from .collector import paused


def main() -> None:
    """`build-deck` and `python -m deckbuilder`."""
    try:
        with paused():  # (the program's imports)
            from .cli import run
    except KeyboardInterrupt:  # Ctrl-C while Python is still loading the program
        sys.stderr.write("Aborted!\n")
        sys.exit(1)
    run()


if __name__ == "__main__":
    main()
