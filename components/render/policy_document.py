"""The shape every IAM and KMS policy document of the program shares."""

from __future__ import annotations

from typing import Any

PolicyDocument = dict[str, Any]
VERSION = "2012-10-17"


def allow(sid: str, actions: tuple[str, ...], resource: str | list[str] = "*", **extra: Any) -> dict[str, Any]:
    """An Allow statement; actions sorted so the document is the same on every run."""
    return {"Sid": sid, "Effect": "Allow", "Action": sorted(actions), "Resource": resource, **extra}
