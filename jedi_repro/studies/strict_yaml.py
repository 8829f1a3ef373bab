"""Safe YAML that refuses a key given twice in one mapping, at any depth.

PyYAML's ``safe_load`` keeps the last of two equal keys silently: a spec with ``seeds:`` twice, or
``model.gamma`` twice under ``space``, would run a study other than the one its file shows.
"""
from __future__ import annotations

import yaml


class DuplicateKeyError(yaml.constructor.ConstructorError):
    """A mapping holds the same key twice (``problem_mark`` points at the second)."""


class StrictSafeLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` whose mappings refuse duplicate keys."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            # keys written in this mapping; keys merged in with << may be overridden by them
            explicit = [k for k, _ in node.value if k.tag != 'tag:yaml.org,2002:merge']
            seen = {}
            for key_node in explicit:
                key = self.construct_object(key_node, deep=True)
                try:
                    hash(key)
                except TypeError:
                    continue  # the base class reports an unhashable key
                if key in seen:
                    raise DuplicateKeyError(
                        f'in the mapping starting at line {node.start_mark.line + 1}', node.start_mark,
                        f'key {key!r} is given twice (lines {seen[key] + 1} and '
                        f'{key_node.start_mark.line + 1}); YAML would keep the last silently',
                        key_node.start_mark)
                seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def strict_load(text: str):
    """``yaml.safe_load`` that raises :class:`DuplicateKeyError` on a key given twice."""
    return yaml.load(text, Loader=StrictSafeLoader)  # noqa: S506 - a SafeLoader subclass
