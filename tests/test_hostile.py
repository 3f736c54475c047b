"""A deck project is untrusted input: what a hostile contributor can put in one, tried for real.

Every build here runs `python -m deckbuilder` as a separate process (as a maintainer runs it on a
pull request): it must end in one-line located messages, exit 1, no traceback, nothing read
from outside the project, nothing written on failure. Nothing in this module is skipped.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .test_preview import CHROMIUM, Browser

SECRET = "TOP-SECRET-0xC0FFEE"
GOOD_CARDS = "cards:\n  - id: one\n    front: Q\n    back: A\n"
DECK = "name: Test Deck\n"


def deckbuilder(root: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 60) -> Result:
    """Run the real command in a fresh process."""
    environment = {**os.environ, "DECKBUILDER_SECRET": SECRET, **(env or {})}
    command = list(args[:1]) if args[:1] in (("build",), ("release",)) else []
    proc = subprocess.run(
        [sys.executable, "-m", "deckbuilder", *command, "--project", str(root), *args[len(command) :]],
        capture_output=True,
        env=environment,
        timeout=timeout,
        check=False,
    )
    return Result(
        proc.returncode, proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace")
    )


class Result:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    @property
    def errors(self) -> list[str]:
        """The diagnostics (stderr but the source lines shown under them and the count at the end)."""
        return [
            line
            for line in self.err.splitlines()
            if not line.startswith(" ") and not line.endswith("no package written.")
        ]

    def assert_clean_failure(self, *expected: str) -> None:
        """Exit 1, each expected line among the diagnostics, no traceback, no secret anywhere."""
        assert self.code == 1, (self.out, self.err)
        assert "Traceback" not in self.err + self.out
        assert SECRET not in self.err + self.out
        for line in expected:
            assert line in self.errors, (line, self.errors)
        for line in self.errors:
            assert ": " in line, line  # path[:line]: message


@pytest.fixture
def project(make_project: Callable[..., Path]) -> Callable[..., Path]:
    def make(files: dict[str, str | bytes] | None = None, cards: str = GOOD_CARDS) -> Path:
        return make_project({"decks/test.yaml": DECK, "cards/c.yaml": cards, **(files or {})})

    return make


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder outside every project, holding a secret."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "secret.txt").write_text(SECRET + "\n")
    (folder / "secret.png").write_bytes(b"\x89PNG\r\n\x1a\n" + SECRET.encode())
    (folder / "deck.yaml").write_text(f"name: Leak\ndescription: {SECRET}\n")
    return folder


# Templates run in a sandbox, with limits
# ----------------------------------------------------------------------------------------

TEMPLATE_ATTACKS = {
    "shell": (
        "<p>\n[[ cycler.__init__.__globals__.os.popen('echo " + SECRET + "').read() ]]\n",
        "templates/_answer.html:2: template error: "
        "access to attribute '__init__' of 'type' object is unsafe.",
    ),
    "environment": (
        "[[ lipsum.__globals__['os'].environ ]]\n",
        "templates/_answer.html:1: template error: access to attribute '__globals__' of 'function' "
        "object is unsafe.",
    ),
    "mro": (
        "[[ ''.__class__.__mro__[1].__subclasses__() ]]\n",
        "templates/_answer.html:1: template error: "
        "access to attribute '__class__' of 'str' object is unsafe.",
    ),
    "division": (
        "<div>\n\n[[ 1 // 0 ]]</div>\n",
        "templates/_answer.html:3: template error: ZeroDivisionError: integer division or modulo by zero",
    ),
    "missing-include": (
        "x\n[% include 'nowhere.html' %]\n",
        "templates/_answer.html:2: template error: 'nowhere.html' not found",
    ),
    "loop": (
        "[% for a in range(100000) %][% for b in range(100000) %][% endfor %][% endfor %]\n",
        "templates/_answer.html:1: template error: it ran for more than 2 seconds (a runaway loop?)",
    ),
    "output": (
        "\n[% for a in range(100000) %][[ 'x' * 1000 ]][% endfor %]\n",
        "templates/_answer.html:2: template error: it produces more than 1,000,000 characters",
    ),
    "doubling": (
        "[% set ns = namespace(s='ab') %]\n"
        "[% for i in range(64) %][% set ns.s = ns.s ~ ns.s %][% endfor %]\n",
        "templates/_answer.html:2: template error: it builds a value longer than 1,000,000 characters",
    ),
    "power": (
        "[[ 9 ** 999999 ]]\n",
        "templates/_answer.html:1: template error: it builds a number over 4096 bits",
    ),
    "padding": (
        "[[ 'x'.ljust(10 ** 9) ]]\n",
        "templates/_answer.html:1: template error: it passes the number 1000000000 (at most 1,000,000 here)",
    ),
    "format-width": (
        "[[ '%999999999s' % 'x' ]]\n",
        "templates/_answer.html:1: template error: it formats with a width over a million characters",
    ),
    "self-include": (
        "[% include '_answer.html' %]\n",
        "templates/_answer.html:1: template error: it includes or calls itself without end",
    ),
}


@pytest.mark.parametrize("attack", list(TEMPLATE_ATTACKS))
def test_template_attack_is_one_located_error(project: Callable[..., Path], attack: str) -> None:
    text, expected = TEMPLATE_ATTACKS[attack]
    root = project({"templates/_answer.html": text})
    for args in (("--check",), ()):
        result = deckbuilder(root, *args)
        result.assert_clean_failure(expected)
        # _answer.html is included by every back of every note type: still one error.
        assert result.errors == [expected]
    assert not (root / "dist").exists() and not list(root.glob("decks/*.lock.json"))


def test_template_links_outside_are_refused(project: Callable[..., Path], outside: Path) -> None:
    root = project({"templates/basic.front.html": "{{Front}}\n[% include 'sub/secret.txt' %]\n"})
    (root / "templates" / "sub").symlink_to(outside)
    (root / "templates" / "_answer.html").symlink_to(outside / "secret.txt")
    result = deckbuilder(root, "--check")
    result.assert_clean_failure(
        "templates/basic.front.html:2: template error: 'sub/secret.txt' links to a file outside the project",
        "templates/_answer.html: links to a file outside the project",
    )
    assert len(result.errors) == 2


def test_harmless_template_logic_still_works(project: Callable[..., Path]) -> None:
    text = (
        "[% set parts = ['a', 'b'] %][[ parts|join('-') ]] [[ '%05d' % 42 ]] [[ 2 ** 10 ]] [[ 'x' * 3 ]]"
        "[% for i in range(3) %][[ loop.index ]][% endfor %] [[ note_type|upper ]]\n"
    )
    root = project({"templates/_answer.html": text})
    result = deckbuilder(root)
    assert result.code == 0, result.err
    assert (root / "dist" / "test-deck.apkg").is_file()


# Nothing outside the project is read; media are real media
# ----------------------------------------------------------------------------------------

PNG_1X1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082"
)
SVG_SAFE = (
    b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"><rect width="1" height="1"/></svg>'
)


def assert_no_package_and_no_secret(root: Path) -> None:
    """A failed build writes no package; the preview of the errors carries no secret."""
    written = list((root / "dist").iterdir()) if (root / "dist").exists() else []
    assert all(path.suffix == ".html" for path in written), written
    for page in written:
        assert SECRET not in page.read_text(encoding="utf-8")


def test_deck_file_linking_outside_is_refused(project: Callable[..., Path], outside: Path) -> None:
    root = project()
    (root / "decks" / "leak.yaml").symlink_to(outside / "deck.yaml")
    (root / "decks" / "gone.yaml").symlink_to(root / "decks" / "nowhere.yaml")
    result = deckbuilder(root, "--preview")
    result.assert_clean_failure(
        "decks/leak.yaml: links to a file outside the project",
        "decks/gone.yaml: links to a file that does not exist",
    )
    assert_no_package_and_no_secret(root)


@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        (
            "![x](../.git/config)",
            "image '../.git/config' is a hidden file or in a hidden folder (like .git/): never packed",
        ),
        (
            '<img src="../.env">',
            "image '../.env' is a hidden file or in a hidden folder (like .git/): never packed",
        ),
        (
            "![x](fake.png)",
            "image 'fake.png' is not an image Anki shows: its bytes are none of "
            "PNG, JPEG, GIF, WebP, AVIF, BMP, SVG",
        ),
        ("![x](outside.png)", "image 'outside.png' is outside the project"),
        ("![x](script.svg)", "image 'script.svg' is an SVG that carries script or event handlers; remove it"),
        (
            "![x](handler.svg)",
            "image 'handler.svg' is an SVG that carries script or event handlers; remove it",
        ),
        (
            "![x](remote.svg)",
            "image 'remote.svg' is an SVG that loads something from outside itself "
            "(href, url() or @import); remove it",
        ),
        (
            "![x](sound.png)",
            "image 'sound.png' is not an image Anki shows (it is Ogg): its bytes are none of "
            "PNG, JPEG, GIF, WebP, AVIF, BMP, SVG",
        ),
    ],
)
def test_only_real_media_from_visible_project_files(
    project: Callable[..., Path], outside: Path, markdown: str, expected: str
) -> None:
    cards = f"cards:\n  - id: one\n    front: Q\n    back: '{markdown}'\n"
    root = project(
        {
            ".git/config": f"[remote]\n  token = {SECRET}\n",
            ".env": f"TOKEN={SECRET}\n",
            "cards/fake.png": f"{SECRET}\n",
            "cards/script.svg": b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
            "cards/handler.svg": b'<svg xmlns="http://www.w3.org/2000/svg"><rect OnLoad = "x()"/></svg>',
            "cards/remote.svg": b'<svg xmlns="http://www.w3.org/2000/svg"><image href="http://x/y.png"/></svg>',
            "cards/sound.png": b"OggS\x00\x02" + bytes(40),
        },
        cards=cards,
    )
    (root / "cards" / "outside.png").symlink_to(outside / "secret.png")
    result = deckbuilder(root, "--preview")
    result.assert_clean_failure(f"cards/c.yaml:4: {expected}")
    assert_no_package_and_no_secret(root)


def test_real_images_and_safe_svg_ship(project: Callable[..., Path]) -> None:
    cards = "cards:\n  - id: one\n    front: '![a](a.png) ![b](b.svg)'\n    back: A\n"
    root = project({"cards/a.png": PNG_1X1, "cards/b.svg": SVG_SAFE}, cards=cards)
    result = deckbuilder(root)
    assert result.code == 0, result.err
    import zipfile

    with zipfile.ZipFile(root / "dist" / "test-deck.apkg") as z:
        names = set(z.namelist())
    assert {"0", "1", "media", "collection.anki2"} <= names


# Script in card fields reaches members' Anki: refused unless the deck allows it
# ----------------------------------------------------------------------------------------

SCRIPTED_CARDS = """cards:
  - id: one
    front: "<img src=data:image/png;base64,AAAA onerror=alert(1)>"
    back: '<a href=" JaVa&#x09;script:alert(1)">x</a>'
    extra: "<script>alert(1)</script>"
  - id: two
    front: "`<script>` in code is text"
    back: "<details open ontoggle=alert(1)>x</details>"
    source: '<iframe srcdoc="<script>alert(1)</script>"></iframe>'
