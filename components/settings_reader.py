"""Typed reads of raw stack config strings that collect problems instead of raising.

Validation reports every bad key at once, so a read that fails records a `ConfigProblem` and
returns None; `components.settings` turns the collected problems into one `ConfigError`.
"""

from __future__ import annotations

import enum
import ipaddress
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

PROJECT = "k8s-dualstack-aws"

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
T = TypeVar("T")
E = TypeVar("E", bound=enum.Enum)
SomeNetwork = TypeVar("SomeNetwork", ipaddress.IPv4Network, ipaddress.IPv6Network)


@dataclass(frozen=True)
class ConfigProblem:
    key: str
    value: object
    allowed: str

    @property
    def full_key(self) -> str:
        return self.key if ":" in self.key else f"{PROJECT}:{self.key}"

    def __str__(self) -> str:
        return f"{self.full_key} = {self.value!r}: allowed is {self.allowed}"


class ConfigError(ValueError):
    """Every problem of a stack's configuration, reported together."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"invalid stack configuration ({len(problems)} problem(s)):\n{lines}")


class ConfigReader:
    """Reads typed values out of raw config strings; a None result always comes with a recorded problem."""

    def __init__(self, raw: Mapping[str, str]) -> None:
        self.raw = raw
        self.problems: list[ConfigProblem] = []

    def problem(self, key: str, value: object, allowed: str) -> None:
        self.problems.append(ConfigProblem(key, value, allowed))

    def mark(self) -> int:
        """A point to ask `failed_since` about, so one concern can tell whether its own keys were bad."""
        return len(self.problems)

    def failed_since(self, mark: int) -> bool:
        return len(self.problems) > mark

    def string(self, key: str) -> str | None:
        full_key = key if ":" in key else f"{PROJECT}:{key}"
        value = self.raw.get(full_key)
        if value is None:
            self.problem(key, None, "missing; Pulumi.yaml declares a default for every project key")
        return value

    def _decoded(self, key: str) -> tuple[str, object] | None:
        """The raw text and its JSON value; text that is not JSON stays a string so the problem shows it."""
        text = self.string(key)
        if text is None:
            return None
        try:
            value: object = json.loads(text)
        except json.JSONDecodeError:
            value = text
        return text, value

    def integer(self, key: str, bounds: tuple[int, int]) -> int | None:
        low, high = bounds
        allowed = f"an integer from {low} to {high}"
        decoded = self._decoded(key)
        if decoded is None:
            return None
        text, value = decoded
        # bool is an int subclass; an int key must not accept true/false.
        if not isinstance(value, int) or isinstance(value, bool):
            self.problem(key, text, allowed)
            return None
        if not low <= value <= high:
            self.problem(key, value, allowed)
            return None
        return value

    def boolean(self, key: str) -> bool | None:
        decoded = self._decoded(key)
        if decoded is None:
            return None
        text, value = decoded
        if not isinstance(value, bool):
            self.problem(key, text, "true or false")
            return None
        return value

    def string_list(self, key: str) -> list[str] | None:
        decoded = self._decoded(key)
        if decoded is None:
            return None
        text, value = decoded
        if not isinstance(value, list):
            self.problem(key, text, "a list of strings")
            return None
        items = [item for item in value if isinstance(item, str)]
        if len(items) != len(value):
            self.problem(key, value, "a list of strings")
            return None
        return items

    def choice(self, key: str, enum_type: type[E]) -> E | None:
        text = self.string(key)
        if text is None:
            return None
        by_value = {str(member.value): member for member in enum_type}
        if text not in by_value:
            self.problem(key, text, "one of " + ", ".join(by_value))
            return None
        return by_value[text]

    def matching(self, key: str, pattern: re.Pattern[str], allowed: str) -> str | None:
        text = self.string(key)
        if text is not None and not pattern.match(text):
            self.problem(key, text, allowed)
            return None
        return text

    def ipv4_network(self, key: str) -> ipaddress.IPv4Network | None:
        network = self._network(key, 4)
        return network if isinstance(network, ipaddress.IPv4Network) else None

    def ipv6_network(self, key: str) -> ipaddress.IPv6Network | None:
        network = self._network(key, 6)
        return network if isinstance(network, ipaddress.IPv6Network) else None

    def _network(self, key: str, version: int) -> IPNetwork | None:
        text = self.string(key)
        if text is None:
            return None
        try:
            network = ipaddress.ip_network(text, strict=True)
        except ValueError as error:
            self.problem(key, text, f"an IPv{version} CIDR with no host bits set ({error})")
            return None
        if network.version != version:
            self.problem(key, text, f"an IPv{version} CIDR, not IPv{network.version}")
            return None
        return network

    def network_list(self, key: str) -> tuple[IPNetwork, ...] | None:
        """CIDRs of either family, each one checked so every bad entry is named."""
        texts = self.string_list(key)
        if texts is None:
            return None
        networks: list[IPNetwork] = []
        for text in texts:
            try:
                networks.append(ipaddress.ip_network(text, strict=True))
            except ValueError as error:
                self.problem(key, text, f"an IPv4 or IPv6 CIDR ({error})")
        return tuple(networks)

    def disjoint(self, networks: Mapping[str, IPNetwork | None]) -> None:
        """Ranges that must not overlap, keyed by config key; None (already a problem) is skipped."""
        named = [(key, net) for key, net in networks.items() if net is not None]
        for index, (key, net) in enumerate(named):
            for other_key, other in named[index + 1 :]:
                if net.overlaps(other):
                    self.problem(key, str(net), f"a range that does not overlap {other_key} ({other})")

    def checked(self, key: str, value: T | None, ok: Callable[[T], bool], allowed: str) -> T | None:
        if value is not None and not ok(value):
            self.problem(key, str(value), allowed)
            return None
        return value


def known(value: T | None) -> T:
    """Narrow a value that cannot be None once its concern recorded no problem."""
    assert value is not None
    return value
