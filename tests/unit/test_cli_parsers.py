"""The CLI without a daemon: its command table, argument parsing, the flags'
own rules (-e, -u, -w, --format, sizes, signals), the specs it asks the
library for, and the exit code of usage errors."""

from __future__ import annotations

import ast
import logging
from pathlib import Path
from typing import Any, Iterator

import pytest

from pylibctrd.cli import _spec, main, parser
from pylibctrd.spec import DEFAULT_PATH
from pylibctrd.cli._common import EXIT_CLI, CLIError
from pylibctrd.cli.commands import COMMANDS

COMMANDS_DIR = Path(__file__).parents[2] / "pylibctrd" / "cli" / "commands"


def parse(*argv: str) -> Any:
    return parser().parse_args(argv)


@pytest.fixture(autouse=True)
def _keep_logging() -> Iterator[None]:
    """main() sets the level of pylibctrd's logger, as a process would."""
    logger = logging.getLogger("pylibctrd")
    level = logger.level
    yield
    logger.setLevel(level)


def test_every_command_of_the_table_and_only_those() -> None:
    sub = next(a for a in parser()._actions if a.dest == "command")
    choices: dict[str, Any] = sub.choices  # type: ignore[assignment]
    aliases = {a for info in COMMANDS.values() for a in info.aliases}
    assert set(choices) == set(COMMANDS) | aliases
    for name, info in COMMANDS.items():
        p = choices[name]
        assert callable(p.get_default("func")), name
        assert "example" in p.format_help(), name
        assert p.description, name
    assert choices["unpause"] is choices["resume"]


def test_no_command_module_imports_another() -> None:
    topics = {p.stem for p in COMMANDS_DIR.glob("*.py") if p.stem != "__init__"}
    assert topics == {info.topic.__name__.rsplit(".", 1)[1] for info in COMMANDS.values()}
    for path in COMMANDS_DIR.glob("*.py"):
        if path.stem == "__init__":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                raise AssertionError(f"{path.name} imports a sibling: from .{node.module or ''}")
            if isinstance(node, ast.ImportFrom) and node.module:
                assert "cli.commands" not in node.module, path.name


def test_run_flags_then_the_image_and_its_command_verbatim() -> None:
    o = parse("run", "--rm", "-it", "-e", "A=1", "-e", "B", "-u", "1:2", "-w", "/tmp",
              "--name", "web", "-m", "64m", "--cpus", "0.5", "--pids-limit", "7",
              "busybox", "ls", "-l", "--rm")
    assert (o.command, o.rm, o.interactive, o.tty, o.detach) == ("run", True, True, True, False)
    assert (o.env, o.user, o.workdir, o.name) == (["A=1", "B"], "1:2", "/tmp", "web")
    assert (o.memory, o.cpus, o.pids_limit, o.rootfs) == ("64m", 0.5, 7, None)
    assert o.args == ["busybox", "ls", "-l", "--rm"]  # after IMAGE: the command's
    assert o.cgroup_parent == "/pylibctrd"
    o = parse("run", "--rootfs", "/srv/r", "sh")
    assert (o.rootfs, o.args, o.env) == ("/srv/r", ["sh"], [])


def test_exec_and_the_other_commands() -> None:
    o = parse("exec", "-d", "-e", "X=1", "web", "sh", "-c", "exit 3")
    assert (o.id, o.args, o.detach, o.env) == ("web", ["sh", "-c", "exit 3"], True, ["X=1"])
    assert parse("ps").format == "table"
    assert parse("ps", "-a", "--json").format == "json"
    assert parse("ps", "-q", "--format", "json").format == "json"
    assert parse("rm", "-f", "a", "b").ids == ["a", "b"]
    assert parse("kill", "-s", "TERM", "a").signal == "TERM"
    assert parse("unpause", "a").func is parse("resume", "a").func
    assert parse("events", "--filter", "type=exit", "--filter", "container=a").filter == [
        "type=exit", "container=a"]
    assert parse("inspect", "--type", "image", "x").type == "image"
    assert parse("--namespace", "ns", "--timeout", "5", "version").timeout == 5.0


@pytest.mark.parametrize("argv", [
    ["run", "--bogus"], ["ps", "--format", "yaml"], ["rm"], ["frobnicate"], [],
    ["inspect", "--type", "volume", "x"],
])
def test_bad_usage_is_125(argv: list[str]) -> None:
    with pytest.raises(CLIError) as e:
        parser().parse_args(argv)
    assert e.value.code == EXIT_CLI


