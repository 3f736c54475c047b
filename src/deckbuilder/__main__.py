import gc
import sys


def main() -> None:
    """`build-deck` and `python -m deckbuilder`."""
    # The program's imports make a few hundred thousand objects and no garbage: the collector
    # would go over them all a few times, a tenth of a small build's start-up.
    collecting = gc.isenabled()
    gc.disable()
    try:
        from .cli import run
    except KeyboardInterrupt:  # Ctrl-C while Python is still loading the program
        sys.stderr.write("Aborted!\n")
        sys.exit(1)
    finally:
        if collecting:
            gc.enable()
    run()


if __name__ == "__main__":
    main()
