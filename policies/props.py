"""Reading resource properties the way the policy engine hands them over.

The engine gives validators read-only proxies (`Mapping` / `Sequence`, not dict / list) that
raise `UnknownValueError` when a value is not known yet (during a preview). Every rule first
turns props into plain data with `plain`, where each unknown becomes the `UNKNOWN` marker, and
then treats UNKNOWN as "cannot tell": no violation. A rule therefore never aborts half-way
because one unrelated property is unknown.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from pulumi_policy.proxy import (
    UNKNOWN_ARCHIVE_VALUE,
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_ASSET_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
    UnknownValueError,
)

# What the engine sends in place of a value that is computed later.
UNKNOWN_SENTINELS: Final = frozenset(
    {
        UNKNOWN_ARCHIVE_VALUE,
        UNKNOWN_ARRAY_VALUE,
        UNKNOWN_ASSET_VALUE,
        UNKNOWN_BOOLEAN_VALUE,
        UNKNOWN_NUMBER_VALUE,
        UNKNOWN_OBJECT_VALUE,
        UNKNOWN_STRING_VALUE,
    }
)


class _Unknown:
    """A value the engine does not know yet; compare with `is_unknown`, never by truthiness."""

    def __repr__(self) -> str:
        return "<unknown>"


UNKNOWN: Final = _Unknown()


def is_unknown(value: Any) -> bool:
    return value is UNKNOWN or (isinstance(value, str) and value in UNKNOWN_SENTINELS)


def _read(container: Any, key: Any) -> Any:
    try:
        return plain(container[key])
    except UnknownValueError:
        return UNKNOWN


def plain(value: Any) -> Any:
    """Plain dicts, lists and scalars; every unknown (proxy error or sentinel) becomes UNKNOWN."""
    if isinstance(value, str):
        return UNKNOWN if value in UNKNOWN_SENTINELS else value
    if isinstance(value, Mapping):
        return {key: _read(value, key) for key in value}
    if isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        return [_read(value, index) for index in range(len(value))]
    return value


def dig(data: Any, *path: str | int) -> Any:
    """`data[p0][p1]...` of plain data: UNKNOWN if a step is unknown, None if a step is missing."""
    for step in path:
        if is_unknown(data):
            return UNKNOWN
        if isinstance(step, int) and isinstance(data, list):
            data = data[step] if -len(data) <= step < len(data) else None
        elif isinstance(step, str) and isinstance(data, dict):
            data = data.get(step)
        else:
            return None
    return UNKNOWN if is_unknown(data) else data


def truth(value: Any) -> bool | None:
    """True / False for booleans (also "true" / "false" strings); None when unknown; unset is False."""
    if is_unknown(value):
        return None
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return value is True


def as_list(value: Any) -> list[Any]:
    """A list value as a list; unset or a non-list as []. (An unknown list is [UNKNOWN].)"""
    if is_unknown(value):
        return [UNKNOWN]
    return list(value) if isinstance(value, list) else []


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def text(value: Any) -> str | None:
    """A known string, else None."""
    return value if isinstance(value, str) and not is_unknown(value) else None


def number(value: Any) -> float | None:
    """A known number (numbers arrive as floats; numeric strings are accepted), else None."""
    if isinstance(value, bool) or is_unknown(value):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def contains_unknown(value: Any) -> bool:
    if is_unknown(value):
        return True
    if isinstance(value, dict):
        return any(contains_unknown(item) for item in value.values())
    if isinstance(value, list):
        return any(contains_unknown(item) for item in value)
    return False