"""


def test_script_in_cards_is_an_error_unless_allowed(project: Callable[..., Path]) -> None:
    root = project(cards=SCRIPTED_CARDS)
    (root / "decks" / "test.yaml").write_text(f"{DECK}description: '<svg><animate onbegin=alert(1)>'\n")
    result = deckbuilder(root, "--check")
    way_out = "members' Anki would run it: remove it, or set allow_scripts: true in the deck file"
    result.assert_clean_failure(
        f"cards/c.yaml:3: card 'one': 'front' carries script (an event handler onerror= on <img>); "
        f"{way_out} decks/test.yaml",
        f"cards/c.yaml:4: card 'one': 'back' carries script (a javascript: URL in href= of <a>); "
        f"{way_out} decks/test.yaml",
        f"cards/c.yaml:5: card 'one': 'extra' carries script (a <script> element); {way_out} decks/test.yaml",
        f"cards/c.yaml:8: card 'two': 'back' carries script (an event handler ontoggle= on <details>); "
        f"{way_out} decks/test.yaml",
        f"cards/c.yaml:9: card 'two': 'source' carries script (a <script> element inside <iframe srcdoc>); "
        f"{way_out} decks/test.yaml",
        "decks/test.yaml:2: the description carries script (an event handler onbegin= on <animate>); "
        + way_out,
    )
    assert len(result.errors) == 6
    with (root / "decks" / "test.yaml").open("a") as f:
        f.write("allow_scripts: true\n")
    result = deckbuilder(root, "--check")
    assert result.code == 0, result.err


# Markup a browser reads as a tag, where Python's html.parser sees a comment, raw text or a
# value (HTML5's comment endings, <style> inside SVG or MathML, an element ended inside an
# attribute, an SVG animation setting a link).
HIDDEN_SCRIPT = {
    "<!--> ends a comment": ("<!--><b onclick=alert(1)>x</b> -->", "an event handler onclick= on <b>"),
    "<!---> ends a comment": ("<!---><b onclick=alert(1)>x</b> -->", "an event handler onclick= on <b>"),
    "--!> ends a comment": ("<!-- a --!><b onclick=alert(1)>x</b> -->", "an event handler onclick= on <b>"),
    "CDATA is a comment to the first >": (
        "<![CDATA[><img src=x onerror=alert(1)>]]>",
        "an event handler onerror= on <img>",
    ),
    "<style> in SVG holds markup": (
        "<svg><style><img src=x onerror=alert(1)></style></svg>",
        "an event handler onerror= on <img>",
    ),
    "<style> in MathML holds markup": (
        "<math><style><img src=x onerror=alert(1)></style></math>",
        "an event handler onerror= on <img>",
    ),
    "</noscript> inside a value": (
        '<noscript><p title="</noscript><img src=x onerror=alert(1)>"></noscript>',
        "an event handler onerror= on <img> inside title= of <p>",
    ),
    "an animation sets href": (
        "<svg><a><animate attributeName=href values=javascript:alert(1) /><text>x</text></a></svg>",
        "a javascript: URL <animate> sets (values=)",
    ),
    "a set sets href": (
        '<svg><a><set attributeName=href to="x; JavaScript:alert(1)" /><text>x</text></a></svg>',
        "a javascript: URL <set> sets (to=)",
    ),
}


@pytest.mark.parametrize("case", HIDDEN_SCRIPT)
def test_script_hidden_from_pythons_parser_is_an_error(project: Callable[..., Path], case: str) -> None:
    html, found = HIDDEN_SCRIPT[case]
    root = project(cards=f"cards:\n  - id: one\n    front: {json.dumps(html)}\n    back: A\n")
    result = deckbuilder(root, "--check")
    way_out = "members' Anki would run it: remove it, or set allow_scripts: true in the deck file"
    result.assert_clean_failure(
        f"cards/c.yaml:3: card 'one': 'front' carries script ({found}); {way_out} decks/test.yaml"
    )


def test_comments_and_styles_without_script_are_fine(project: Callable[..., Path]) -> None:
    front = '<!-- a note to authors --><style>.x { color: red }</style><p title="1 < 2">x</p>'
    root = project(cards=f"cards:\n  - id: one\n    front: {json.dumps(front)}\n    back: A\n")
    result = deckbuilder(root, "--check")
    assert result.code == 0, result.err


# A card file the build cannot read is an error, never a removed card
# ----------------------------------------------------------------------------------------


def test_unreadable_card_files_are_errors_not_removals(project: Callable[..., Path]) -> None:
    two = "cards:\n  - id: two\n    front: Q2\n    back: A2\n"
    three = "cards:\n  - id: three\n    front: Q3\n    back: A3\n"
    root = project({"cards/two.yaml": two, "cards/sub/three.yaml": three, "cards/bad.yaml": "cards: []\n"})
    (root / "cards" / "bad.yaml").unlink()
    assert deckbuilder(root, "release").code == 0
    lock = (root / "decks" / "test.lock.json").read_bytes()
    package = (root / "dist" / "test-deck.apkg").read_bytes()
    # The released files go wrong in every way a file can.
    (root / "cards" / "two.yaml").unlink()
    (root / "cards" / "two.yaml").symlink_to("gone.yaml")
    (root / "cards" / "sub" / "three.yaml").unlink()
    (root / "cards" / "sub" / "three.yaml").mkdir()
    os.mkfifo(root / "cards" / "fifo.yaml")
    (root / "cards" / "latin1.yaml").write_bytes(b"cards:\n  - id: four\n    front: caf\xe9\n    back: A\n")
    (root / "cards" / "B.YAML").write_text("cards:\n  - id: five\n    front: Q\n    back: A\n")
    for command in ("release", "build"):
        result = deckbuilder(root, command, timeout=30)
        result.assert_clean_failure(
            "cards/two.yaml: links to a file that does not exist",
            "cards/sub/three.yaml: is a folder, not a file",
            "cards/fifo.yaml: is not a regular file (a FIFO, socket or device)",
            "cards/latin1.yaml:3: not valid UTF-8 (byte 0xe9)",
            "cards/B.YAML: not read: write the extension in lower case (.yaml) to use it",
        )
        assert "removed" not in result.out + result.err
    assert (root / "decks" / "test.lock.json").read_bytes() == lock
    assert (root / "dist" / "test-deck.apkg").read_bytes() == package


def test_unreadable_folder_is_an_error(tmp_path: Path) -> None:
    """As an unprivileged user (root reads every folder), a folder it may not list."""
    import shutil

    base = Path(tempfile_dir()) / "deckbuilder-perm"
    shutil.rmtree(base, ignore_errors=True)
    root = base / "proj"
    (root / "decks").mkdir(parents=True)
    (root / "cards" / "private").mkdir(parents=True)
    (root / "decks" / "test.yaml").write_text(DECK)
    (root / "cards" / "c.yaml").write_text(GOOD_CARDS)
    (root / "cards" / "private" / "p.yaml").write_text("cards:\n  - id: p\n    front: Q\n    back: A\n")
    try:
        for path in (base, *base.rglob("*")):
            path.chmod(0o777 if path.is_dir() else 0o666)
        (root / "cards" / "private").chmod(0)
        # Root reads every folder: run the build as nobody (setpriv is util-linux's).
        as_nobody = (
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if os.geteuid() == 0 else []
        )
        proc = subprocess.run(
            [*as_nobody, sys.executable, "-m", "deckbuilder", "--project", str(root), "--check"],
            capture_output=True,
            text=True,
            env={**os.environ, "HOME": str(base), "XDG_CACHE_HOME": str(base / "cache")},
            timeout=60,
            check=False,
        )
        result = Result(proc.returncode, proc.stdout, proc.stderr)
        result.assert_clean_failure("cards/private: folder cannot be read: permission denied")
    finally:
        (root / "cards" / "private").chmod(0o755)
        shutil.rmtree(base, ignore_errors=True)


def tempfile_dir() -> str:
    import tempfile

    return tempfile.gettempdir()


# The preview shows hostile HTML without running it
# ----------------------------------------------------------------------------------------

MARK = "top.document.documentElement.dataset.pwned = 'yes'; top.document.title = 'pwned'; alert(1)"
HOSTILE_HTML = {
    "img-onerror": f'<img src="data:image/png;base64,AAAA" onerror="{MARK}">',
    "details-ontoggle": f'<details open ontoggle="{MARK}"><summary>s</summary>x</details>',
    "svg-onbegin": f'<svg width="9" height="9"><animate onbegin="{MARK}" attributeName="x" dur="1s"/></svg>',
    "iframe-srcdoc": f'<iframe srcdoc="<script>{MARK}</script>"></iframe>',
    "script": f"<script>{MARK}</script>",
    "refresh": '<meta http-equiv="refresh" content="0;url=https://example.org/">',
    "restyle": "<style>body, html { display: none !important; background: red !important; }</style>",
    "cover": '<div id="cover" style="position:fixed;inset:0;z-index:2147483647;background:red">cover</div>',
    "javascript-link": f'<a id="js" href="javascript:{MARK}">js</a>',
    "top-link": '<a id="top" target="_top" href="data:text/html,navigated">top</a>',
    "form": '<form action="data:text/html,sent"><button id="send">send</button></form>',
    "base": '<base href="https://example.org/">',
    # A web <img> is a build error (image-remote); a poster is fetched the same way.
    "tracker": '<video poster="https://example.org/pixel.png"></video>',
}


def hostile_project(project: Callable[..., Path], allow: bool) -> Path:
    cards = "cards:\n" + "".join(
        f"  - id: {name}\n    front: '{name} {html.replace(chr(39), chr(39) * 2)}'\n    back: A\n"
        for name, html in HOSTILE_HTML.items()
    )
    description = "".join(HOSTILE_HTML.values()).replace("'", "''")
    deck = f"{DECK}description: '{description}'\n" + ("allow_scripts: true\n" if allow else "")
    root = project(cards=cards)
    (root / "decks" / "test.yaml").write_text(deck)
    return root


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    assert CHROMIUM is not None, "the hostile preview tests need Chromium (.ci/install-chromium.sh)"
    browser = Browser(CHROMIUM)
    yield browser
    browser.close()


def click_in_frame(b: Browser, tile: str, selector: str) -> None:
    """A real mouse click on an element inside a card's frame."""
    find = (
        "[...document.querySelectorAll('.tile')].find(t => "
        f"t.querySelector('.note-id').textContent === {json.dumps(tile)})"
    )
    b.js(f"{find}.scrollIntoView({{block: 'center'}})")
    b.wait_for(
        f"(f => !!(f && f.contentDocument && f.contentDocument.getElementById('qa')))"
        f"({find}.querySelector('iframe'))"
    )
    box = b.js(
        f"(() => {{ const t = {find}; const f = t.querySelector('iframe');"
        f" const e = f.contentDocument.querySelector({json.dumps(selector)});"
        " const a = f.getBoundingClientRect(), r = e.getBoundingClientRect();"
        " return [a.x + r.x + r.width / 2, a.y + r.y + r.height / 2]; })()"
    )
    for kind in ("mousePressed", "mouseReleased"):
        b.call("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left", clickCount=1)


