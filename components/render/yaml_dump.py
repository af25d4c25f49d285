"""The renderers' YAML: deterministic, block style, placeholders quoted."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml


class _Dumper(yaml.SafeDumper):
    """Block style, no anchors; placeholders double-quoted, multi-line text as `|` blocks."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    # Quoted because the substituted value is unknown here: an IPv6 address such as
    # 2600:1f18:10:20 would read as a YAML 1.1 base-60 integer if left plain.
    if "${" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"')
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _represent_str)


def dump_yaml(*documents: Mapping[str, Any]) -> str:
    """Deterministic YAML: documents in the given order, keys in insertion order."""
    return yaml.dump_all(documents, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=4096)
