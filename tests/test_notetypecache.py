"""Note types from the render cache are the ones rendering gives; each input of rendering invalidates them."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from deckbuilder import notetypecache, rendercache
from deckbuilder.model import Diagnostic
from deckbuilder.notetypecache import NoteTypeCache, template_files
from deckbuilder.notetypes import KINDS, TemplateSet
from deckbuilder.rendercache import RenderCache

from .conftest import run
from .test_rendercache import counting

FINGERPRINT = b"the code"


def rendered(root: Path, deck: str = "Sample Deck", identity: str = "sample", version: int = 1) -> dict:  # type: ignore[type-arg]
    problems: list[Diagnostic] = []
    made = {
        kind.type: TemplateSet(root).note_type(kind, deck, identity, version, problems)
        for kind in KINDS.values()
    }
    assert not problems
    return made


def imported_by_a_build(root: Path, out: Path, *modules: str) -> list[str]:
    """Which of `modules` a build of `root` into `out`, in a process of its own, imports."""
    code = (
        "import sys; from pathlib import Path; from deckbuilder.build import build;"
        f"build(Path({str(root)!r}), Path({str(out)!r}));"
        f"print(*[m for m in {list(modules)!r} if m in sys.modules])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return done.stdout.split()


def from_cache(
    root: Path, cache: Path, deck: str = "Sample Deck", identity: str = "sample", version: int = 1
) -> tuple[dict, int]:  # type: ignore[type-arg]
    """The note types through the cache, and how many templates were rendered for them."""
    store = RenderCache(cache, FINGERPRINT)
    templates = TemplateSet(root)
    renders: list[str] = []
    real = templates.render

    def render(name: str, context: dict[str, object], problems: list[Diagnostic]) -> str:
        renders.append(name)
        return real(name, context, problems)

    templates.render = render  # type: ignore[method-assign]
    problems: list[Diagnostic] = []
    made = NoteTypeCache(templates, store).note_types(deck, identity, version, problems)
    assert not problems
    store.save()
    return made, len(renders)


def test_kept_note_types_are_the_rendered_ones(sample: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first, renders = from_cache(sample, cache)
    assert renders > 0 and first == rendered(sample)
    again, renders = from_cache(sample, cache)
    assert renders == 0 and again == rendered(sample)
    assert [nt.id for nt in again.values()] == [nt.id for nt in rendered(sample).values()]


@pytest.mark.parametrize(
    "change",
    [
        "template edited",
        "template added",
        "partial added",
        "template removed",
        "templates folder removed",
        "deck name",
        "identity",
        "note type version",
        "library version",
    ],
)
def test_every_input_of_rendering_makes_them_rendered_again(
    sample: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    cache = tmp_path / "cache"
    context = {"deck": "Sample Deck", "identity": "sample", "version": 1}
    before = from_cache(sample, cache)[0]
    templates = sample / "templates"
    if change == "template edited":
        (templates / "basic.front.html").write_text('<div class="question edited">{{Front}}</div>\n')
    elif change == "template added":
        (templates / "style.css").write_text(".card { color: red; }\n")
    elif change == "partial added":  # a file no template includes yet: still an input
        (templates / "_note.html").write_text("note\n")
    elif change == "template removed":
        (templates / "basic.front.html").unlink()
    elif change == "templates folder removed":
        shutil.rmtree(templates)
    elif change == "deck name":
        context["deck"] = "Other Deck"
    elif change == "identity":
        context["identity"] = "other"
    elif change == "note type version":
        context["version"] = 2
    else:
        notetypecache._library_versions.cache_clear()
        monkeypatch.setattr(notetypecache, "installed_version", lambda dist, folders=None: f"{dist}-0")
    made, renders = from_cache(sample, cache, *context.values())  # type: ignore[arg-type]
    assert made == rendered(sample, *context.values())  # type: ignore[arg-type]
    if change == "templates folder removed":  # the shipped templates' note types, rendered ahead
        assert renders == 0 and made != before
    else:
        assert renders > 0
    notetypecache._library_versions.cache_clear()


def test_the_shipped_templates_are_an_input(sample: Path, tmp_path: Path) -> None:
    templates = TemplateSet(sample)
    shipped = tmp_path / "shipped"
    shutil.copytree(templates.shipped_dir, shipped)
    templates._shipped_dir = shipped
    before = template_files(templates)
    assert before is not None and template_files(templates) == before
    (shipped / "basic.back.html").write_text((shipped / "basic.back.html").read_text() + " ")
    assert template_files(templates) not in (None, before)


def test_templates_with_a_link_or_a_folder_are_never_kept(sample: Path, tmp_path: Path) -> None:
    """What a link leads to is not in the key (a link inside the project is rendered)."""
    (sample / "cards" / "answer.html").write_text('<div class="card-id">{{ID}}</div>\n')
    (sample / "templates" / "_answer.html").symlink_to(sample / "cards" / "answer.html")
    assert template_files(TemplateSet(sample)) is None
    for _ in range(2):
        assert from_cache(sample, tmp_path / "cache")[1] > 0
    (sample / "templates" / "_answer.html").unlink()
    (sample / "templates" / "sub").mkdir()
    assert template_files(TemplateSet(sample)) is None


@pytest.mark.parametrize(
    "entry",
    [
        "",
        "not json",
        "[]",
        "null",
        '[["css", []]]',
        json.dumps([["css", [["f", "b"]]]] * len(KINDS)),  # cards of the wrong number for most kinds
        json.dumps([[1, [["f", "b"]]]] * len(KINDS)),
        "[" * 100_000,
    ],
)
def test_a_damaged_or_foreign_entry_is_not_trusted(sample: Path, tmp_path: Path, entry: str) -> None:
    cache = tmp_path / "cache"
    from_cache(sample, cache)
    with sqlite3.connect(cache / "render.sqlite") as db:
        rows = [(key, html) for key, html in db.execute("SELECT key, html FROM entries")]
        assert len(rows) == 1
        key = rows[0][0]
        db.execute(
            "UPDATE entries SET html = ?, check_ = ? WHERE key = ?",
            (entry, rendercache._check(key, entry), key),
        )
    made, renders = from_cache(sample, cache)
    assert renders > 0 and made == rendered(sample)


def test_note_types_with_a_problem_are_never_kept(make_project, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    root = make_project(
        {
            "decks/d.yaml": "name: D\n",
            "cards/c.yaml": "cards:\n  - id: a\n    front: q\n    back: a\n",
            "templates/basic.back.html": "{{FrontSide}}\n[% if %]\n",
        }
    )
    for _ in range(2):  # reported by every build, warm or not
        result = run("--project", root)
        assert result.exit_code == 1
        assert "templates/basic.back.html:2: template error: " in result.stderr
    (root / "templates" / "basic.back.html").write_text("{{FrontSide}}<hr id=answer>{{Back}} fixed\n")
    assert run("--project", root).exit_code == 0
    (root / "templates" / "basic.back.html").write_text("{{FrontSide}}\n{{Nope}}\n")
    result = run("--project", root)
    assert result.exit_code == 1 and "unknown field 'Nope'" in result.stderr


def test_a_warm_build_renders_no_template_and_imports_no_jinja2(
    sample: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, render_cache_dir: Path
) -> None:
    assert run("--project", sample).exit_code == 0
    renders = counting(monkeypatch, TemplateSet, "render")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1790000000")  # (a new package each time: compared)
    assert run("--project", sample).exit_code == 0
    assert renders == []
    warm = (sample / "dist" / "sample.apkg").read_bytes()
    assert run("--project", sample, "--no-cache").exit_code == 0
    assert renders and (sample / "dist" / "sample.apkg").read_bytes() == warm
    assert imported_by_a_build(sample, tmp_path / "out", "jinja2") == []


def test_a_template_saved_while_the_build_renders_is_not_kept_under_its_old_bytes(
    sample: Path, tmp_path: Path
) -> None:
    # The key is the template files' bytes as the build starts; the note types are rendered
    # later, from the files as they are then. A template saved in between (an author saving
    # while `serve` rebuilds) must not leave the new file's note types under the old file's
    # key: undoing the edit would then bring back note types of the edit that is undone.
    template = sample / "templates" / "basic.front.html"
    before = template.read_text()
    store = RenderCache(tmp_path / "cache", FINGERPRINT)
    templates = TemplateSet(sample)
    note_types = NoteTypeCache(templates, store)  # (the key: the files as the build starts)
    template.write_text("<div class=saved-meanwhile>{{Front}}</div>")
    problems: list[Diagnostic] = []
    during = note_types.note_types("Sample Deck", "sample", 1, problems)
    store.save()
    assert not problems
    assert "saved-meanwhile" in during["basic"].templates[0].front  # (rendered from the file as it is)
    template.write_text(before)  # undone
    assert from_cache(sample, tmp_path / "cache")[0] == rendered(sample)


def test_the_shipped_note_types_are_what_the_shipped_templates_render() -> None:
    assert notetypecache.SHIPPED.read_text("utf-8") == notetypecache.render_shipped(), (
        "the shipped templates or the code that renders them changed: "
        "`python -m deckbuilder.notetypecache` writes src/deckbuilder/shipped-note-types.json again"
    )


def _no_templates(make_project) -> Path:  # type: ignore[no-untyped-def]
    return make_project(  # type: ignore[no-any-return]
        {
            "decks/d.yaml": "name: Plain Deck\nidentity: plain\n",
            "cards/c.yaml": (
                "cards:\n"
                "  - {id: b, front: 'What is *x*?', back: x}\n"
                "  - {id: r, type: reversed, front: Up, back: Down}\n"
                "  - {id: t, type: type-in, front: Two?, back: '2'}\n"
                "  - {id: c, type: cloze, text: '{{c1::Cloze}} text'}\n"
            ),
        }
    )


def test_a_project_with_no_templates_takes_the_shipped_note_types(
    make_project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, render_cache_dir: Path
) -> None:  # type: ignore[no-untyped-def]
    root = _no_templates(make_project)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1790000000")
    renders = counting(monkeypatch, TemplateSet, "render")
    assert run("--project", root).exit_code == 0
    assert renders == []  # (the cache was empty: nothing kept there)
    taken = (root / "dist" / "plain-deck.apkg").read_bytes()
    for deck in ("Plain Deck", "Other <&> 'Deck'"):
        assert NoteTypeCache(TemplateSet(root), RenderCache(tmp_path / "c", FINGERPRINT)).note_types(
            deck, "plain", 2, []
        ) == rendered(root, deck, "plain", 2)
    assert run("--project", root, "--no-cache").exit_code == 0
    assert renders and (root / "dist" / "plain-deck.apkg").read_bytes() == taken
    assert imported_by_a_build(root, tmp_path / "out", "jinja2", "pygments") == []
    assert (tmp_path / "out" / "plain-deck.apkg").read_bytes() == taken


@pytest.mark.parametrize(
    "case", ["templates folder", "empty templates folder", "another key", "damaged", "missing", "library"]
)
def test_the_shipped_note_types_are_not_taken_unless_they_are_what_rendering_gives(
    make_project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:  # type: ignore[no-untyped-def]
    root = _no_templates(make_project)
    shipped = tmp_path / "shipped.json"
    kept = json.loads(notetypecache.SHIPPED.read_text("utf-8"))
    kept[1][0][0] = "/* not what style.css renders */"
    shipped.write_text(json.dumps(kept))
    monkeypatch.setattr(notetypecache, "SHIPPED", shipped)
    taken, renders = from_cache(root, tmp_path / "c1")
    assert renders == 0 and taken["basic"].css == "/* not what style.css renders */"  # (the file is read)
    if case == "templates folder":
        (root / "templates").mkdir()
        (root / "templates" / "style.css").write_text(".card { color: red; }\n")
    elif case == "empty templates folder":
        (root / "templates").mkdir()
    elif case == "another key":
        kept[0] = "0" * 64
        shipped.write_text(json.dumps(kept))
    elif case == "damaged":
        shipped.write_text(json.dumps(kept)[:-100])
    elif case == "missing":
        shipped.unlink()
    else:
        notetypecache._library_versions.cache_clear()
        monkeypatch.setattr(notetypecache, "installed_version", lambda dist, folders=None: f"{dist}-0")
    made, renders = from_cache(root, tmp_path / "c2")
    assert renders > 0 and made == rendered(root)
    notetypecache._library_versions.cache_clear()


def test_shipped_templates_that_read_the_deck_name_are_not_rendered_ahead(
    sample: Path, tmp_path: Path
) -> None:
    shipped = tmp_path / "shipped"
    shutil.copytree(TemplateSet(sample).shipped_dir, shipped)
    notetypecache.check_same_for_every_deck(shipped)
    (shipped / "_answer.html").write_text("[% if deck_name %]<b>[[ deck_name ]]</b>[% endif %]{{Back}}\n")
    with pytest.raises(SystemExit, match=r"_answer\.html: reads deck_name"):
        notetypecache.check_same_for_every_deck(shipped)
