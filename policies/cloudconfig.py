"""The AWS CCM's cloud config (gcfg INI): parsing and the checks every release shares.

gcfg matches section and variable names case-insensitively, strips comments (`;`, `#`) and
unquotes values; a multi-valued variable such as `NodeIPFamilies` takes one value per line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from policies.facts import (
    CLOUD_CONFIG_GLOBAL_KEYS,
    NODE_IP_FAMILIES,
    NODE_IP_FAMILY_VALUES,
    SERVICE_OVERRIDE_KEYS,
    Version,
    cloud_config_keys,
    minor_of,
)

GLOBAL: Final = "global"
SERVICE_OVERRIDE: Final = "serviceoverride"
_SECTION: Final = re.compile(r'^\[\s*([A-Za-z][\w-]*)(?:\s+"((?:[^"\\]|\\.)*)")?\s*\]$')
_VARIABLE: Final = re.compile(r"^([A-Za-z][\w-]*)\s*(?:=\s*(.*))?$")
_CANONICAL: Final = {key.lower(): key for key in CLOUD_CONFIG_GLOBAL_KEYS} | {
    key.lower(): key for key in SERVICE_OVERRIDE_KEYS
}


@dataclass(frozen=True)
class Entry:
    section: str
    """Lower-case section name (`global`, `serviceoverride`)."""
    key: str
    """The canonical key name when the key is known, else as written."""
    value: str
    line: int


def _strip_comment(value: str) -> str:
    quoted = False
    for index, char in enumerate(value):
        if char == '"':
            quoted = not quoted
        elif char in ";#" and not quoted:
            return value[:index].strip()
    return value.strip()


def _unquote(value: str) -> str:
    return value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value


def parse(text: str) -> tuple[list[Entry], list[str]]:
    """The entries of a cloud config and the lines gcfg would refuse."""
    entries: list[Entry] = []
    problems: list[str] = []
    section: str | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line[0] in ";#":
            continue
        if (match := _SECTION.match(line)) is not None:
            section = match[1].lower()
            if section not in (GLOBAL, SERVICE_OVERRIDE):
                problems.append(f"line {number}: unknown section [{match[1]}]")
            continue
        match = _VARIABLE.match(line)
        if match is None:
            problems.append(f"line {number}: {line!r} is not `Key = value`")
        elif section is None:
            problems.append(f"line {number}: {match[1]} is outside any section; put it under [Global]")
        else:
            key = _CANONICAL.get(match[1].lower(), match[1])
            entries.append(Entry(section, key, _unquote(_strip_comment(match[2] or "")), number))
    return entries, problems


def format_problems(text: str) -> list[str]:
    """What no CCM release accepts: unknown sections and keys, NodeIPFamilies values other than
    exactly `ipv4` / `ipv6` one per line (`ipv4,ipv6` is ONE value that matches no family)."""
    entries, problems = parse(text)
    families: list[str] = []
    for entry in entries:
        known = CLOUD_CONFIG_GLOBAL_KEYS if entry.section == GLOBAL else SERVICE_OVERRIDE_KEYS
        if entry.section in (GLOBAL, SERVICE_OVERRIDE) and entry.key not in known:
            problems.append(f"line {entry.line}: no CCM release knows the key {entry.key!r}")
        if entry.section != GLOBAL or entry.key != NODE_IP_FAMILIES:
            continue
        if "," in entry.value or " " in entry.value:
            problems.append(
                f"line {entry.line}: {NODE_IP_FAMILIES} = {entry.value} is one value that matches no family; "
                f"write one line per family ({NODE_IP_FAMILIES} = ipv6 then {NODE_IP_FAMILIES} = ipv4)"
            )
        elif entry.value not in NODE_IP_FAMILY_VALUES:
            problems.append(f"line {entry.line}: {NODE_IP_FAMILIES} = {entry.value!r} is neither ipv4 nor ipv6")
        elif entry.value in families:
            problems.append(f"line {entry.line}: {NODE_IP_FAMILIES} = {entry.value} is given twice")
        families.append(entry.value)
    return problems


def release_problems(text: str, version: Version) -> list[str]:
    """`[Global]` keys the CCM release of `version` does not know (fatal before the tolerant patches)."""
    known = cloud_config_keys(version)
    problems = []
    for entry in parse(text)[0]:
        if entry.section == GLOBAL and entry.key in CLOUD_CONFIG_GLOBAL_KEYS and entry.key not in known:
            first, until = CLOUD_CONFIG_GLOBAL_KEYS[entry.key]
            span = f"from {first}" + (f" until {until}" if until else "")
            problems.append(
                f"line {entry.line}: {entry.key} is unknown to CCM {minor_of(version)} (known {span}); the CCM "
                f'exits with `can\'t store data at section "Global", variable "{entry.key}"`'
            )
    return problems


def has_global_section(text: str) -> bool:
    matches = (_SECTION.match(line.strip()) for line in text.splitlines())
    return any(match is not None and match[1].lower() == GLOBAL for match in matches)