@pytest.mark.parametrize("allow", [True, False], ids=["allowed-scripts", "failed-build"])
def test_preview_runs_no_card_html(project: Callable[..., Path], chromium: Browser, allow: bool) -> None:
    root = hostile_project(project, allow)
    result = deckbuilder(root, "--preview")
    assert result.code == (0 if allow else 1), result.err
    page = root / "dist" / "test-deck.html"
    text = page.read_text(encoding="utf-8")
    assert "'unsafe-inline'" not in re.search(r"script-src[^;\"]*", text).group()  # type: ignore[union-attr]
    chromium.open(page)
    url = chromium.js("location.href")
    chromium.js("document.getElementById('answers').click()")
    chromium.js("document.getElementById('answers').click()")
    for tile, selector in (("javascript-link", "#js"), ("top-link", "#top"), ("form", "#send")):
        click_in_frame(chromium, tile, selector)
    time.sleep(1.5)  # a refresh of 0 s, a toggle or an animation would have happened by now
    assert chromium.js("location.href") == url
    assert chromium.js("document.documentElement.dataset.pwned") is None
    assert chromium.js("document.title") == "Test Deck — preview"
    assert chromium.js("document.querySelectorAll('.tile').length") == len(HOSTILE_HTML)
    # Every card and the description are shown, each in a frame with its own document.
    frames = chromium.js("[...document.querySelectorAll('iframe')].map(f => f.getAttribute('sandbox'))")
    assert len(frames) == len(HOSTILE_HTML) + 1
    assert all("allow-scripts" not in sandbox and "allow-top-navigation" not in sandbox for sandbox in frames)
    # Nothing restyled or covered the page outside its card.
    assert chromium.js("getComputedStyle(document.body).display") == "block"
    assert chromium.js("getComputedStyle(document.body).backgroundColor") != "rgb(255, 0, 0)"
    chromium.js("document.getElementById('search').scrollIntoView({block: 'center'})")
    assert (
        chromium.js(
            "(() => { const r = document.getElementById('search').getBoundingClientRect();"
            " return document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2).id; })()"
        )
        == "search"
    )
    assert "Card scripts do not run in the preview" in chromium.js("document.body.innerText")
    events = [e.get("method") for e in chromium.events]
    assert "Page.javascriptDialogOpening" not in events
    # The tracker image is asked for, and refused by the page's policy before it leaves.
    remote = {
        e["params"]["requestId"]
        for e in chromium.events
        if e.get("method") == "Network.requestWillBeSent"
        and not e["params"]["request"]["url"].startswith(("file:", "data:", "about:"))
    }
    blocked = {
        e["params"]["requestId"]
        for e in chromium.events
        if e.get("method") == "Network.loadingFailed" and e["params"].get("blockedReason") == "csp"
    }
    answered = {
        e["params"]["requestId"] for e in chromium.events if e.get("method") == "Network.responseReceived"
    }
    assert remote and remote <= blocked and not remote & answered


