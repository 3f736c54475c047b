"""What a learner sees in the real Anki desktop (aqt with Qt WebEngine), light and dark, desktop
and phone width.

Each view starts Anki on its own base folder under Xvfb with tests/desktop_driver.py as an
add-on. The add-on imports the packages through File -> Import's dialog with its default options,
opens each deck's overview and studies the first session's new cards in the reviewer; the tests
read what the reviewer's DOM and computed styles showed. Screenshots go to
test-artifacts/desktop/<view>/. Skipped only when no X display can be had (no Xvfb and no
DISPLAY). `python tests/test_desktop.py docs` refreshes the README's pictures from them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).parent.parent
DATA = Path(__file__).parent / "data"
ARTIFACTS = REPO / "test-artifacts" / "desktop"
DESKTOP_DECK = "Desktop Check"
MLE_DECK = "MLE Interview"
TYPED = {"type-in-orchestrator": "Kubernetes"}

# name: (theme, window width, window height); 400 px is the narrowest Anki's window goes.
VIEWS = {
    "light-desktop": ("light", 1100, 850),
    "dark-desktop": ("dark", 1100, 850),
    "light-phone": ("light", 400, 850),
    "dark-phone": ("dark", 400, 850),
}

pytestmark = pytest.mark.desktop


def _display_or_skip() -> Iterator[str]:
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        if os.environ.get("DISPLAY"):
            yield os.environ["DISPLAY"]
            return
        reason = "no X display for the Anki desktop tests: Xvfb is not installed and DISPLAY is unset"
        print(reason, file=sys.stderr)
        pytest.skip(reason)
    read, write = os.pipe()
    server = subprocess.Popen(
        [xvfb, "-displayfd", str(write), "-screen", "0", "1400x1000x24", "-nolisten", "tcp"],
        pass_fds=(write,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write)
    with os.fdopen(read) as pipe:
        number = pipe.readline().strip()
    try:
        if not number:
            pytest.fail("Xvfb did not start")
        yield f":{number}"
    finally:
        server.terminate()
        server.wait(10)


@pytest.fixture(scope="session")
def display() -> Iterator[str]:
    yield from _display_or_skip()


def build_project(source: Path, target: Path, folders: tuple[str, ...]) -> Path:
    """Build a copy of a project (a build writes its lock file) and return the package."""
    for name in folders:
        if (source / name).exists():
            shutil.copytree(source / name, target / name)
    from deckbuilder.build import build

    result = build(target, target / "dist")
    (package,) = [p for p in result.written if p.suffix == ".apkg"]
    return package


@pytest.fixture(scope="session")
def packages(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    base = tmp_path_factory.mktemp("desktop-packages")
    return [
        build_project(DATA / "desktop", base / "desktop", ("decks", "cards", "images")),
        build_project(REPO, base / "mle", ("decks", "cards", "templates")),
    ]


def run_anki(view: str, packages: list[Path], display: str, tmp: Path) -> dict[str, Any]:
    theme, width, height = VIEWS[view]
    out = ARTIFACTS / view
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    base = tmp / "anki-base"
    addon = base / "addons21" / "deckbuilder_desktop_driver"
    addon.mkdir(parents=True)
    shutil.copy(Path(__file__).parent / "desktop_driver.py", addon / "__init__.py")
    job = tmp / "job.json"
    job.write_text(
        json.dumps(
            {
                "out": str(out),
                "theme": theme,
                "width": width,
                "height": height,
                "packages": [str(p) for p in packages],
                "decks": [DESKTOP_DECK, MLE_DECK],
                "typed": TYPED,
                "timeout": 150,
            }
        ),
        encoding="utf-8",
    )
    env = {
        **os.environ,
        "DISPLAY": display,
        "QT_QPA_PLATFORM": "xcb",
        "DECKBUILDER_DESKTOP_JOB": str(job),
        "ANKI_NOHIGHDPI": "1",
        "QT_SCALE_FACTOR": "1",
        # Anki hands its files to an Anki already running for this user: never to another test's.
        "ANKI_SINGLE_INSTANCE_KEY": f"deckbuilder-test-{os.getpid()}-{view}",
    }
    env.pop("WAYLAND_DISPLAY", None)
    if os.geteuid() == 0:  # Chromium refuses its sandbox as root
        env["QTWEBENGINE_CHROMIUM_FLAGS"] = "--no-sandbox"
    # The language dialog of a first start, answered ahead: English, one profile.
    subprocess.run(
        [sys.executable, "-c", _PREPARE_PROFILE, str(base)], check=True, env=env, capture_output=True
    )
    anki = Path(sys.executable).with_name("anki")
    log = out / "anki.log"
    with log.open("w") as sink:
        proc = subprocess.run(
            [str(anki), "-b", str(base)], env=env, stdout=sink, stderr=subprocess.STDOUT, timeout=200
        )
    result_file = out / "result.json"
    assert result_file.exists(), f"Anki exited {proc.returncode} without a result; see {log}"
    result: dict[str, Any] = json.loads(result_file.read_text("utf-8"))
    assert not result["errors"], "\n".join(result["errors"])
    return result


_PREPARE_PROFILE = """
import sys
from pathlib import Path
from aqt.profiles import ProfileManager
pm = ProfileManager(Path(sys.argv[1]))
pm.setupMeta()
pm.setLang("en_US")
pm.profiles()
"""


_RESULTS: dict[str, dict[str, Any]] = {}


@pytest.fixture(params=list(VIEWS))
def view(
    request: pytest.FixtureRequest,
    display: str,
    packages: list[Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Any]:
    """One view's result; Anki runs once per view for the whole session."""
    name = request.param
    if name not in _RESULTS:
        try:
            _RESULTS[name] = run_anki(name, packages, display, tmp_path_factory.mktemp(name))
        except (AssertionError, subprocess.SubprocessError) as e:
            _RESULTS[name] = {"failed": str(e)}  # one run per view, even when it fails
        _RESULTS[name]["name"] = name
    if "failed" in _RESULTS[name]:
        pytest.fail(f"Anki run {name} failed: {_RESULTS[name]['failed']}")
    return _RESULTS[name]


