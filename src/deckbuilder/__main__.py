import sys

try:
    from .cli import run
except KeyboardInterrupt:  # Ctrl-C while Python is still loading the program
    sys.stderr.write("Aborted!\n")
    sys.exit(1)

run()