# One build at a time: the package and the lock come from the same build
# ----------------------------------------------------------------------------------------


def _package_mods(apkg: Path, tmp: Path) -> set[int]:
    import sqlite3
    import zipfile

    db = tmp / "collection.anki2"
    with zipfile.ZipFile(apkg) as z:
        db.write_bytes(z.read("collection.anki2"))
    conn = sqlite3.connect(db)
    try:
        return {mod for (mod,) in conn.execute("select mod from notes")}
    finally:
        conn.close()
        db.unlink()


def _package_fields(apkg: Path, tmp: Path) -> bytes:
    import sqlite3
    import zipfile

    db = tmp / "fields.anki2"
    with zipfile.ZipFile(apkg) as z:
        db.write_bytes(z.read("collection.anki2"))
    conn = sqlite3.connect(db)
    try:
        return b"\x1f".join(flds.encode() for (flds,) in conn.execute("select flds from notes"))
    finally:
        conn.close()
        db.unlink()


def _spawn(root: Path, *args: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "deckbuilder", *args, "--project", str(root)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, **env},
    )


def test_concurrent_releases_never_mix(project: Callable[..., Path], tmp_path: Path) -> None:
    root = project()
    first = int(time.time()) - 10_000
    assert deckbuilder(root, "release", env={"SOURCE_DATE_EPOCH": str(first)}).code == 0
    for trial in range(4):
        cards = root / "cards" / "c.yaml"
        cards.write_text(GOOD_CARDS.replace("back: A", f"back: A{trial}"))
        epochs = (first + 100 * trial + 10, first + 100 * trial + 20)
        procs = [_spawn(root, "release", env={"SOURCE_DATE_EPOCH": str(e)}) for e in epochs]
        outcomes = [(p.wait(timeout=60), p.stderr.read().decode()) for p in procs]  # type: ignore[union-attr]
        codes = sorted(code for code, _ in outcomes)
        assert codes == [0, 1], outcomes  # one released; the other found nothing left to release
        assert all("Traceback" not in err for _, err in outcomes)
        lock = json.loads((root / "decks" / "test.lock.json").read_text())
        winner = epochs[[code for code, _ in outcomes].index(0)]
        assert lock["built"] == winner
        assert max(_package_mods(root / "dist" / "test-deck.apkg", tmp_path)) == winner