def deck(result: dict[str, Any], name: str) -> dict[str, Any]:
    (entry,) = [d for d in result["decks"] if d["name"] == name]
    return entry


def sides(result: dict[str, Any], name: str = DESKTOP_DECK) -> Iterator[tuple[str, dict[str, Any]]]:
    for card in deck(result, name)["studied"]:
        for side in ("question", "answer"):
            yield f"{card['id']} card {card['ord'] + 1} {side}", card[side]


# What the deck files say
# ----------------------------------------------------------------------------------------


def source_cards(project: Path) -> list[dict[str, Any]]:
    """Every card of a project's one deck, in the order the deck file lists them."""
    (deck_file,) = (project / "decks").glob("*.yaml")
    spec = yaml.safe_load(deck_file.read_text("utf-8"))
    cards: list[dict[str, Any]] = []
    for pattern in spec["cards"]:
        for path in sorted(project.glob(pattern)):
            data = yaml.safe_load(path.read_text("utf-8"))
            for card in data["cards"]:
                subdeck = card.get("deck", data.get("deck"))
                card["deck_name"] = f"{spec['name']}::{subdeck}" if subdeck else spec["name"]
                cards.append(card)
    return cards


def card_ords(card: dict[str, Any]) -> list[int]:
    kind = card.get("type", "basic")
    if kind == "reversed":
        return [0, 1]
    if kind == "cloze":
        return sorted({int(n) - 1 for n in re.findall(r"\{\{c(\d+)::", card["text"])})
    return [0]


# Import and subdecks
# ----------------------------------------------------------------------------------------


def test_every_card_is_filed_in_its_subdeck(view: dict[str, Any]) -> None:
    for name, project in ((DESKTOP_DECK, DATA / "desktop"), (MLE_DECK, REPO)):
        expected = {(c["id"], o): c["deck_name"] for c in source_cards(project) for o in card_ords(c)}
        filed = {(c["id"], c["ord"]): c["deck"] for c in deck(view, name)["cards"]}
        assert filed == expected


def test_the_import_dialog_imported_every_note(view: dict[str, Any]) -> None:
    assert len(view["imports"]) == 2
    for entry in view["imports"]:
        assert "log" in entry and (ARTIFACTS / view["name"] / entry["shot"]).exists()


