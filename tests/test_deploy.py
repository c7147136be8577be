"""docker-compose.yml describes the production stack the README promises."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from newsletter.tasks.app import QUEUES

ROOT = Path(__file__).resolve().parents[1]


def compose() -> dict[str, object]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


WORKERS = ("worker-send", "worker-default")


def test_compose_has_every_service_with_health_checks() -> None:
    """postgres, redis, mailpit, web, both workers and beat exist; servers have health checks."""
    services = compose()["services"]
    assert isinstance(services, dict)
    assert {"postgres", "redis", "mailpit", "web", *WORKERS, "beat", "migrate"} <= set(services)
    for name in ("postgres", "redis", "mailpit", "web", *WORKERS):
        assert "healthcheck" in services[name], name


def _queues(command: list[str]) -> list[str]:
    for i, arg in enumerate(command):
        if arg == "--queues":
            return command[i + 1].split(",")
        if arg.startswith("--queues="):
            return arg.removeprefix("--queues=").split(",")
    return list(QUEUES)


def test_senders_take_bulletins_first_and_slow_jobs_run_elsewhere() -> None:
    """worker-send reads urgent before bulk and never default, worker-default reads default:
    a bulletin gets every sender, no poll holds one; each health check pings its own node."""
    services = compose()["services"]
    assert isinstance(services, dict)
    workers = {
        name: service
        for name, service in services.items()
        if "worker" in service.get("command", [])
    }
    assert set(workers) == set(WORKERS)
    queues = {name: _queues(service["command"]) for name, service in workers.items()}
    assert queues["worker-send"] == ["urgent", "bulk"]
    assert queues["worker-default"] == ["default"]
    assert {q for qs in queues.values() for q in qs} == set(QUEUES)
    for name, service in workers.items():
        node = "-".join(queues[name])  # `newsletter worker` names its node after its queues
        assert f"-d {node}@$$HOSTNAME" in " ".join(service["healthcheck"]["test"]), name


def test_migrations_run_before_web_and_redis_keeps_queued_work() -> None:
    """web waits for the migrate job; Redis persists (AOF) and never evicts queued tasks."""
    services = compose()["services"]
    assert isinstance(services, dict)
    web_deps = services["web"]["depends_on"]
    assert web_deps["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["command"] == ["newsletter", "db", "upgrade"]
    redis_cmd = " ".join(services["redis"]["command"])
    assert "--appendonly yes" in redis_cmd
    assert "--maxmemory-policy noeviction" in redis_cmd
    for name in ("web", *WORKERS, "beat"):
        assert services[name]["image"] == services["web"]["image"]


def _compose_cli() -> list[str] | None:
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run(
            [docker, "compose", "version"], capture_output=True, check=False
        ).returncode
        == 0
    ):
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


def test_docker_compose_config_validates() -> None:
    """`docker compose config` accepts the file (needs only the client, not an engine)."""
    cli = _compose_cli()
    if cli is None:
        pytest.skip("no docker compose client on this machine")
    result = subprocess.run(
        [*cli, "-f", str(ROOT / "docker-compose.yml"), "config", "--quiet"],
        capture_output=True, text=True, check=False, cwd=ROOT,
        env={"PATH": "/usr/bin:/bin:/usr/local/bin", "NEWSLETTER_SECRET_KEY": "x" * 48},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