def test_a_second_build_waits_for_the_first(project: Callable[..., Path]) -> None:
    import fcntl

    root = project()
    holder = os.open(root, os.O_RDONLY)
    fcntl.flock(holder, fcntl.LOCK_EX)  # what a running build holds
    try:
        proc = _spawn(root, "build", env={})
        time.sleep(2)
        assert proc.poll() is None  # still waiting
        assert not (root / "dist").exists()
    finally:
        os.close(holder)
    assert proc.wait(timeout=60) == 0
    assert proc.stderr is not None
    assert proc.stderr.read().decode().splitlines()[0] == (
        "another build of this project is running: waiting for it…"
    )
    assert (root / "dist" / "test-deck.apkg").is_file()
    # A check writes nothing and never waits.
    holder = os.open(root, os.O_RDONLY)
    fcntl.flock(holder, fcntl.LOCK_EX)
    try:
        assert deckbuilder(root, "--check", timeout=30).code == 0
    finally:
        os.close(holder)


# Nothing a user can do ends in a traceback: odd output streams, Ctrl-C at any moment
# ----------------------------------------------------------------------------------------


def _build_output(root: Path, *args: str, **popen: Any) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "deckbuilder", *args, "--project", str(root)],
        capture_output="stdout" not in popen,
        timeout=60,
        check=False,
        **popen,
    )