def test_the_first_session_shows_every_card_type(view: dict[str, Any]) -> None:
    studied = {(c["id"], c["ord"]) for c in deck(view, DESKTOP_DECK)["studied"]}
    every = {(c["id"], o) for c in source_cards(DATA / "desktop") for o in card_ords(c)}
    assert studied == every
    kinds = {c.get("type", "basic") for c in source_cards(DATA / "desktop")}
    assert kinds == {"basic", "reversed", "type-in", "cloze"}


# Study order
# ----------------------------------------------------------------------------------------


def expected_first_session(project: Path, limit: int = 20) -> list[tuple[str, int]]:
    """Anki's default options: gather new cards deck by deck in the deck list's (alphabetical)
    order, in position order within a deck, up to the day's limit; then show card 1 of every
    gathered note before the later cards (card type, then order gathered)."""
    order = [(c["id"], o, c["deck_name"]) for c in source_cards(project) for o in card_ords(c)]
    gathered = sorted(order, key=lambda c: [part.casefold() for part in c[2].split("::")])[:limit]
    shown = sorted(gathered, key=lambda c: c[1])
    return [(card_id, ord_) for card_id, ord_, _ in shown]


def test_anki_gathers_new_cards_by_subdeck_name(view: dict[str, Any]) -> None:
    for name, project in ((DESKTOP_DECK, DATA / "desktop"), (MLE_DECK, REPO)):
        studied = [(c["id"], c["ord"]) for c in deck(view, name)["studied"]]
        assert studied == expected_first_session(project), name


def first_cards(project: Path, studied: list[tuple[str, int]]) -> tuple[list[Any], list[Any]]:
    """Card 1 of each note as studied, and as the deck file lists them."""
    shown = [c for c in studied if c[1] == 0]
    listed = [(c["id"], 0) for c in source_cards(project)][: len(shown)]
    return shown, listed


def test_first_new_cards_follow_the_deck_file(view: dict[str, Any]) -> None:
    # Its subdecks are named in the order the deck file lists them (the lint checks that).
    studied = [(c["id"], c["ord"]) for c in deck(view, DESKTOP_DECK)["studied"]]
    shown, listed = first_cards(DATA / "desktop", studied)
    assert shown == listed


def test_mle_first_new_cards_follow_the_deck_file(view: dict[str, Any]) -> None:
    studied = [(c["id"], c["ord"]) for c in deck(view, MLE_DECK)["studied"]]
    shown, listed = first_cards(REPO, studied)
    assert shown == listed


# Overview
# ----------------------------------------------------------------------------------------


def written_paragraphs(description: str) -> list[str]:
    return [" ".join(p.split()) for p in re.split(r"\n\s*\n", description.strip())]


def test_deck_overview_shows_the_description_as_written(view: dict[str, Any]) -> None:
    for name, project in ((DESKTOP_DECK, DATA / "desktop"), (MLE_DECK, REPO)):
        (deck_file,) = (project / "decks").glob("*.yaml")
        description = yaml.safe_load(deck_file.read_text("utf-8"))["description"]
        expected = [re.sub(r"\*\*(.*?)\*\*", r"\1", p) for p in written_paragraphs(description)]
        shown = [line.strip() for line in deck(view, name)["overview"]["text"].split("\n") if line.strip()]
        # A release number line may follow what the author wrote.
        assert shown[: len(expected)] == expected
        assert len(shown) <= len(expected) + 1


# What every side shows
# ----------------------------------------------------------------------------------------

RAW_TEX = re.compile(r"\\[()\[\]]|\\(?:frac|sum|log|mathrm|mathbb|dots)\b|\$|\^\{|_\{")
RAW_MARKDOWN = re.compile(r"\*\*|(?<!\w)\*\w|```|\]\(|^#+ |\{\{|\}\}")
RAW_HTML = re.compile(r"<\/?[a-zA-Z][^>]*>|&[a-z]+;|&#\d+;")


def test_math_is_typeset_with_nothing_stray(view: dict[str, Any]) -> None:
    maths = 0
    for label, side in sides(view):
        assert not RAW_TEX.search(side["text"]), f"{label}: raw TeX in {side['text']!r}"
        assert not any(m["error"] for m in side["math"]), f"{label}: MathJax error"
        maths += len(side["math"])
    assert maths >= 10


