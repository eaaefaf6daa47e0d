"""The deployment kit (deploy/): systemd units that systemd accepts, a container recipe hadolint passes, a
compose file whose services run real segport commands. No container engine runs on these machines, so the
recipe is linted and its commands are checked against segport's own parser, not built."""

from __future__ import annotations

import configparser
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
SEGPORT = Path(sys.executable).with_name("segport")


def parses(args: list[str]) -> None:
    """`segport ARGS --help` succeeds: every option the recipe passes exists (click refuses an unknown one
    before it prints the help)."""
    assert args[0] in ("segport", "/opt/segport/bin/segport"), args
    done = subprocess.run(
        [sys.executable, "-m", "segport", *args[1:], "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, f"{shlex.join(args)}: {done.stderr}"


def unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(path.read_text(encoding="utf-8"))
    return parser


def test_there_are_units_for_the_web_ui_workers_and_the_scheduler() -> None:
    assert {path.name for path in UNITS} == {
        "segport-web.service",
        "segport-worker@.service",
        "segport-scheduler.service",
    }


@pytest.mark.parametrize("path", UNITS, ids=lambda path: path.name)
def test_each_unit_runs_a_real_command_as_its_own_user_with_the_settings_file(path: Path) -> None:
    service = unit(path)["Service"]
    parses(shlex.split(service["ExecStart"]))
    assert service["User"] == "segport" and service["NoNewPrivileges"] == "yes"
    assert service["Environment"] == "SEGPORT_CONFIG=/etc/segport/segport.toml"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed here")
def test_systemd_accepts_every_unit(tmp_path: Path) -> None:
    # The units name the production install's paths; here they point at this checkout's segport, and the
    # secrets file is optional (the "-" prefix), so systemd checks everything else as it would there.
    for path in UNITS:
        text = path.read_text(encoding="utf-8").replace("/opt/segport/bin/segport", str(SEGPORT))
        text = text.replace("EnvironmentFile=/", "EnvironmentFile=-/")
        name = path.name.replace("@.", "@1.")
        (tmp_path / name).write_text(text, encoding="utf-8")
    done = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *sorted(str(item) for item in tmp_path.iterdir())],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and done.stderr.strip() == "", done.stderr  # unknown keys only warn: none allowed


def test_hadolint_passes_the_container_recipe() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    done = subprocess.run([hadolint, str(DEPLOY / "Dockerfile")], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_container_runs_segport_as_an_unprivileged_user() -> None:
    lines = [line.strip() for line in (DEPLOY / "Dockerfile").read_text(encoding="utf-8").splitlines()]
    command = [line for line in lines if line.startswith("CMD ")][-1]  # the last: the first is the health check's
    parses(yaml.safe_load(command.removeprefix("CMD ")))
    assert "USER 10001:10001" in lines and any(line.startswith("HEALTHCHECK") for line in lines)


def test_the_compose_file_runs_the_web_ui_workers_and_a_scheduler_on_postgresql() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert set(services) == {"db", "web", "worker", "scheduler"}
    for name in ("web", "worker", "scheduler"):
        service = services[name]
        parses(service["command"])
        assert service["environment"]["SEGPORT_DATABASE_URL"].startswith("postgresql://")
        assert service["depends_on"]["db"]["condition"] == "service_healthy"
        assert service["env_file"] == "segport.env"  # the secret key, shared by all, comes from there
    assert services["worker"]["deploy"]["replicas"] >= 2
    assert (DEPLOY / "segport.env.example").read_text(encoding="utf-8").count("SEGPORT_SECRET_KEY=") == 1