def test_stdout_full_closed_broken_or_not_utf8(project: Callable[..., Path]) -> None:
    root = project()
    deck = root / "decks" / "test.yaml"
    deck.write_text("name: Dëck → ☃\n")
    cards = root / "cards" / "c.yaml"
    before = b""
    for trial, stdout in enumerate(("full", "closed", "pipe")):
        cards.write_text(GOOD_CARDS.replace("back: A", f"back: A{trial}"))
        if stdout == "full":
            with open("/dev/full", "w") as full:
                proc = _build_output(root, "release", stdout=full, stderr=subprocess.PIPE)
        elif stdout == "closed":
            proc = subprocess.run(
                f"exec {sys.executable} -m deckbuilder release --project {root} >&-",
                shell=True,
                stderr=subprocess.PIPE,
                timeout=60,
                check=False,
            )
        else:  # a pipe whose reader is gone before anything is written
            r, w = os.pipe()
            os.close(r)
            with os.fdopen(w, "wb") as broken:
                proc = _build_output(root, "release", stdout=broken, stderr=subprocess.PIPE)
        err = proc.stderr.decode()
        assert proc.returncode == 0, (stdout, err)  # the release was written: no failure reported
        assert "Traceback" not in err and "Exception ignored" not in err, err
        released = (root / "decks" / "test.lock.json").read_bytes()
        assert released != before, stdout  # the release was made
        before = released
    for encoding in ("ascii", "latin-1"):
        proc = _build_output(root, "--check", env={**os.environ, "PYTHONIOENCODING": encoding, "LC_ALL": "C"})
        assert proc.returncode == 0, proc.stderr
        assert b"Traceback" not in proc.stderr
        assert b"D" in proc.stdout and b"\\u2603" in proc.stdout  # escaped, not an error


