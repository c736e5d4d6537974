"""Reading `deploy/compose.yaml` and `deploy/.env.example` the way Compose does, for tests that
check the deployment's facts and run its services as local processes.

Only what the tests need: YAML merge keys (`<<: *wirewatch`), `${VAR}` / `${VAR:-default}`
interpolation from an env mapping, and KEY=VALUE lines of an env file.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from tests.conftest import ROOT

DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
ENV_EXAMPLE = DEPLOY / ".env.example"
DOCKERFILE = DEPLOY / "Dockerfile"
APP_SERVICES = ("poller", "matcher", "notifier")
WIREWATCH = str(Path(sys.executable).parent / "wirewatch")

_VAR = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")


def load_compose() -> dict[str, Any]:
    """The compose file as plain data, merge keys resolved."""
    data: dict[str, Any] = YAML(typ="safe").load(COMPOSE.read_text(encoding="utf-8"))
    return data


def service(name: str) -> dict[str, Any]:
    svc: dict[str, Any] = load_compose()["services"][name]
    return svc


def interpolate(value: str, env: Mapping[str, str]) -> str:
    """Compose's `${VAR}` and `${VAR:-default}` (empty counts as unset for `:-`)."""

    def replace(m: re.Match[str]) -> str:
        found = env.get(m["name"], "")
        return found if found else (m["default"] or "")

    return _VAR.sub(replace, value)


def env_file(path: Path = ENV_EXAMPLE) -> dict[str, str]:
    """KEY=VALUE lines (comments and blank lines skipped)."""
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def documented_variables(path: Path = ENV_EXAMPLE) -> set[str]:
    """Every VARIABLE named in an (un)commented `VARIABLE=` line."""
    text = path.read_text(encoding="utf-8")
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", text, flags=re.MULTILINE))


def container_environment(name: str) -> dict[str, str]:
    """What the container gets: the env file (.env.example stands in for .env), then
    `environment:`, interpolated like Compose does with the env file's values."""
    svc = service(name)
    env = env_file()
    declared = svc.get("environment") or {}
    if isinstance(declared, list):
        declared = dict(item.split("=", 1) for item in declared)
    for key, value in declared.items():
        env[key] = interpolate(str(value), env)
    return env


def mounts(name: str) -> list[tuple[str, str, bool]]:
    """(host source, container target, read-only) per volume, interpolated."""
    result: list[tuple[str, str, bool]] = []
    for volume in service(name).get("volumes") or []:
        if isinstance(volume, dict):
            source, target = str(volume.get("source", "")), str(volume["target"])
            result.append((source, target, bool(volume.get("read_only"))))
            continue
        parts = interpolate(str(volume), env_file()).split(":")
        mode = parts[2] if len(parts) > 2 else "rw"
        result.append((parts[0], parts[1], "ro" in mode.split(",")))
    return result


def local_command(name: str) -> list[str]:
    """The service's compose `command`, run with this checkout's `wirewatch`."""
    command = [str(part) for part in service(name)["command"]]
    assert command[0] == "wirewatch", f"{name}: command should start with wirewatch: {command}"
    return [WIREWATCH, *command[1:]]


def local_environment(
    name: str, *, redis_url: str, key_prefix: str, config_dir: Path
) -> dict[str, str]:
    """The container's environment, adapted to run as a local process beside others.

    What changes and why: Redis is the test's database, not the `redis` service; every
    process picks a free health port (three containers each have their own 8080, three
    local processes cannot); the config folder is the test's, mapped from the container
    path the compose file mounts it at; keys get a private prefix.
    """
    env = container_environment(name)
    targets = {target: source for source, target, _ in mounts(name)}
    assert env["WIREWATCH_CONFIG"] in targets, "WIREWATCH_CONFIG must be a mounted folder"
    env.update(
        WIREWATCH_REDIS_URL=redis_url,
        WIREWATCH_HTTP_PORT="0",
        WIREWATCH_CONFIG=str(config_dir),
        WIREWATCH_KEY_PREFIX=key_prefix,
    )
    return env
