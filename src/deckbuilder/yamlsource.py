"""Read a YAML file into plain values that remember their line numbers.

PyYAML's constructors lose line numbers and silently keep the last of two equal keys, so we
compose the node graph (with libyaml where available) and walk it ourselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Union

import yaml

from .model import Diagnostic, Location

Loader: type[yaml.SafeLoader]
try:
    Loader = yaml.CSafeLoader  # type: ignore[assignment]  # libyaml: ~4x faster on big files
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    Loader = yaml.SafeLoader

_CORE = "tag:yaml.org,2002:"
_SCALAR_KINDS = {f"{_CORE}{k}": k for k in ("str", "int", "float", "bool", "null", "timestamp")}
_CONSTRUCTOR = yaml.constructor.SafeConstructor()
MAX_DEPTH = 50


@dataclass(frozen=True)
class Value:
    """A YAML value and the line it starts on (for a mapping entry: its key's line)."""

    data: Union[str, int, bool, list[Value], dict[str, Value], None]  # noqa: UP007
    """Scalars other than int and bool keep their text as written; null is None."""
    line: int
    kind: str
    """str, int, float, bool, null, timestamp, seq, map, or invalid (already reported)."""
    raw: str = ""
    """A scalar's text as written (`yes` stays "yes" where text is expected)."""

    @property
    def is_scalar(self) -> bool:
        return self.kind not in ("seq", "map")


class YamlProblems(Exception):
    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = diagnostics
        super().__init__("\n".join(map(str, diagnostics)))


def read_yaml(path: Path, rel: str, problems: list[Diagnostic]) -> Value:
    """Load `path`; raise YamlProblems if it cannot be read at all.

    Problems inside a readable file (duplicate keys, forbidden tags) go to `problems` and the
    offending entry is left out, so the rest of the file is still checked.
    """
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise YamlProblems(
            [Diagnostic(Location(rel, line), f"not valid UTF-8 (byte 0x{raw[e.start]:02x})")]
        ) from None
    try:
        node = yaml.compose(text, Loader=Loader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else 1
        problem = e.problem or e.context or "invalid YAML"
        raise YamlProblems([Diagnostic(Location(rel, line), f"YAML syntax error: {problem}")]) from None
    except yaml.YAMLError as e:
        raise YamlProblems([Diagnostic(Location(rel, 1), f"YAML error: {e}")]) from None
    if node is None:
        raise YamlProblems([Diagnostic(Location(rel, 1), "the file is empty")])
    walker = _Walker(rel)
    value = walker.walk(node, node.start_mark.line + 1, ())
    problems.extend(walker.problems)
    return value


class _Walker:
    def __init__(self, rel: str) -> None:
        self.rel = rel
        self.problems: list[Diagnostic] = []
        # An alias is the same node again: walk it once, or nine nested aliases of nine
        # items each ("billion laughs") would expand to gigabytes.
        self.walked: dict[int, Value] = {}

    def problem(self, line: int, message: str) -> Value:
        self.problems.append(Diagnostic(Location(self.rel, line), message))
        return Value(None, line, "invalid")

    def walk(self, node: yaml.Node, line: int, parents: tuple[int, ...]) -> Value:
        if id(node) in parents:
            return self.problem(line, "an alias refers to its own parent")
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node, line)
        if id(node) in self.walked:
            return self.walked[id(node)]
        if len(parents) >= MAX_DEPTH:
            return self.problem(line, f"nested more than {MAX_DEPTH} levels deep")
        value = self.collection(node, line, parents)
        self.walked[id(node)] = value
        return value

    def collection(self, node: yaml.Node, line: int, parents: tuple[int, ...]) -> Value:
        if not node.tag.startswith(_CORE) or node.tag[len(_CORE) :] not in ("seq", "map"):
            return self.problem(line, _forbidden(node.tag))
        inner = (*parents, id(node))
        if isinstance(node, yaml.SequenceNode):
            items = [self.walk(item, item.start_mark.line + 1, inner) for item in node.value]
            return Value(items, line, "seq")
        assert isinstance(node, yaml.MappingNode)
        entries: dict[str, Value] = {}
        for key_node, value_node in node.value:
            key_line = key_node.start_mark.line + 1
            if key_node.tag == f"{_CORE}merge":
                self.problem(key_line, "merge keys ('<<') are not supported")
                continue
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag not in _SCALAR_KINDS:
                self.problem(key_line, "a mapping key must be plain text")
                continue
            key = key_node.value
            if key in entries:
                self.problem(key_line, f"duplicate key '{key}' (first at line {entries[key].line})")
                continue
            entries[key] = self.walk(value_node, key_line, inner)
        return Value(entries, line, "map")

    def scalar(self, node: yaml.ScalarNode, line: int) -> Value:
        kind = _SCALAR_KINDS.get(node.tag)
        if kind is None:
            return self.problem(line, _forbidden(node.tag))
        if kind == "null":
            return Value(None, line, kind)
        if kind in ("int", "bool"):
            try:
                data = _CONSTRUCTOR.construct_object(node)
            except (yaml.YAMLError, ValueError, LookupError):  # `!!int abc`: text after all
                data = node.value
                kind = "str"
            return Value(data, line, kind, node.value)
        return Value(node.value, line, kind, node.value)


def _forbidden(tag: str) -> str:
    shown = "!!" + tag[len(_CORE) :] if tag.startswith(_CORE) else tag
    return f"YAML tag '{shown}' is not allowed: cards hold plain text, lists and mappings"
