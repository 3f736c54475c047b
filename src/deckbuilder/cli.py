"""The `build-deck` command: options and output only; the work is in build.py.

`build-deck [DECK]...` builds (the default command); named subcommands do the rest. A first
argument that is not a subcommand's name is the default command's, so `build-deck --check`
and `build-deck mle-interview` keep working (a deck named like a subcommand: `build-deck build NAME`).
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from . import __version__, report
from .collector import paused, resume
from .model import DeckError, Diagnostic
from .projectroot import NoProject, deck_names, find_root
from .streams import forgiving_streams

if TYPE_CHECKING:
    from click.shell_completion import CompletionItem

    from .plan import DeckPlan

CONTEXT = {"help_option_names": ["-h", "--help"]}
DEFAULT_COMMAND = "build"


class _Commands(click.Group):
    """A group whose default command is `build`: `build-deck [OPTIONS] [DECK]...`."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # (Completing the first word: leave it to the group, which offers commands and decks.)
        if (not args and not ctx.resilient_parsing) or (
            args and args[0] not in self.commands and args[0] not in ("-h", "--help", "--version")
        ):
            args = [DEFAULT_COMMAND, *args]
        return super().parse_args(ctx, args)

    def shell_complete(self, ctx: click.Context, incomplete: str) -> list[CompletionItem]:
        return [*super().shell_complete(ctx, incomplete), *_complete_decks(ctx, None, incomplete)]

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write_usage(ctx.command_path, "[OPTIONS] [DECK]...\n  or:  build-deck COMMAND [ARGS]...")


@click.group(name="build-deck", cls=_Commands, context_settings=CONTEXT)
@click.version_option(__version__, "--version", prog_name="build-deck")
def main() -> None:
    """Build Anki packages from the YAML cards of a project.

    With no COMMAND, builds every deck file in decks/ (or only the DECKs named, by name or file
    stem) into dist/<deck>.apkg, with release notes beside each package: see `build-deck build --help`.
    """


def _complete_decks(
    ctx: click.Context, param: click.Parameter | None, incomplete: str
) -> list[CompletionItem]:
    """Deck names and file stems of the project, for shell completion."""
    from click.shell_completion import CompletionItem  # only completion pays for it

    given = ctx.params.get("project")
    try:
        root = given if isinstance(given, Path) else find_root(Path("."))
    except NoProject:
        return []
    return [CompletionItem(name) for name in deck_names(root) if name.startswith(incomplete)]


_DECKS = click.argument("decks", nargs=-1, metavar="[DECK]...", shell_complete=_complete_decks)
_PROJECT = click.option(
    "--project",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    help="Project root holding decks/, cards/ and templates/  [default: the nearest folder with decks/, "
    "from here upward]",
)
_OUT = click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for the packages and release notes  [default: PROJECT/dist]",
)
_FORMAT = click.option(
    "--format",
    "fmt",
    type=click.Choice(report.FORMATS),
    default="text",
    show_default=True,
    help="How problems are printed: text, json (one object per line, on stdout) or github (annotations).",
)
_QUIET = click.option("--quiet", "-q", is_flag=True, help="Print problems only, no summary.")
_NO_CACHE = click.option(
    "--no-cache", is_flag=True, help="Render every card afresh, without the render cache."
)


@main.command(name=DEFAULT_COMMAND, context_settings=CONTEXT)
@_DECKS
@_PROJECT
@_OUT
@click.option("--check", is_flag=True, help="Validate and lint everything; write nothing.")
@click.option("--lint", "run_lint", is_flag=True, help="Also report rubric warnings (lint).")
@click.option("--strict", is_flag=True, help="Treat lint warnings as errors (exit 1 when there are any).")
@click.option(
    "--preview", is_flag=True, help="Also write OUT/<deck>.html showing every card (implies --lint)."
)
@_NO_CACHE
@click.option(
    "--locked",
    is_flag=True,
    help="Fail when the cards differ from the lock's last release (for CI, like cargo --locked).",
)
@_FORMAT
@_QUIET
def build_command(
    decks: tuple[str, ...],
    project: Path | None,
    out: Path | None,
    check: bool,
    run_lint: bool,
    strict: bool,
    preview: bool,
    no_cache: bool,
    locked: bool,
    fmt: str,
    quiet: bool,
) -> None:
    """Build drafts of the project's decks (the default command); the lock is never written.

    Builds every deck file in decks/ (or only the DECKs named, by name or file stem) into
    dist/<deck>.apkg, with release notes beside each package. Notes changed since the last
    release get a draft time, so importing a draft, and later the release, updates them.
    """
    _run(
        project,
        out,
        decks,
        check=check,
        run_lint=run_lint,
        strict=strict,
        preview=preview,
        locked=locked,
        cache=not no_cache,
        fmt=fmt,
        quiet=quiet,
    )


