"""The deployment files (`deploy/`) against the code they run: the build machines have no
container registry and no systemd, so the files are read, not started — every command they run
is one the CLI accepts, every setting they set is one xiaoer reads, every file the image copies
exists, and the systemd units write only where they are allowed to."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from xiaoer.cli import app
from xiaoer.config import Settings

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
SETTINGS = {f"XIAOER_{name.upper()}" for name in Settings.model_fields}


def parse(argv: list[str]) -> str:
    """The command line read by the CLI up to its help, without running it: the subcommand it
    names; AssertionError with the CLI's message for an unknown command or option."""
    assert Path(argv[0]).name == "xiaoer", argv
    result = CliRunner().invoke(app, [*argv[1:], "--help"], prog_name="xiaoer")
    assert result.exit_code == 0, result.output
    assert f"xiaoer {argv[1]}" in result.output
    return argv[1]


def test_parse_refuses_what_the_cli_refuses() -> None:
    assert parse(["xiaoer", "serve", "--port", "8000", "--workers", "2"]) == "serve"
    with pytest.raises(AssertionError, match="No such option"):
        parse(["xiaoer", "serve", "--wokers", "2"])
    with pytest.raises(AssertionError, match="No such command"):
        parse(["xiaoer", "serv"])


def test_compose_runs_real_commands_with_real_settings() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert {"api", "worker", "postgres", "redis", "llm"} <= set(services)
    ran = {parse(services[name]["command"]) for name in ("api", "worker")}
    assert ran == {"serve", "worker"}
    environment = compose["x-xiaoer"]["environment"]
    unknown = {k for k in environment if k.startswith("XIAOER_")} - SETTINGS
    assert not unknown, f"compose sets settings xiaoer does not read: {unknown}"
    assert environment["XIAOER_QUEUE"] == "redis" and "XIAOER_REDIS_URL" in environment
    example = (DEPLOY / ".env.example").read_text(encoding="utf-8")
    named = set(re.findall(r"^(XIAOER_\w+)=", example, re.MULTILINE))
    assert named and not named - SETTINGS, named - SETTINGS
    volume = compose["x-xiaoer"]["volumes"][0].split(":")[1]
    assert environment["XIAOER_HOME"] == volume  # the data (and saved indexes) are kept


def test_the_image_copies_files_that_exist_and_runs_a_real_command() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    root = DEPLOY.parent
    for line in re.findall(r"^COPY (.+)$", dockerfile, re.MULTILINE):
        *sources, _ = line.split()
        for source in sources:
            assert (root / source).exists(), source
    (cmd,) = re.findall(r"^CMD (\[.+\])$", dockerfile, re.MULTILINE)
    assert parse(yaml.safe_load(cmd)) == "serve"


@pytest.mark.parametrize("unit", ["xiaoer-api.service", "xiaoer-worker@.service"])
def test_systemd_units_run_real_commands_and_write_where_allowed(unit: str) -> None:
    text = (DEPLOY / "systemd" / unit).read_text(encoding="utf-8")
    (exec_start,) = re.findall(r"^ExecStart=(.+)$", text, re.MULTILINE)
    parse(shlex.split(exec_start))
    # ProtectSystem=strict leaves only ReadWritePaths writable: xiaoer's home must be there
    (writable,) = re.findall(r"^ReadWritePaths=(.+)$", text, re.MULTILINE)
    paths = dict(re.findall(r"^Environment=(XIAOER_\w+)=(.+)$", text, re.MULTILINE))
    assert "ProtectSystem=strict" in text and paths["XIAOER_HOME"] == writable
    assert paths["XIAOER_EMBEDDING_CACHE"].startswith(writable + "/")  # not under ~/.cache
    assert set(paths) <= SETTINGS
