"""What start-up does cheaper than the obvious way gives what the obvious way gives."""

from __future__ import annotations

import yaml.reader

from deckbuilder import yamlsource


def test_the_characters_yaml_refuses_are_pyyamls() -> None:
    # _NOT_YAML lists the ranges PyYAML's reader does not take (NON_PRINTABLE is their complement).
    every = "".join(map(chr, range(0x110000)))
    ours = [m.start() for m in yamlsource._NOT_YAML.finditer(every)]
    assert ours == [m.start() for m in yaml.reader.Reader.NON_PRINTABLE.finditer(every)]
    assert 0 in ours and 0xD800 in ours and 0x10FFFF not in ours