def _holds(pid: int, root: Path) -> bool:
    """Whether process `pid` has the project folder open (a build takes its lock first)."""
    try:
        return any(os.readlink(fd) == str(root) for fd in Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return False


def test_ctrl_c_at_any_moment(project: Callable[..., Path], tmp_path: Path) -> None:
    import signal

    two = "".join(f"  - id: n{i}\n    front: Q{i} `x = {i}`\n    back: A\n" for i in range(300))
    root = project({"cards/more.yaml": f"cards:\n{two}"})
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp)}
    assert _build_output(root, "release", env=env).returncode == 0
    lock = (root / "decks" / "test.lock.json").read_bytes()
    package = (root / "dist" / "test-deck.apkg").read_bytes()
    cards = root / "cards" / "c.yaml"
    delays = [0.0, 0.05, 0.1, 0.2, 0.35, 0.5, 0.7, 1.0, 1.5, 2.5, 5.0]
    outcomes: list[int] = []
    for trial, delay in enumerate(delays):
        cards.write_text(GOOD_CARDS.replace("back: A", f"back: A{trial}"))
        proc = subprocess.Popen(
            [sys.executable, "-m", "deckbuilder", "release", "--project", str(root)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        # From the moment the build holds the project (Python's own start-up is not ours to handle).
        deadline = time.monotonic() + 30
        while not _holds(proc.pid, root) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        text = err.decode()
        outcomes.append(proc.returncode)
        assert "Traceback" not in text, (delay, text)
        # 1 after "Aborted!"; -SIGINT seen under heavy load, also after "Aborted!".
        assert proc.returncode in (0, 1, -signal.SIGINT), (delay, proc.returncode, text)
        if proc.returncode != 0:
            assert text.rstrip().endswith("Aborted!"), (delay, proc.returncode, text)
        new_lock = (root / "decks" / "test.lock.json").read_bytes()
        new_package = (root / "dist" / "test-deck.apkg").read_bytes()
        # Either the whole release landed, or nothing of it did.
        assert (new_lock == lock) == (new_package == package), delay
        if new_lock != lock:  # the release of this trial's cards, package and lock alike
            assert json.loads(new_lock)["release"] == json.loads(lock)["release"] + 1
            assert f"A{trial}".encode() in _package_fields(root / "dist" / "test-deck.apkg", tmp_path)
        lock, package = new_lock, new_package
        leftovers = [p for p in (*root.rglob(".*"), *tmp.iterdir()) if p.name != ".gitignore"]
        assert leftovers == [], (delay, leftovers)
    assert 0 in outcomes and set(outcomes) - {0}, outcomes  # interrupted early, and too late to matter


# Bounded Markdown, one-line diagnostics, YAML read as written
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[" * 5000, "has 5000 '['; a field holds at most 50 (Markdown slows on more)"),
        ("<a " * 2000, "has 2000 '<'; a field holds at most 100 (Markdown slows on more)"),
        ("[a](" * 60_000, "is 240,000 characters; a field holds at most 10,000 (split it)"),
    ],
    ids=["brackets", "tags", "long"],
)
def test_markdown_bombs_are_refused_quickly(project: Callable[..., Path], text: str, expected: str) -> None:
    root = project(cards=f"cards:\n  - id: one\n    front: Q\n    back: '{text}'\n")
    started = time.monotonic()
    result = deckbuilder(root, "--check")
    assert time.monotonic() - started < 20  # unlimited, the first takes minutes
    result.assert_clean_failure(f"cards/c.yaml:4:11: card 'one': 'back' {expected}")


def test_the_largest_allowed_field_converts_quickly(project: Callable[..., Path]) -> None:
    worst = ("<a [" * 50) + "<a " * 50 + "x " * 4800  # 10,000 characters, every limit reached
    assert len(worst) <= 10_000
    root = project(cards=f"cards:\n  - id: one\n    front: Q\n    back: '{worst}'\n")
    started = time.monotonic()
    result = deckbuilder(root, "--check")
    assert result.code == 0, result.err
    assert time.monotonic() - started < 15


def test_every_diagnostic_is_one_line(project: Callable[..., Path]) -> None:
    cards = (
        'cards:\n  - id: "bad\\nsecond.yaml:1: fake"\n    front: Q\n    back: A\n'
        '  - id: two\n    front: Q\n    back: A\n    "x\\u2028y\\ru": 1\n'
    )
    result = deckbuilder(root := project(cards=cards), "--check")
    assert result.code == 1
    heads = [line for line in result.err.splitlines() if line.startswith("cards/")]
    assert len(heads) == 2, result.err
    assert all("\\n" in line or "\\u2028" in line or "\\r" in line for line in heads), heads
    assert root.exists()


def test_yaml_11_oddities_and_line_numbers(project: Callable[..., Path]) -> None:
    cards = (
        "cards:\n  - id: one\n    front: Q\n    back: =\n"
        "  - id: two\n    front: Q2\n    back: <<\n"
        '  - id: three\n    front: "a\u2028b \u0085 c \u2029 d"\n    back: A\n'
        "  - id: four\n    front: &x Q4\n    back: *x\n    bakc: oops\n"
    )
    root = project(cards=cards)
    result = deckbuilder(root, "--check")
    result.assert_clean_failure("cards/c.yaml:14:5: card 'four': unknown key 'bakc' (did you mean 'back'?)")
    assert [line for line in result.errors if line.startswith("cards/") and "warning:" not in line] == [
        "cards/c.yaml:14:5: card 'four': unknown key 'bakc' (did you mean 'back'?)"
    ]
    (root / "cards" / "c.yaml").write_text(cards.replace("    bakc: oops\n", ""))
    assert deckbuilder(root).code == 0
    from deckbuilder.load import load_card_file

    problems: list[Any] = []
    loaded = load_card_file(root / "cards" / "c.yaml", "cards/c.yaml", problems)
    assert [c.back for c in loaded][:2] == ["=", "<<"] and problems == []


def test_nul_in_a_card_file_is_located(project: Callable[..., Path]) -> None:
    root = project(cards='cards:\n  - id: one\n    front: "a\x00b"\n    back: A\n')
    deckbuilder(root, "--check").assert_clean_failure(
        "cards/c.yaml:3:14: the control character U+0000 is not allowed in YAML; remove it "
        "(inside double quotes an escape like \\t can stand for one)"
    )


def test_genanki_tag_warning_is_located(project: Callable[..., Path]) -> None:
    root = project(cards="cards:\n  - id: one\n    front: Q\n    back: 'A <my-tag> list <x:y>'\n")
    expected = (
        "cards/c.yaml:4: warning: card 'one': 'back' has <my-tag> <x:y>, which genanki takes for an "
        "invalid HTML tag; write &lt; for a '<' that should show"
    )
    for args in (("--check",), ()):
        result = deckbuilder(root, *args)
        assert result.code == 0, result.err
        assert expected in result.err.splitlines()
        assert "UserWarning" not in result.err


def test_a_failed_build_on_a_broken_stdout_is_not_said_to_succeed(project: Callable[..., Path]) -> None:
    # A stdout that cannot be written never turns a written release into a failure, and the
    # command says so ("the command did not fail"); a build that failed must not say it too.
    root = project({"cards/c.yaml": "cards:\n  - id: a\n    fron: x\n"})
    r, w = os.pipe()
    os.close(r)  # (a reader gone before anything is written: `build-deck --format json | head -0`)
    with os.fdopen(w, "wb") as broken:
        proc = _build_output(root, "--format", "json", stdout=broken, stderr=subprocess.PIPE)
    err = proc.stderr.decode()
    assert proc.returncode == 1, err
    assert "did not fail" not in err, err
    assert "stdout: could not write the output (Broken pipe)" in err, err
