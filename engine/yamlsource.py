"""Reading YAML while remembering the line each value came from.

``lenses check`` must name the file and line of a problem, so every mapping
key and list item is recorded with its line as the document is built.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import Location, RuleParseError

PathKey = tuple[Any, ...]


class _Loader(yaml.SafeLoader):
    """SafeLoader without implicit timestamps: dates stay ``YYYY-MM-DD`` strings,
    as in the API's JSON."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_CONSTRUCTOR = yaml.constructor.SafeConstructor()


@dataclass
class Document:
    """A parsed YAML file with a line number for every path in it."""

    file: str
    data: Any
    lines: dict[PathKey, int] = field(default_factory=dict)

    def location(self, path: PathKey) -> Location:
        """The file and line of ``path``, or of its nearest recorded parent."""
        path = tuple(path)
        while path and path not in self.lines:
            path = path[:-1]
        dotted = ".".join(str(p) for p in path)
        return Location(self.file, self.lines.get(path, 1), dotted)


def load(path: Path, display: str | None = None) -> Document:
    """Parse ``path``; a syntax error becomes a :class:`RuleParseError` with its line."""
    name = display or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RuleParseError(f"cannot read file: {exc}", Location(name)) from exc
    return loads(text, name)


def loads(text: str, name: str) -> Document:
    """Parse YAML text (see :func:`load`)."""
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        problem = getattr(exc, "problem", None) or str(exc)
        raise RuleParseError(f"invalid YAML: {problem}", Location(name, line)) from exc
    document = Document(name, None)
    document.data = _build(node, (), document) if node is not None else None
    return document


def _build(node: yaml.Node, path: PathKey, document: Document) -> Any:
    document.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _key(key_node, document)
            if key in result:
                raise RuleParseError(
                    f"duplicate key {key!r}", Location(document.file, key_node.start_mark.line + 1)
                )
            document.lines[(*path, key)] = key_node.start_mark.line + 1
            result[key] = _build(value_node, (*path, key), document)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*path, i), document) for i, item in enumerate(node.value)]
    return _scalar(node)


def _key(node: yaml.Node, document: Document) -> Any:
    """A mapping key, which must be a plain value; the error names file and line
    like every other problem ``lenses check`` reports."""
    if not isinstance(node, yaml.ScalarNode):
        raise RuleParseError("mapping keys must be plain values",
                             Location(document.file, node.start_mark.line + 1))
    return _scalar(node)


def _scalar(node: yaml.Node) -> Any:
    return _CONSTRUCTOR.construct_object(node, deep=True)
