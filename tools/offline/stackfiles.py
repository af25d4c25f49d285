"""Stack configuration as the Pulumi engine hands it to the program.

The engine merges the project's `config:` defaults (`Pulumi.yaml`) with `Pulumi.<stack>.yaml`
and passes every value as a string keyed `<namespace>:<key>`: strings as they are, everything
else JSON-encoded (`true`, `2`, `["a","b"]`). `stack_config` reproduces that offline, so the
program's own config parsing runs unchanged under the mock engine.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
PROJECT_FILE = "Pulumi.yaml"


class StackFileError(ValueError):
    """A project or stack file that cannot be turned into engine config."""


def encode_value(value: object) -> str:
    """A config value as the engine passes it: strings verbatim, anything else compact JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise StackFileError(f"{path} does not exist") from error
    except yaml.YAMLError as error:
        raise StackFileError(f"{path} is not valid YAML: {error}") from error
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise StackFileError(f"{path}: expected a mapping at the top level")
    return data


def project_name(project_dir: Path = REPO_ROOT) -> str:
    name = _read_yaml(project_dir / PROJECT_FILE).get("name")
    if not isinstance(name, str) or not name:
        raise StackFileError(f"{project_dir / PROJECT_FILE}: missing `name`")
    return name


def _full_key(key: str, project: str) -> str:
    # A key without a namespace belongs to the project, as in `pulumi config set key value`.
    return key if ":" in key else f"{project}:{key}"


def project_defaults(project_dir: Path = REPO_ROOT) -> dict[str, str]:
    """The `default:` (or `value:`) of every key of the project's typed `config:` block."""
    data = _read_yaml(project_dir / PROJECT_FILE)
    project = project_name(project_dir)
    defaults: dict[str, str] = {}
    for key, spec in (data.get("config") or {}).items():
        if isinstance(spec, dict):
            if "value" in spec:
                defaults[_full_key(key, project)] = encode_value(spec["value"])
            elif "default" in spec:
                defaults[_full_key(key, project)] = encode_value(spec["default"])
        elif spec is not None:
            # Short form `key: value` declares a default value.
            defaults[_full_key(key, project)] = encode_value(spec)
    return defaults


def stack_file(stack: str, project_dir: Path = REPO_ROOT) -> Path:
    return project_dir / f"Pulumi.{stack}.yaml"


def stack_values(stack: str, project_dir: Path = REPO_ROOT) -> dict[str, str]:
    """The `config:` block of `Pulumi.<stack>.yaml`, encoded as engine strings."""
    path = stack_file(stack, project_dir)
    if not path.exists():
        raise StackFileError(f"no stack file {path.name}; stacks: {', '.join(list_stacks(project_dir)) or 'none'}")
    project = project_name(project_dir)
    values: dict[str, str] = {}
    for key, value in (_read_yaml(path).get("config") or {}).items():
        if isinstance(value, dict) and set(value) == {"secure"}:
            # Encrypted with the stack's secrets provider, which needs the Pulumi CLI.
            raise StackFileError(f"{path.name}: {key} is an encrypted secret; pass it as an override offline")
        values[_full_key(key, project)] = encode_value(value)
    return values


def stack_config(
    stack: str,
    project_dir: Path = REPO_ROOT,
    overrides: Mapping[str, object] | None = None,
) -> dict[str, str]:
    """Project defaults, then the stack file, then `overrides`, keyed `<namespace>:<key>`.

    Override keys without a namespace belong to the project. Override values that are strings
    are taken as raw engine strings; `None` removes the key (as if never set); anything else is
    JSON-encoded like a YAML value of a stack file.
    """
    project = project_name(project_dir)
    config = project_defaults(project_dir)
    config.update(stack_values(stack, project_dir))
    for key, value in (overrides or {}).items():
        full_key = _full_key(key, project)
        if value is None:
            config.pop(full_key, None)
        else:
            config[full_key] = encode_value(value)
    return dict(sorted(config.items()))


def list_stacks(project_dir: Path = REPO_ROOT) -> list[str]:
    """Every stack with a `Pulumi.<stack>.yaml`, sorted."""
    prefix, suffix = "Pulumi.", ".yaml"
    return sorted(
        path.name[len(prefix) : -len(suffix)]
        for path in project_dir.glob(f"{prefix}*{suffix}")
        if path.name != PROJECT_FILE
    )
