"""The Docker Compose deployment: the file is valid Compose, and says what DESIGN §5 promises.

Validation uses Debian's `docker-compose` (1.29, apt package `docker-compose`; CI installs it in
`.ci/run`): `docker-compose config` checks the file against Compose's schema and resolves
it without a Docker engine. Skipped when the tool is absent (a developer machine without it).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from services.common.settings import Settings
from tests.deploy.compose_file import (
    APP_SERVICES,
    COMPOSE,
    DEPLOY,
    DOCKERFILE,
    ENV_EXAMPLE,
    container_environment,
    documented_variables,
    load_compose,
    mounts,
    service,
)


def _compose_config(tmp: Path, compose_text: str) -> subprocess.CompletedProcess[str]:
    """`docker-compose config` on a copy of deploy/ whose .env is the example (as a user has)."""
    tool = shutil.which("docker-compose")
    if tool is None:
        pytest.skip("docker-compose not installed (apt-get install docker-compose; CI has it)")
    deploy = tmp / "deploy"
    deploy.mkdir()
    (deploy / "compose.yaml").write_text(compose_text, encoding="utf-8")
    shutil.copy(ENV_EXAMPLE, deploy / ".env")
    return subprocess.run(
        [tool, "--no-ansi", "-f", str(deploy / "compose.yaml"), "config"],
        cwd=tmp,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp)},
    )


def test_compose_file_is_valid(tmp_path: Path) -> None:
    result = _compose_config(tmp_path, COMPOSE.read_text(encoding="utf-8"))
    assert result.returncode == 0, (
        f"docker-compose config rejected deploy/compose.yaml:\n{result.stderr}"
    )
    resolved = YAML(typ="safe").load(result.stdout)
    assert set(resolved["services"]) == {"redis", *APP_SERVICES}
    for name in APP_SERVICES:
        env = resolved["services"][name]["environment"]
        assert env["WIREWATCH_REDIS_URL"] == "redis://redis:6379/0"


def test_validation_catches_a_broken_file(tmp_path: Path) -> None:
    """The validator is not a no-op: a misspelt key is rejected."""
    broken = COMPOSE.read_text(encoding="utf-8").replace("depends_on:", "depend_on:", 1)
    result = _compose_config(tmp_path, broken)
    assert result.returncode != 0
    assert "depend_on" in result.stderr


def test_redis_persists_with_aof_on_a_named_volume() -> None:
    redis = service("redis")
    command = " ".join(str(part) for part in redis["command"])
    assert re.search(r"--appendonly\s+yes", command), command
    assert re.search(r"--appendfsync\s+always", command), command
    sources = [str(v).split(":")[0] for v in redis["volumes"]]
    assert sources and all(s in load_compose()["volumes"] for s in sources), "named volume"
    assert "/data" in {str(v).split(":")[1] for v in redis["volumes"]}
    assert redis["healthcheck"]["test"], "redis needs a healthcheck for depends_on"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_service_facts(name: str) -> None:
    svc = service(name)
    assert svc["command"] == ["wirewatch", name]
    assert svc["depends_on"] == {"redis": {"condition": "service_healthy"}}
    assert svc["restart"] in {"always", "unless-stopped", "on-failure"}
    check = " ".join(str(part) for part in svc["healthcheck"]["test"])
    port = container_environment(name)["WIREWATCH_HTTP_PORT"]
    assert f"127.0.0.1:{port}/readyz" in check, check
    assert any(
        target == container_environment(name)["WIREWATCH_CONFIG"] and read_only
        for _, target, read_only in mounts(name)
    ), "rules/ must be mounted read-only where WIREWATCH_CONFIG points"
    assert svc["env_file"] in (".env", [".env"]), "secrets come from deploy/.env"
    # `--scale` must just work: no fixed names, no host ports to collide on.
    assert "container_name" not in svc and "ports" not in svc
    grace = int(str(svc["stop_grace_period"]).rstrip("s"))
    assert grace > 10, "Docker must wait longer than our 10 s shutdown before SIGKILL"


def test_one_image_for_all_services() -> None:
    images = {str(service(name)["image"]) for name in APP_SERVICES}
    builds = {repr(service(name)["build"]) for name in APP_SERVICES}
    assert len(images) == 1 and len(builds) == 1


def test_env_example_documents_every_setting() -> None:
    documented = documented_variables()
    missing = sorted(
        f"WIREWATCH_{field.upper()}"
        for field in Settings.model_fields
        if f"WIREWATCH_{field.upper()}" not in documented
    )
    assert not missing, f"deploy/.env.example does not document: {', '.join(missing)}"
    compose_vars = set(re.findall(r"\$\{([A-Z_]+)", COMPOSE.read_text(encoding="utf-8")))
    assert compose_vars <= documented, f"undocumented: {sorted(compose_vars - documented)}"


def test_dockerfile_is_multi_stage_uv_non_root() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    stages = re.findall(r"^FROM\s+\S+", text, flags=re.MULTILINE)
    assert len(stages) >= 3, "uv, build and runtime stages"
    assert re.search(r"uv sync .*--no-dev", text), "dependencies installed by uv, no dev tools"
    final = text[text.rindex("\nFROM ") :]
    user = re.findall(r"^USER\s+(\S+)", final, flags=re.MULTILINE)
    assert user and not user[-1].startswith(("root", "0")), "the runtime stage runs as non-root"
    assert "--from=uv" not in final, "uv stays in the build stage"
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text(encoding="utf-8").splitlines()
    rules = [line for line in ignore if line and not line.startswith("#")]
    assert rules[0] == "*", "the build context sends only what the image needs"
