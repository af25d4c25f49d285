"""File output shared by the render writers: JSON-ready values, text and JSON files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pulumi import FileAsset, StringAsset

from tools.offline.capture import is_unknown, redact_secrets

UNKNOWN_TEXT = "[unknown]"


def jsonable(value: Any) -> Any:
    """A JSON-ready copy: secrets -> "[secret]", preview unknowns -> "[unknown]", assets by content."""
    value = redact_secrets(value)
    result: Any = f"[{type(value).__name__}]"  # resource references and other SDK objects
    if is_unknown(value):
        result = UNKNOWN_TEXT
    elif isinstance(value, dict):
        result = {str(key): jsonable(item) for key, item in value.items()}
    elif isinstance(value, (list, tuple)):
        result = [jsonable(item) for item in value]
    elif isinstance(value, StringAsset):
        result = {"asset": {"text": value.text}}
    elif isinstance(value, FileAsset):
        result = {"asset": {"path": value.path}}
    elif value is None or isinstance(value, (str, int, float, bool)):
        result = value
    return result


def dumps(data: Any) -> str:
    return json.dumps(jsonable(data), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        handle.write(text)
    return path


def write_json(path: Path, data: Any) -> Path:
    return write_text(path, dumps(data))


def safe_file_name(name: str) -> str:
    return "".join(char if char.isalnum() or char in "-_." else "_" for char in name)
