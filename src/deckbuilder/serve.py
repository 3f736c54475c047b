"""`build-deck serve`: rebuild the drafts and their previews on every save, serve them on
127.0.0.1, and reload the open browser tab (like `mkdocs serve`).

Builds are drafts (they never write the lock) into a temporary folder, never dist/. The pages
are the `--preview` pages with one addition: /_reload.js, which listens to /_events (server-sent
events) and reloads the page when a newer build is out. Their Content-Security-Policy is
widened by exactly that: script-src and connect-src 'self'. A build that fails still shows:
its errors on top of the cards that rendered, or on a page of their own.
"""

from __future__ import annotations

import html
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import watchfiles

from .build import BuildResult, UnknownDeck, build
from .model import DeckError, Diagnostic, Location

HOST = "127.0.0.1"
_CSP = re.compile(r'(<meta http-equiv="Content-Security-Policy" content=")([^"]*)(")', re.IGNORECASE)
_RELOAD_JS = b"""// build-deck serve: reload when a newer build is out, keeping the scroll position.
(() => {
  const built = document.currentScript.dataset.generation;
  const key = "deckbuilder-serve-scroll";
  const kept = sessionStorage.getItem(key);
  if (kept !== null) {
    sessionStorage.removeItem(key);
    window.addEventListener("load", () => window.scrollTo(0, Number(kept)));
  }
  const events = new EventSource("/_events");
  events.onmessage = (event) => {
    if (event.data !== built) {
      events.close();
      sessionStorage.setItem(key, String(window.scrollY));
      location.reload();
    }
  };
})();
"""
_SKIP_DIRS = ("dist", ".deckbuilder-cache")


@dataclass(frozen=True)
class Outcome:
    """One build of the watch loop."""

    result: BuildResult | None
    """None when the build failed."""
    diagnostics: tuple[Diagnostic, ...]
    """Errors and warnings (warnings only, when it succeeded)."""
    seconds: float
    pages: dict[str, bytes] = field(default_factory=dict)
    """URL path -> page, as served."""


class Site:
    """What the server serves: the pages of the latest build, numbered by generation."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.pages: dict[str, bytes] = {}
        self.generation = 0
        self.stopping = False
        self.changed = threading.Condition()
        self.port = 0
        """The port the server listens on."""

    def publish(self, pages: dict[str, bytes]) -> None:
        with self.changed:
            self.pages = pages
            self.generation += 1
            self.changed.notify_all()

    def next_generation(self, seen: int, timeout: float) -> int | None:
        """The generation once it differs from `seen` (or after `timeout`); None when stopping."""
        with self.changed:
            self.changed.wait_for(lambda: self.stopping or self.generation != seen, timeout=timeout)
            return None if self.stopping else self.generation

    def stop(self) -> None:
        with self.changed:
            self.stopping = True
            self.changed.notify_all()


def live_page(page: bytes, generation: int) -> bytes:
    """A preview page with the reload script, and a CSP that lets exactly it run and listen."""
    text = page.decode("utf-8")

    def widen(match: re.Match[str]) -> str:
        directives = [d.strip() for d in html.unescape(match.group(2)).split(";") if d.strip()]
        names = [d.split()[0].lower() for d in directives]
        for name in ("script-src", "connect-src"):
            if name in names:
                i = names.index(name)
                sources = [s for s in directives[i].split()[1:] if s != "'none'"]
                directives[i] = " ".join([name, *sources, "'self'"])
            else:
                directives.append(f"{name} 'self'")
        return (
            match.group(1)
            + html.escape("; ".join(directives), quote=False).replace('"', "&quot;")
            + match.group(3)
        )

    text = _CSP.sub(widen, text, count=1)
    tag = f'<script src="/_reload.js" data-generation="{generation}" defer></script>\n'
    head_end = text.lower().find("</head>")
    text = text[:head_end] + tag + text[head_end:] if head_end >= 0 else tag + text
    return text.encode("utf-8")


def error_page(diagnostics: Sequence[Diagnostic], generation: int) -> bytes:
    """The page shown when no deck could be previewed: every problem of the build."""
    items = "\n".join(
        f"<li><code>{html.escape(str(d.location))}</code> {html.escape(d.message)}</li>" for d in diagnostics
    )
    count = sum(not d.warning for d in diagnostics)
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>build-deck serve — {count} error{"s" if count != 1 else ""}</title>
<style>body {{ font: 16px/1.5 system-ui, sans-serif; margin: 2rem; }} li {{ margin: .5rem 0; }}
code {{ background: #f3f3f3; padding: 0 .25rem; }}</style>
</head>
<body>
<h1>{count} error{"s" if count != 1 else ""}; no deck to preview</h1>
<ul class="diagnostics">
{items}
</ul>
<p>Fix them and save: this page reloads.</p>
</body>
</html>
"""
    return live_page(page.encode("utf-8"), generation)