@pytest.mark.parametrize("argv, text", [
    (["run", "--bogus"], "unrecognized arguments"),
    (["exec", "web"], "exec needs a command"),
    (["run", "-d", "--rm", "--rootfs", "/", "true"], "--rm with -d"),
    (["run", "-d", "-i", "--rootfs", "/", "true"], "-d and -i together"),
    (["run", "--rootfs", "/", "-w", "tmp", "true"], "needs to be an absolute path"),
    (["run", "--rootfs", "/", "-e", "=x", "true"], "invalid environment variable"),
    (["run", "--rootfs", "/", "-m", "lots", "true"], "invalid size"),
    (["run"], "run needs an IMAGE or --rootfs DIR"),
    (["run", "--rootfs", "/"], "no command given"),
    (["kill", "-s", "NOPE", "web"], "invalid signal"),
    (["events", "--filter", "color=red"], "invalid filter"),
    (["events", "--filter", "type=nope"], "unknown event type"),
    # docker run's health flags: the docker CLI's messages (pflag's, then its own).
    (["run", "--rootfs", "/", "--health-interval", "5", "true"],
     'invalid argument "5" for "--health-interval" flag: time: missing unit in duration "5"'),
    (["run", "--rootfs", "/", "--health-timeout=soon", "true"],
     'invalid argument "soon" for "--health-timeout" flag: time: invalid duration "soon"'),
    (["run", "--rootfs", "/", "--health-retries", "x", "true"],
     'invalid argument "x" for "--health-retries" flag: strconv.ParseInt: parsing "x": invalid'
     ' syntax'),
    (["run", "--rootfs", "/", "--health-start-period=-1s", "true"],
     "--health-start-period cannot be negative"),
    (["run", "--rootfs", "/", "--no-healthcheck", "--health-cmd", "true", "true"],
     "--no-healthcheck conflicts with --health-* options"),
    (["run", "--rootfs", "/", "--health-interval=100us", "--health-cmd=true", "true"],
     "Interval in Healthcheck cannot be less than 1ms"),
])
def test_usage_errors_found_before_any_daemon_exit_125(argv: list[str], text: str,
                                                       capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYLIBCTRD_ADDRESS", "/nonexistent.sock")
    assert main(argv) == EXIT_CLI
    err = capsys.readouterr().err
    assert err.splitlines()[-1].startswith("pylibctrd: Error: ") and text in err


def test_parse_env_is_the_docker_clis_validate_env() -> None:
    environ = {"HOME": "/root", "EMPTY": ""}
    assert _spec.parse_env(["A=1", "HOME", "EMPTY", "UNSET", "B="], environ) == [
        "A=1", "HOME=/root", "EMPTY=", "UNSET", "B="]
    with pytest.raises(CLIError, match="invalid environment variable") as e:
        _spec.parse_env(["=1"], environ)
    assert e.value.code == EXIT_CLI


def test_sizes_and_signals() -> None:
    assert _spec.parse_size("64m") == 64 << 20
    assert _spec.parse_size("1g") == 1 << 30
    assert _spec.parse_size("512K") == 512 << 10
    assert _spec.parse_size("100") == 100
    assert [_spec.parse_signal(s) for s in ("KILL", "sigterm", "hup", "9")] == [9, 15, 1, 9]


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/passwd").write_text("root:x:0:0::/root:/bin/sh\nweb:x:33:33::/:/bin/sh\n")
    (tmp_path / "etc/group").write_text("root:x:0:\nweb:x:33:\nlogs:x:4:web\n")
    return tmp_path


def test_run_spec_from_a_rootfs(rootfs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FROM_HERE", "yes")
    spec = _spec.run_spec("web", str(rootfs), ["sh"], env=["A=1", "FROM_HERE", "PATH=/x"],
                          user="web", workdir=None, tty=True, console=(24, 80),
                          cgroup_parent="/p/", memory=1 << 20, cpus=0.5, pids_limit=9)
    p = spec["process"]
    assert p["env"] == ["PATH=/x", "TERM=xterm", "A=1", "FROM_HERE=yes"]
    assert p["user"] == {"uid": 33, "gid": 33, "additionalGids": [33, 4]}  # the gids kept
    assert (p["cwd"], p["args"], p["terminal"]) == ("/", ["sh"], True)
    assert p["consoleSize"] == {"height": 24, "width": 80}
    assert spec["hostname"] == "web" and spec["linux"]["cgroupsPath"] == "/p/web"
    assert spec["linux"]["resources"]["memory"] == {"limit": 1 << 20}
    assert spec["linux"]["resources"]["cpu"] == {"period": 100000, "quota": 50000}
    assert spec["linux"]["resources"]["pids"] == {"limit": 9}
    # Without -u: root, resolved as dockerd resolves every container's user.
    spec = _spec.run_spec("web", str(rootfs), ["sh"], env=[], user=None, workdir="/tmp",
                          tty=False, console=None, cgroup_parent="/p")
    assert spec["process"]["user"] == {"uid": 0, "gid": 0, "additionalGids": [0]}
    assert spec["process"]["cwd"] == "/tmp" and "consoleSize" not in spec["process"]


def test_run_spec_maps_the_librarys_errors_to_125(rootfs: Path) -> None:
    with pytest.raises(CLIError, match="^unable to find user nobody: no matching") as e:
        _spec.run_spec("web", str(rootfs), ["sh"], env=[], user="nobody", workdir=None,
                       tty=False, console=None, cgroup_parent="/p")
    assert e.value.code == EXIT_CLI


def test_exec_spec_from_the_containers_spec(rootfs: Path) -> None:
    spec = _spec.run_spec("web", str(rootfs), ["sleep", "60"], env=["A=1", "B=2"], user="1:2",
                          workdir="/srv", tty=True, console=(24, 80), cgroup_parent="/p")
    spec["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "hard": 64, "soft": 64}]
    p = _spec.exec_spec(spec, "/unused", ["ps"], env=["B", "C=3"], user=None, workdir=None,
                        tty=False, console=None)
    assert p["args"] == ["ps"] and p["terminal"] is False and "consoleSize" not in p
    assert p["env"] == [e for e in spec["process"]["env"] if e != "B=2"] + ["C=3"]
    assert p["user"] == spec["process"]["user"] and p["cwd"] == "/srv"
    assert p["rlimits"] == spec["process"]["rlimits"]  # the container's process, as Moby
    p = _spec.exec_spec(spec, "/unused", ["sh"], env=[], user="web", workdir="/",
                        tty=True, console=(30, 100))
    assert p["user"] == {"uid": 33, "gid": 33, "additionalGids": [33, 4]}
    assert p["cwd"] == "/" and p["consoleSize"] == {"height": 30, "width": 100}
    assert spec["process"]["args"] == ["sleep", "60"]  # not changed


def test_exec_spec_relative_root_and_no_spec(rootfs: Path) -> None:
    # A container made elsewhere (ctr): its root is relative to the bundle dir.
    spec = {"root": {"path": rootfs.name}, "process": {"args": ["x"], "env": ["A=1"]}}
    p = _spec.exec_spec(spec, str(rootfs.parent), ["id"], env=[], user="web", workdir=None,
                        tty=True, console=None)
    assert p["user"]["uid"] == 33
    assert p["env"] == [DEFAULT_PATH, "TERM=xterm", "A=1"] and p["cwd"] == "/"
    p = _spec.exec_spec(None, "/unused", ["id"], env=[], user=None, workdir=None, tty=False,
                        console=None)
    assert p["env"] == [DEFAULT_PATH] and p["args"] == ["id"]
    with pytest.raises(CLIError, match="absolute path"):
        _spec.exec_spec(spec, "/", ["id"], env=[], user=None, workdir="rel", tty=False,
                        console=None)


def test_dockerds_registry_flags_become_the_daemon_json_keys() -> None:
    from pylibctrd.cli._common import registry_options
    o = parser().parse_args(["--insecure-registry", "10.0.0.5:5000", "--insecure-registry",
                             "192.168.0.0/16", "--registry-mirror", "https://m.example",
                             "pull", "x:1"])
    assert registry_options(o) == {"insecure-registries": ["10.0.0.5:5000", "192.168.0.0/16"],
                                   "registry-mirrors": ["https://m.example"]}
    assert registry_options(parser().parse_args(["pull", "x:1"])) is None