def test_no_raw_markdown_or_html_shows(view: dict[str, Any]) -> None:
    for label, side in sides(view):
        assert not RAW_MARKDOWN.search(side["text"]), f"{label}: {side['text']!r}"
        assert not RAW_HTML.search(side["text"]), f"{label}: {side['text']!r}"


def test_images_load(view: dict[str, Any]) -> None:
    studied = {c["id"]: c for c in deck(view, DESKTOP_DECK)["studied"]}
    (image,) = studied["image-sun"]["question"]["images"]
    assert image["loaded"] and image["width"] > 50


def test_code_blocks_have_one_background(view: dict[str, Any]) -> None:
    blocks = 0
    for label, side in sides(view):
        for block in side["codeBlocks"]:
            assert len(block["backgrounds"]) == 1, f"{label}: {block['backgrounds']}"
            blocks += 1
    assert blocks >= 2


def test_theme_is_the_learners(view: dict[str, Any]) -> None:
    night = view["name"].startswith("dark")
    for label, side in sides(view):
        assert ("nightMode" in side["bodyClasses"]) == night, label
        r, g, b = (int(v) for v in re.findall(r"\d+", side["color"])[:3])
        assert (r + g + b > 384) == night, f"{label}: text colour {side['color']}"


def test_nothing_is_wider_than_the_window(view: dict[str, Any]) -> None:
    for label, side in sides(view):
        assert side["scrollWidth"] <= side["pageWidth"], f"{label}: page scrolls sideways"
        assert not side["wide"], f"{label}: {side['wide']} stick out"
        assert not side["orphans"], f"{label}: a line starts with {side['orphans']}"
    # Anki's own overview (the counts beside the Study Now button) is wider than 400 px; the
    # description is ours.
    overview = deck(view, MLE_DECK)["overview"]
    assert overview["descriptionRight"] <= overview["pageWidth"]


def test_tables_keep_readable_columns(view: dict[str, Any]) -> None:
    studied = {c["id"]: c for c in deck(view, DESKTOP_DECK)["studied"]}
    widths = studied["table-wide"]["answer"]["cellWidths"]
    assert widths and min(widths) >= 90, f"columns squeezed to {min(widths)} px"


def test_type_in_back_shows_the_answer_once(view: dict[str, Any]) -> None:
    studied = {c["id"]: c for c in deck(view, DESKTOP_DECK)["studied"]}
    answer = studied["type-in-orchestrator"]["answer"]
    assert answer["typeAnswer"], "Anki's comparison of the typed answer is missing"
    assert answer["text"].count("Kubernetes") == 1, answer["text"]


def test_cloze_hint_and_answer(view: dict[str, Any]) -> None:
    studied = {(c["id"], c["ord"]): c for c in deck(view, DESKTOP_DECK)["studied"]}
    hint = studied[("cloze-hint", 0)]
    assert "[function]" in hint["question"]["text"] and "softmax" not in hint["question"]["text"]
    assert "softmax" in hint["answer"]["text"]
    second = studied[("cloze-outline", 1)]
    assert "clarify the problem" in second["question"]["text"]
    assert "propose a high-level design" not in second["question"]["text"]


def test_every_side_has_a_screenshot(view: dict[str, Any]) -> None:
    for label, side in sides(view):
        assert (ARTIFACTS / view["name"] / side["shot"]).stat().st_size > 1000, label


# README pictures
# ----------------------------------------------------------------------------------------

README_PICTURES = {
    # docs file: (view, card id, card number, side)
    "anki-desktop-light.png": ("light-desktop", "code-block", 1, "a"),
    "anki-desktop-dark.png": ("dark-desktop", "math-display-in-sentence", 1, "a"),
    "anki-phone-light.png": ("light-phone", "table-wide", 1, "a"),
    "anki-phone-dark.png": ("dark-phone", "code-block", 1, "a"),
}


def refresh_docs() -> None:
    """Copy the chosen screenshots of the last run into docs/ (run the tests first)."""
    for target, (view_name, card_id, number, side) in README_PICTURES.items():
        (shot,) = (ARTIFACTS / view_name).glob(f"*-{card_id}-{number}-{side}.png")
        shutil.copy(shot, REPO / "docs" / target)
        print(f"docs/{target} <- {shot.relative_to(REPO)}")


if __name__ == "__main__" and sys.argv[1:] == ["docs"]:
    refresh_docs()
