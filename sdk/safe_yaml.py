"""Reading a user's YAML file (rulebook overlays, score cards) safely and strictly.

``yaml.safe_load`` never runs code, but it accepts duplicate keys (the last one silently wins),
expands aliases without limit (a 319-byte "billion laughs" file took 2.3 GB and a minute), recurses
as deep as the nesting goes and decodes with whatever the caller opened the file with. This loader
reads the bytes itself (UTF-8, a BOM allowed), refuses duplicate keys, more than ``MAX_ALIASES``
aliases, documents that expand to more than ``MAX_NODES`` values or nest deeper than ``MAX_DEPTH``,
and files over ``MAX_BYTES``. Every refusal is a :class:`YamlError` naming the file and the line.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Dict, Hashable, Optional, Set

if TYPE_CHECKING:  # PyYAML is imported on first use: `import sdk` stays light
    from yaml.nodes import MappingNode, Node

MAX_BYTES = 10 * 1024 * 1024
MAX_ALIASES = 200
MAX_NODES = 500_000
MAX_DEPTH = 64
_MERGE_TAG = "tag:yaml.org,2002:merge"


class YamlError(ValueError):
    """A YAML file that cannot be read as data; the message names the file and, where known, the line."""


def load_yaml_file(path: str) -> Any:
    """The data in the YAML file at ``path``; FileNotFoundError when there is no such file."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"YAML file not found: {path}")
    size = os.path.getsize(path)
    if size > MAX_BYTES:
        raise YamlError(f"{path}: file has {size:,} bytes; the limit is {MAX_BYTES:,}")
    with open(path, "rb") as fh:
        data = fh.read(MAX_BYTES + 1)
    return load_yaml_bytes(data, path)


def load_yaml_bytes(data: bytes, name: str) -> Any:
    """The data in ``data`` (a YAML document as UTF-8 bytes); ``name`` is used in messages."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise YamlError(
            f"{name}: not UTF-8 (byte 0x{data[exc.start]:02x} at line {line}); save the file as UTF-8"
        ) from None
    import yaml

    loader = _loader_class()(text)
    loader.name = name  # marks in messages name the file
    try:
        return loader.get_single_data()
    except YamlError as exc:
        raise YamlError(f"{name}: {exc}") from None
    except yaml.YAMLError as exc:
        raise YamlError(f"{name}: not valid YAML: {_short(str(exc))}") from None
    except RecursionError:
        raise YamlError(f"{name}: not valid YAML: nested too deeply") from None
    finally:
        loader.dispose()


def _short(message: str, limit: int = 600) -> str:
    return message if len(message) <= limit else message[: limit - 3] + "..."


def _line(node: "Node") -> str:
    return f"line {node.start_mark.line + 1}" if node.start_mark is not None else "unknown line"


@lru_cache(maxsize=1)
def _loader_class() -> Any:
    import yaml
    from yaml.nodes import MappingNode, ScalarNode

    class StrictLoader(yaml.SafeLoader):
        def __init__(self, stream: str) -> None:
            super().__init__(stream)
            self._aliases = 0
            self._depth = 0

        def compose_node(self, parent: Optional["Node"], index: Any) -> Optional["Node"]:
            if self.check_event(yaml.AliasEvent):
                self._aliases += 1
                if self._aliases > MAX_ALIASES:
                    mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                    raise YamlError(f"more than {MAX_ALIASES} aliases (line {mark.line + 1}); write the values out")
            self._depth += 1
            try:
                if self._depth > MAX_DEPTH:
                    mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                    raise YamlError(f"nested deeper than {MAX_DEPTH} levels (line {mark.line + 1})")
                return super().compose_node(parent, index)
            finally:
                self._depth -= 1

        def get_single_node(self) -> Optional["Node"]:
            node: Optional["Node"] = super().get_single_node()
            if node is not None:
                _expanded_size(node, {}, set())
            return node

        def construct_mapping(self, node: "MappingNode", deep: bool = False) -> Dict[Hashable, Any]:
            if isinstance(node, MappingNode):
                seen: Set[Any] = set()
                for key_node, _ in node.value:
                    if not isinstance(key_node, ScalarNode) or key_node.tag == _MERGE_TAG:
                        continue
                    key = self.construct_object(key_node, deep=True)
                    if key in seen:
                        raise YamlError(
                            f"duplicate key {str(key)[:60]!r} ({_line(key_node)}); each key may appear once"
                        )
                    seen.add(key)
            return super().construct_mapping(node, deep)

    return StrictLoader


def _expanded_size(node: "Node", sizes: Dict[int, int], active: Set[int]) -> int:
    """How many values ``node`` stands for once every alias is expanded (each shared node counted
    every time it is used), refusing more than MAX_NODES. Iterative depth is bounded by MAX_DEPTH."""
    key = id(node)
    if key in sizes:
        return sizes[key]
    if key in active:  # a recursive alias: expanding it never ends
        raise YamlError(f"a value contains itself through an alias ({_line(node)})")
    active.add(key)
    total = 1
    from yaml.nodes import MappingNode, SequenceNode

    if isinstance(node, SequenceNode):
        children = list(node.value)
    elif isinstance(node, MappingNode):
        children = [part for pair in node.value for part in pair]
    else:
        children = []
    for child in children:
        total += _expanded_size(child, sizes, active)
        if total > MAX_NODES:
            raise YamlError(f"the document expands to more than {MAX_NODES:,} values through aliases ({_line(node)})")
    active.discard(key)
    sizes[key] = total
    return total