@main.command(name="release", context_settings=CONTEXT)
@_DECKS
@_PROJECT
@_OUT
@_FORMAT
@_QUIET
@_NO_CACHE
def release_command(
    decks: tuple[str, ...], project: Path | None, out: Path | None, fmt: str, quiet: bool, no_cache: bool
) -> None:
    """Release the decks whose cards changed: record the next release in decks/<deck>.lock.json.

    Builds like `build-deck --strict` (any warning stops it), then writes the packages, their
    release notes and the lock files. Refuses when no deck has anything to release.
    """
    _run(project, out, decks, strict=True, release=True, cache=not no_cache, fmt=fmt, quiet=quiet)


def _run(
    project: Path | None,
    out: Path | None,
    decks: tuple[str, ...],
    *,
    check: bool = False,
    run_lint: bool = False,
    strict: bool = False,
    preview: bool = False,
    release: bool = False,
    locked: bool = False,
    cache: bool = True,
    fmt: str = "text",
    quiet: bool = False,
) -> None:
    with paused():  # here, so that --help and --version start at once
        from .build import UnknownDeck, build

    project = _project(project)
    bar = report.ProgressBar(sys.stderr) if not quiet and report.wants_progress(sys.stderr) else None
    try:
        with bar or contextlib.nullcontext():
            result = build(
                project,
                out,
                decks,
                check=check,
                run_lint=run_lint,
                strict=strict,
                preview=preview,
                cache=cache,
                release=release,
                locked=locked,
                on_wait=lambda: click.echo(
                    "another build of this project is running: waiting for it…", err=True
                ),
                progress=bar.update if bar else None,
            )
    except UnknownDeck as e:
        raise click.UsageError(str(e)) from None
    except OSError as e:
        # A folder we may not write to, a full disk: the old packages are still in place.
        click.echo(f"{e.filename or project}: {e.strerror or e}", err=True)
        sys.exit(1)
    except DeckError as e:
        _report(e.diagnostics, fmt, project)
        count = sum(strict or not d.warning for d in e.diagnostics)
        what = "problem" if strict else "error"
        click.echo(f"{count} {what}{'s' if count != 1 else ''}; no package written.", err=True)
        sys.exit(1)
    _report(result.warnings, fmt, project)

    def say(line: str) -> None:
        """A summary line: on stdout, unless stdout carries the JSON diagnostics."""
        if not quiet:
            click.echo(line, err=fmt == "json")

    for plan in result.decks:
        content = plan.content
        where = "checked, nothing written" if check else f"→ {_show(out, project, plan.spec.output)}"
        say(
            f"{plan.spec.name}: {len(content.notes)} notes, {plan.card_count} cards, "
            f"{len(content.media)} media {where}"
        )
        say(f"  {_release_line(plan)}")
        if preview and not check:
            say(f"  preview → {_show(out, project, plan.spec.stem + '.html')}")
        removed = [c.card_id for c in plan.release.changes if c.kind == "removed"]
        if removed and plan.release.new_now:
            say(
                f"  removed from the cards: {', '.join(removed)} — members keep these notes; "
                "the release notes tell them how to find them",
            )
    if result.warnings:
        count = len(result.warnings)
        if not quiet:
            click.echo(f"{count} warning{'s' if count != 1 else ''}.", err=True)
        if strict:
            sys.exit(1)


def _report(diagnostics: list[Diagnostic], fmt: str, project: Path) -> None:
    """Problems on stderr as text; JSON lines and GitHub annotations on stdout, for tools."""
    to_stderr = fmt == "text"
    colour = to_stderr and report.use_colour(sys.stderr)
    for line in report.lines(diagnostics, fmt, project, colour=colour):
        click.echo(line, err=to_stderr, color=colour)


def _release_line(plan: DeckPlan) -> str:
    """What the package is and what it changes, e.g. `draft (after release 1): 2 changed`."""
    release = plan.release
    summary = ", ".join(
        f"{n} {kind}"
        for kind in ("added", "changed", "renamed", "removed")
        if (n := sum(c.kind == kind for c in release.changes))
    )
    if not release.new_now:
        return f"{plan.label}: no changes since"
    if not plan.draft:
        return f"{plan.label}: {summary or 'note types updated'}"
    after = (
        f"; `build-deck release` makes it release {release.number}"
        if release.number > 1
        else f"; the identity '{release.state.identity}' is free to change until "
        "`build-deck release` makes release 1"
    )
    return f"{plan.label}: {summary or 'note types updated'}{after}"


def _project(given: Path | None) -> Path:
    """The project named by --project, or the nearest folder with decks/ from here upward."""
    if given is not None:
        return given
    try:
        return find_root(Path("."))
    except NoProject:
        click.echo(
            "decks: not found here or in any folder above; start a project with `build-deck init`", err=True
        )
        sys.exit(1)


