"""Where a field of a policy YAML is written: the line a validation problem points at."""

from __future__ import annotations

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode


def compose(text: str) -> Node | None:
    """The YAML's node tree (which keeps positions), or None when it cannot be read."""
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None


def line_of(root: Node | None, field: str) -> int:
    """The 1-based line of the deepest part of the dotted `field` path found in the YAML
    (`subsidy.programmes.0.tiers.1.amount`): the key's line, the list item's, or — for a field
    that is missing — the line of the mapping it is missing from. 0 when nothing matches."""
    if root is None:
        return 0
    node, line = root, 0
    for part in field.split(".") if field else ():
        found = _child(node, part)
        if found is None:
            break
        line, node = found
    return line


def _child(node: Node, part: str) -> tuple[int, Node] | None:
    if isinstance(node, MappingNode):
        for key, value in node.value:
            if str(key.value) == part:
                return key.start_mark.line + 1, value
    if isinstance(node, SequenceNode) and part.isdigit() and int(part) < len(node.value):
        item = node.value[int(part)]
        return item.start_mark.line + 1, item
    return None