def index_page(names: Sequence[str], generation: int) -> bytes:
    links = "\n".join(f'<li><a href="/{html.escape(n)}">{html.escape(n)}</a></li>' for n in names)
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>build-deck serve</title>
</head>
<body>
<h1>Decks</h1>
<ul>
{links}
</ul>
</body>
</html>
"""
    return live_page(page.encode("utf-8"), generation)


def build_once(root: Path, site: Site, names: Sequence[str], cache: bool = True) -> Outcome:
    """Build the drafts and previews into the site's folder and publish the pages."""
    for old in site.out.glob("*.html"):
        old.unlink()
    start = time.monotonic()
    result: BuildResult | None = None
    try:
        result = build(root, site.out, names, preview=True, cache=cache)
        diagnostics: tuple[Diagnostic, ...] = tuple(result.warnings)
    except DeckError as e:
        diagnostics = tuple(e.diagnostics)
    except UnknownDeck as e:  # a deck named on the command line was renamed while serving
        if not site.generation:
            raise
        diagnostics = (Diagnostic(Location("decks", 0), str(e), code="unknown-deck"),)
    except OSError as e:  # the temporary folder, a file that vanished mid-build
        diagnostics = (Diagnostic(Location(str(e.filename), 0), e.strerror or str(e), code="write-failed"),)
    seconds = time.monotonic() - start
    generation = site.generation + 1
    pages = {f"/{p.name}": live_page(p.read_bytes(), generation) for p in sorted(site.out.glob("*.html"))}
    if not pages:
        pages["/"] = error_page(diagnostics, generation)
    elif len(pages) == 1:
        pages["/"] = next(iter(pages.values()))
    else:
        pages["/"] = index_page([path.lstrip("/") for path in pages], generation)
    site.publish(pages)
    return Outcome(result, diagnostics, seconds, pages)


def make_server(site: Site, port: int) -> ThreadingHTTPServer:
    """An HTTP server on 127.0.0.1:`port` (0: any free port) for `site`."""

    class Handler(_Handler):
        pass

    Handler.site = site
    server = ThreadingHTTPServer((HOST, port), Handler)
    server.daemon_threads = True
    site.port = server.server_port
    return server


class _Handler(BaseHTTPRequestHandler):
    site: Site
    server_version = "build-deck-serve"

    def log_message(self, format: str, *args: object) -> None:
        pass  # the terminal shows builds, not requests

    def do_GET(self) -> None:
        # Only the page's own origin: another site's page cannot read this one through DNS tricks.
        port = self.site.port
        if self.headers.get("Host", "") not in (f"{HOST}:{port}", f"localhost:{port}"):
            self._send(HTTPStatus.FORBIDDEN, b"forbidden\n", "text/plain")
            return
        path = unquote(urlsplit(self.path).path)
        if path == "/_reload.js":
            self._send(HTTPStatus.OK, _RELOAD_JS, "text/javascript")
        elif path == "/_events":
            self._events()
        elif path in self.site.pages:
            self._send(HTTPStatus.OK, self.site.pages[path], "text/html; charset=utf-8")
        elif re.fullmatch(r"/[^/\\]+\.apkg", path) and (self.site.out / path[1:]).is_file():
            self._send(HTTPStatus.OK, (self.site.out / path[1:]).read_bytes(), "application/octet-stream")
        else:
            self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain")

    def _send(self, status: HTTPStatus, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        self.wfile.write(body)

    def _events(self) -> None:
        """Server-sent events: the current generation now, and each new one as it comes."""
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        site, sent = self.site, -1
        try:
            while True:
                generation = site.next_generation(sent, timeout=15)
                if generation is None:
                    return
                message = f"data: {generation}\n\n" if generation != sent else ": still here\n\n"
                self.wfile.write(message.encode("ascii"))
                self.wfile.flush()
                sent = generation
        except (BrokenPipeError, ConnectionResetError):
            return  # the tab was closed or reloaded


def serve(
    root: Path,
    names: Sequence[str],
    port: int,
    on_ready: Callable[[str], None],
    on_build: Callable[[Outcome], None],
    *,
    cache: bool = True,
    stop: threading.Event | None = None,
) -> None:
    """Build, serve, and rebuild on every change under `root` until Ctrl-C (or `stop`)."""
    out = Path(tempfile.mkdtemp(prefix="deckbuilder-serve-"))
    site = Site(out)
    try:
        server = make_server(site, port)  # first: a port in use is said at once
        thread: threading.Thread | None = None
        try:
            on_build(build_once(root, site, names, cache))
            thread = threading.Thread(target=server.serve_forever, name="build-deck-serve", daemon=True)
            thread.start()
            on_ready(f"http://{HOST}:{site.port}/")
            skip = watchfiles.DefaultFilter(
                ignore_dirs=(*watchfiles.DefaultFilter.ignore_dirs, *_SKIP_DIRS),
            )
            for _ in watchfiles.watch(root, watch_filter=skip, stop_event=stop, debounce=400, step=50):
                on_build(build_once(root, site, names, cache))
        except KeyboardInterrupt:
            pass  # Ctrl-C: the way to stop serving
        finally:
            site.stop()
            if thread is not None:
                server.shutdown()
            server.server_close()
    finally:
        shutil.rmtree(out, ignore_errors=True)