@main.command(name="init", context_settings=CONTEXT)
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path), default=Path("."), required=False)
@click.option("--name", help="The deck's name in Anki  [default: from the folder's name]")
@click.option(
    "--identity",
    help="Namespace of the notes' identities, never to change once released  [default: the name's "
    "slug and a random suffix]",
)
def init_command(folder: Path, name: str | None, identity: str | None) -> None:
    """Start a deck project in FOLDER (default: here) and build its first draft.

    Writes a deck file, an example card file that shows every kind of card, .gitignore, a
    release workflow, a README for members, JSON Schemas for editors and requirements.txt.
    Existing files are never overwritten.
    """
    from . import scaffold

    try:
        made = scaffold.create(folder, name, identity)
    except (scaffold.ProjectExists, scaffold.BadName) as e:
        raise click.UsageError(str(e)) from None
    except OSError as e:
        click.echo(f"{e.filename or folder}: {e.strerror or e}", err=True)
        sys.exit(1)
    for rel in made.written:
        click.echo(f"  wrote {folder / rel}")
    for rel in made.kept:
        click.echo(f"  kept  {folder / rel} (it exists)")
    click.echo(f"{made.name}: identity '{made.identity}' in {folder / made.deck_file}")
    _run(folder, None, ())
    click.echo(
        "Next: edit the cards in cards/, watch them with `build-deck serve`, "
        "and `build-deck release` when they are ready."
    )


@main.command(name="serve", context_settings=CONTEXT)
@_DECKS
@_PROJECT
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8000,
    show_default=True,
    help="Port on 127.0.0.1 (0: any free port).",
)
@_NO_CACHE
def serve_command(decks: tuple[str, ...], project: Path | None, port: int, no_cache: bool) -> None:
    """Preview the drafts live: rebuild on every save and reload the open browser tab.

    Serves the preview of every deck (or only the DECKs named) on http://127.0.0.1:PORT/.
    Builds are drafts in a temporary folder: dist/ and the lock are never written. Errors show in
    the terminal and on the page. Ctrl-C stops.
    """
    from .build import UnknownDeck
    from .serve import Outcome, serve

    resume()  # (paused by the program: serve runs on, and builds on every save)
    root = _project(project)
    colour = report.use_colour(sys.stderr)

    def ready(url: str) -> None:
        click.echo(f"Serving on {url} — Ctrl-C stops")

    def built(outcome: Outcome) -> None:
        stamp = time.strftime("%H:%M:%S")
        for line in report.lines(outcome.diagnostics, "text", root, colour=colour):
            click.echo(line, err=True, color=colour)
        errors = sum(not d.warning for d in outcome.diagnostics)
        if outcome.result is None:
            click.echo(f"{stamp} {errors} error{'s' if errors != 1 else ''}; the page shows them", err=True)
            return
        for plan in outcome.result.decks:
            click.echo(f"{stamp} {plan.spec.name}: {len(plan.content.notes)} notes, {plan.card_count} cards")
        click.echo(f"{stamp} built in {outcome.seconds:.1f} s")

    try:
        serve(root, decks, port, ready, built, cache=not no_cache)
    except UnknownDeck as e:
        raise click.UsageError(str(e)) from None
    except OSError as e:  # the port is taken
        click.echo(f"{e.filename or f'127.0.0.1:{port}'}: {e.strerror or e}; try another --port", err=True)
        sys.exit(1)
    click.echo("Stopped.")


def run() -> None:
    """The `build-deck` program: `main` with output that cannot fail and Ctrl-C as `Aborted!`.

    Writing to a closed, full or broken stdout never fails a build that has written its
    files: the exit status is the build's.
    """
    if "_BUILD_DECK_COMPLETE" in os.environ:  # shell completion writes bytes to the real stdout
        main(prog_name="build-deck")
        return
    out, err = forgiving_streams()
    code: int | str | None = 0
    try:
        main(prog_name="build-deck")
    except KeyboardInterrupt:  # before or after click's own handling, which says the same
        click.echo("Aborted!", err=True)
        code = 1
    except SystemExit as e:
        code = e.code
    # The work is done: a Ctrl-C now (Python restores its default action while exiting) would
    # kill the process without a word and turn its status into a failure.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    out.flush()
    if out.error is not None and err.error is None:
        reason = out.error.strerror or str(out.error)
        if code in (0, None):
            click.echo(f"stdout: could not write the summary ({reason}); the command did not fail", err=True)
        else:  # (a failed build: its status says so, whatever stdout lost)
            click.echo(f"stdout: could not write the output ({reason})", err=True)
    err.flush()
    # Only exiting is left: the collector's passes at exit would visit every object still alive
    # (and the garbage of a build that ran without the collector), tens of milliseconds, to
    # free memory that exiting frees anyway; objects are still released as modules are cleared.
    gc.freeze()
    if (code is None or isinstance(code, int)) and threading.active_count() == 1:
        _exit_now(code or 0)
    sys.exit(code)


def _exit_now(status: int) -> None:
    """Exit as sys.exit would once nothing but this thread runs: the exit handlers run (worker
    processes joined, finalizers called) and the streams are flushed, but the interpreter does
    not then free every object of every module one by one (a few milliseconds after a small
    build) for the memory that ending the process frees at once."""
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            stream.flush()
    os._exit(status)


def _show(out: Path | None, project: Path, name: str) -> str:
    folder = out if out is not None else project / "dist"
    return str(folder / name)
