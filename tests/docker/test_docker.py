"""The `docker` CLI adapter's exact command lines and errors, and both Docker managers.

No Docker engine exists on the test machines: the adapter's documented `runner` seam gets a
recording runner that stands in for `subprocess.run`. The real runner is exercised against
executables that cannot run. Records and ports live in the real test Redis.
"""

from __future__ import annotations

import asyncio
import subprocess
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis

from src.docker.async_manager import AsyncDockerManager
from src.docker.cli import DockerCli
from src.docker.errors import DockerCliError, DockerNotFoundError, DockerServiceNotFoundError
from src.docker.manager import DockerManager
from src.ports.async_manager import AsyncPortManager
from src.ports.manager import PortManager
from src.storage import (
    DockerDesiredState,
    DockerService,
    DockerServiceExistsError,
    InvalidKeyError,
    NoFreePortError,
    PortMapping,
    UnifiedStorage,
)
from tests.redis_topologies import namespace_keys

Call = Callable[..., Any]

SECRET = "pa55-w0rd-e1c9"
IMAGE = "ghcr.io/example/web:1.4"
START, END = 31000, 31009
ENVIRONMENT = {"MODE": "production", "DB_PASSWORD": SECRET}
LABELS = {"com.example.team": "gateway", "app": "web"}
RUN_WEB = [
    "docker",
    "run",
    "-d",
    "--name",
    "web",
    "-p",
    "127.0.0.1:31000:8080",
    "-p",
    "127.0.0.1:31001:9090",
    "-e",
    f"DB_PASSWORD={SECRET}",
    "-e",
    "MODE=production",
    "--label",
    "app=web",
    "--label",
    "com.example.team=gateway",
    IMAGE,
]
HOSTILE_NAMES = ["", "a", "-rm", "--privileged", "web;id", "$(id)", "a b", "web\n", "x" * 129]


@dataclass
class Recorded:
    """One command the runner was asked to run."""

    args: list[str]
    options: dict[str, Any]
    thread: int


@dataclass
class RecordingRunner:
    """Records each command and answers with the next scripted reply (success without
    output when none is scripted), or raises the scripted exception."""

    calls: list[Recorded] = field(default_factory=list)
    replies: list[subprocess.CompletedProcess[str] | BaseException] = field(default_factory=list)

    def reply(self, returncode: int = 0, stdout: str = "", stderr: str = "") -> None:
        """Script the reply to the next unanswered command."""
        self.replies.append(subprocess.CompletedProcess([], returncode, stdout, stderr))

    def fail_with(self, error: BaseException) -> None:
        """Script the next unanswered command to raise `error`."""
        self.replies.append(error)

    @property
    def commands(self) -> list[list[str]]:
        return [call.args for call in self.calls]

    def __call__(self, args: list[str], **options: Any) -> subprocess.CompletedProcess[str]:
        self.calls.append(Recorded(list(args), options, threading.get_ident()))
        reply = self.replies.pop(0) if self.replies else subprocess.CompletedProcess([], 0, "", "")
        if isinstance(reply, BaseException):
            raise reply
        return subprocess.CompletedProcess(args, reply.returncode, reply.stdout, reply.stderr)


@pytest.fixture
def runner() -> RecordingRunner:
    return RecordingRunner()


@pytest.fixture
def cli(runner: RecordingRunner) -> DockerCli:
    return DockerCli(runner=runner, timeout=30)


def web_service(**fields: Any) -> DockerService:
    values: dict[str, Any] = {
        "image": IMAGE,
        "ports": [
            PortMapping(host_port=31000, container_port=8080),
            PortMapping(host_port=31001, container_port=9090),
        ],
        "environment": ENVIRONMENT,
        "labels": LABELS,
        **fields,
    }
    return DockerService(name="web", **values)


def snapshot(raw: redis.Redis, namespace: str) -> dict[bytes, object]:
    """Every key of the namespace with its value, to prove that nothing was written."""
    return {key: raw.dump(key) for key in namespace_keys(raw, namespace)}


# The command-line adapter


def test_run_command_line(cli: DockerCli, runner: RecordingRunner) -> None:
    runner.reply(stdout="4f1c0ffee\n")
    assert cli.run(web_service()) == "4f1c0ffee"
    assert runner.commands == [RUN_WEB]
    assert runner.calls[0].options == {
        "capture_output": True,
        "text": True,
        "timeout": 30,
        "check": False,
    }


def test_minimal_run_command_line(cli: DockerCli, runner: RecordingRunner) -> None:
    cli.run(DockerService(name="db", image="postgres:16"))
    assert runner.commands == [["docker", "run", "-d", "--name", "db", "postgres:16"]]


def test_stop_remove_and_inspect_command_lines(cli: DockerCli, runner: RecordingRunner) -> None:
    runner.reply()
    runner.reply()
    runner.reply(stdout='[{"Id": "4f1c", "State": {"Status": "running"}}]\n')
    cli.stop("web")
    cli.remove("web")
    assert cli.inspect("web") == {"Id": "4f1c", "State": {"Status": "running"}}
    assert runner.commands == [
        ["docker", "stop", "web"],
        ["docker", "rm", "-f", "web"],
        ["docker", "inspect", "--type", "container", "web"],
    ]


def test_the_executable_is_configurable(runner: RecordingRunner) -> None:
    DockerCli("/opt/docker/bin/docker", runner=runner).stop("web")
    assert runner.commands == [["/opt/docker/bin/docker", "stop", "web"]]
    assert runner.calls[0].options["timeout"] == 120.0


@pytest.mark.parametrize(("executable", "timeout"), [("", 10.0), ("docker", 0), ("docker", -1)])
def test_bad_adapter_settings(executable: str, timeout: float) -> None:
    with pytest.raises(ValueError, match=r"executable|timeout"):
        DockerCli(executable, timeout=timeout)


def test_a_failed_command_names_the_container_and_hides_secrets(
    cli: DockerCli, runner: RecordingRunner
) -> None:
    runner.reply(125, stderr=f"docker: bad value {SECRET}: port is already allocated.\n")
    with pytest.raises(DockerCliError) as caught:
        cli.run(web_service())
    error = caught.value
    assert str(error) == (
        "`docker run` for container 'web' failed with exit status 125: "
        "docker: bad value ***: port is already allocated."
    )
    assert (error.command, error.container, error.returncode) == ("run", "web", 125)


def test_failure_without_output_and_long_output(cli: DockerCli, runner: RecordingRunner) -> None:
    runner.reply(1)
    with pytest.raises(DockerCliError) as caught:
        cli.stop("web")
    assert str(caught.value) == (
        "`docker stop` for container 'web' failed with exit status 1: (no error output)"
    )
    runner.reply(1, stderr="x" * 1000 + "END")
    with pytest.raises(DockerCliError) as caught:
        cli.stop("web")
    assert str(caught.value).endswith(": " + "x" * 497 + "END")


def test_timeout_is_a_clear_error_without_the_command_line(
    cli: DockerCli, runner: RecordingRunner
) -> None:
    runner.fail_with(subprocess.TimeoutExpired(RUN_WEB, 30))
    with pytest.raises(DockerCliError) as caught:
        cli.run(web_service())
    assert str(caught.value) == (
        "`docker run` for container 'web' did not finish within 30 s and was killed"
    )
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert caught.value.returncode is None


def test_missing_executable_through_the_runner(cli: DockerCli, runner: RecordingRunner) -> None:
    runner.fail_with(FileNotFoundError(2, "No such file or directory", "docker"))
    with pytest.raises(DockerNotFoundError, match="'docker' was not found"):
        cli.remove("web")


def test_missing_executable_with_the_real_runner(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-docker"
    with pytest.raises(DockerNotFoundError) as caught:
        DockerCli(str(missing), timeout=10).stop("web")
    assert str(caught.value) == (
        f"cannot run `docker stop` for container 'web': the executable {str(missing)!r} "
        "was not found (is the Docker CLI installed?)"
    )


def test_unrunnable_executable_with_the_real_runner(tmp_path: Path) -> None:
    not_executable = tmp_path / "docker"
    not_executable.write_text("#!/bin/sh\nexit 0\n")
    not_executable.chmod(0o600)
    with pytest.raises(DockerCliError, match="Permission denied") as caught:
        DockerCli(str(not_executable), timeout=10).remove("web")
    assert not isinstance(caught.value, DockerNotFoundError)


def test_a_failing_executable_with_the_real_runner(tmp_path: Path) -> None:
    fake = tmp_path / "docker"
    fake.write_text('#!/bin/sh\necho "Cannot connect to the Docker daemon" >&2\nexit 1\n')
    fake.chmod(0o700)
    with pytest.raises(DockerCliError) as caught:
        DockerCli(str(fake), timeout=10).stop("web")
    assert str(caught.value) == (
        "`docker stop` for container 'web' failed with exit status 1: "
        "Cannot connect to the Docker daemon"
    )


@pytest.mark.parametrize(
    "output", ["not json", "[]", "[1]", '{"Id": "x"}', '[{"Id": "a"}, {"Id": "b"}]']
)
def test_unexpected_inspect_output(cli: DockerCli, runner: RecordingRunner, output: str) -> None:
    runner.reply(stdout=output)
    with pytest.raises(DockerCliError, match="other than one container's report"):
        cli.inspect("web")


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_names_never_reach_docker(
    cli: DockerCli, runner: RecordingRunner, name: str
) -> None:
    for command in (cli.stop, cli.remove, cli.inspect):
        with pytest.raises(InvalidKeyError, match="invalid service name"):
            command(name)
    unvalidated = DockerService.model_construct(name=name, image=IMAGE)
    with pytest.raises(InvalidKeyError, match="invalid service name"):
        cli.run(unvalidated)
    assert runner.calls == []


@pytest.mark.parametrize("image", ["--privileged", "-v", "nginx --rm", "Nginx", ""])
def test_hostile_images_never_reach_docker(
    cli: DockerCli, runner: RecordingRunner, image: str
) -> None:
    with pytest.raises(InvalidKeyError, match="invalid Docker image"):
        cli.run(DockerService.model_construct(name="web", image=image))
    assert runner.calls == []


# The managers, blocking and async


@pytest.fixture(params=["sync", "async"])
def manage(request: pytest.FixtureRequest, storage: UnifiedStorage, cli: DockerCli) -> Call:
    """`manage("start_service", "web")` runs it on a `DockerManager`, or awaits it on an
    `AsyncDockerManager` on a fresh loop."""
    if request.param == "sync":
        manager = DockerManager(storage, PortManager(storage, START, END), cli)
        return lambda method, *args, **kwargs: getattr(manager, method)(*args, **kwargs)
    async_manager = AsyncDockerManager(storage, AsyncPortManager(storage, START, END), cli)
    return lambda method, *args, **kwargs: asyncio.run(
        getattr(async_manager, method)(*args, **kwargs)
    )


def create_web(manage: Call) -> DockerService:
    service: DockerService = manage(
        "create_service",
        "web",
        IMAGE,
        container_ports=[8080, 9090],
        environment=ENVIRONMENT,
        labels=LABELS,
    )
    return service


def test_create_records_the_service_and_its_ports(
    manage: Call, storage: UnifiedStorage, runner: RecordingRunner
) -> None:
    service = create_web(manage)
    assert service.ports == [
        PortMapping(host_port=31000, container_port=8080),
        PortMapping(host_port=31001, container_port=9090),
    ]
    assert service.desired_state is DockerDesiredState.STOPPED
    assert service.environment["DB_PASSWORD"].get_secret_value() == SECRET
    assert storage.get_docker_service("web") == service
    assert manage("get_service", "web") == service
    assert storage.list_ports("web") == [31000, 31001]
    assert runner.calls == []
    manage("create_service", "db", "postgres:16")
    assert [s.name for s in manage("list_services")] == ["db", "web"]
    assert manage("get_service", "missing") is None


def test_start_records_then_recreates_the_container(
    manage: Call, storage: UnifiedStorage, runner: RecordingRunner
) -> None:
    create_web(manage)
    started = manage("start_service", "web")
    assert started.desired_state is DockerDesiredState.RUNNING
    assert started.last_error is None
    assert storage.get_docker_service("web") == started
    assert runner.commands == [["docker", "rm", "-f", "web"], RUN_WEB]


def test_stop(manage: Call, storage: UnifiedStorage, runner: RecordingRunner) -> None:
    create_web(manage)
    manage("start_service", "web")
    stopped = manage("stop_service", "web")
    assert stopped.desired_state is DockerDesiredState.STOPPED
    assert storage.get_docker_service("web") == stopped
    assert runner.commands[-1] == ["docker", "stop", "web"]


def test_delete_removes_container_record_and_ports(
    manage: Call, storage: UnifiedStorage, runner: RecordingRunner
) -> None:
    create_web(manage)
    assert manage("delete_service", "web") is True
    assert runner.commands == [["docker", "rm", "-f", "web"]]
    assert storage.get_docker_service("web") is None
    assert storage.list_ports("web") == []
    assert storage.get_port_owner(31000) is None
    assert manage("delete_service", "web") is False
    assert len(runner.calls) == 1


def test_inspect(manage: Call, runner: RecordingRunner) -> None:
    create_web(manage)
    runner.reply(stdout='[{"State": {"Status": "exited", "ExitCode": 3}}]')
    assert manage("inspect_service", "web") == {"State": {"Status": "exited", "ExitCode": 3}}
    assert runner.commands == [["docker", "inspect", "--type", "container", "web"]]


@pytest.mark.parametrize("method", ["start_service", "stop_service", "inspect_service"])
def test_unknown_services(
    manage: Call, runner: RecordingRunner, raw: redis.Redis, namespace: str, method: str
) -> None:
    create_web(manage)
    before = snapshot(raw, namespace)
    with pytest.raises(DockerServiceNotFoundError, match="no Docker service named 'ghost'"):
        manage(method, "ghost")
    assert runner.calls == []
    assert snapshot(raw, namespace) == before


def test_failed_start_keeps_the_desired_state_with_the_error(
    manage: Call, storage: UnifiedStorage, runner: RecordingRunner
) -> None:
    create_web(manage)
    runner.reply()
    runner.reply(125, stderr=f"Bind for 127.0.0.1:31000 failed: {SECRET} port is taken")
    with pytest.raises(DockerCliError, match="container 'web' failed") as caught:
        manage("start_service", "web")
    recorded = storage.get_docker_service("web")
    assert recorded is not None
    assert recorded.desired_state is DockerDesiredState.RUNNING
    assert recorded.last_error == str(caught.value)
    assert recorded.last_error == (
        "`docker run` for container 'web' failed with exit status 125: "
        "Bind for 127.0.0.1:31000 failed: *** port is taken"
    )
    assert storage.list_ports("web") == [31000, 31001]

    retried = manage("start_service", "web")
    assert retried.last_error is None
    assert storage.get_docker_service("web") == retried


def test_failed_stop_keeps_the_desired_state_with_the_error(
    manage: Call, storage: UnifiedStorage, runner: RecordingRunner
) -> None:
    create_web(manage)
    manage("start_service", "web")
    runner.reply(1, stderr="Error response from daemon: No such container: web")
    with pytest.raises(DockerCliError, match="`docker stop` for container 'web'"):
        manage("stop_service", "web")
    recorded = storage.get_docker_service("web")
    assert recorded is not None
    assert recorded.desired_state is DockerDesiredState.STOPPED
    assert recorded.last_error == (
        "`docker stop` for container 'web' failed with exit status 1: "
        "Error response from daemon: No such container: web"
    )


def test_failed_delete_keeps_record_and_ports(
    manage: Call, storage: UnifiedStorage, runner: RecordingRunner
) -> None:
    create_web(manage)
    runner.fail_with(FileNotFoundError(2, "No such file or directory", "docker"))
    with pytest.raises(DockerNotFoundError, match="for container 'web'"):
        manage("delete_service", "web")
    recorded = storage.get_docker_service("web")
    assert recorded is not None
    assert recorded.desired_state is DockerDesiredState.STOPPED
    assert recorded.last_error is not None and "was not found" in recorded.last_error
    assert storage.list_ports("web") == [31000, 31001]
    assert manage("delete_service", "web") is True
    assert storage.get_docker_service("web") is None


@pytest.mark.parametrize(
    ("name", "image", "arguments", "problem"),
    [
        ("-rm", IMAGE, {}, "invalid service name"),
        ("web", "--privileged", {}, "invalid Docker image"),
        ("web", IMAGE, {"container_ports": [0]}, "invalid container port"),
        ("web", IMAGE, {"container_ports": [True]}, "invalid container port"),
        ("web", IMAGE, {"container_ports": [80, 80]}, "listed twice"),
        ("web", IMAGE, {"environment": {"A=B": SECRET}}, "environment variable name"),
        ("web", IMAGE, {"labels": {"--label": "x"}}, "invalid label key"),
    ],
)
def test_bad_creations_change_nothing(
    manage: Call,
    storage: UnifiedStorage,
    runner: RecordingRunner,
    raw: redis.Redis,
    namespace: str,
    name: str,
    image: str,
    arguments: dict[str, Any],
    problem: str,
) -> None:
    storage.initialize()
    before = snapshot(raw, namespace)
    with pytest.raises(ValueError, match=problem) as caught:
        manage("create_service", name, image, **arguments)
    assert SECRET not in str(caught.value)
    assert snapshot(raw, namespace) == before
    assert runner.calls == []


def test_an_existing_name_is_refused(
    manage: Call, storage: UnifiedStorage, raw: redis.Redis, namespace: str
) -> None:
    create_web(manage)
    before = snapshot(raw, namespace)
    with pytest.raises(DockerServiceExistsError, match="'web' exists already"):
        manage("create_service", "web", "nginx:1.27", container_ports=[80])
    assert snapshot(raw, namespace) == before


def test_exhausted_ports_release_what_was_allocated(manage: Call, storage: UnifiedStorage) -> None:
    for i in range(8):
        storage.allocate_port(f"squatter-{i}", START, END)
    with pytest.raises(NoFreePortError):
        manage("create_service", "web", IMAGE, container_ports=[80, 81, 82])
    assert storage.get_docker_service("web") is None
    assert storage.list_ports("web") == []
    assert storage.get_port_owner(END - 1) is None
    assert storage.get_port_owner(END) is None


def test_concurrent_creations_of_one_name(storage: UnifiedStorage, cli: DockerCli) -> None:
    manager = DockerManager(storage, PortManager(storage, START, END), cli)
    storage.initialize()
    start = threading.Barrier(4)

    def create(i: int) -> DockerService | None:
        start.wait()
        try:
            return manager.create_service("web", f"nginx:{i}", container_ports=[80])
        except DockerServiceExistsError:
            return None

    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = list(pool.map(create, range(4)))
    winners = [outcome for outcome in outcomes if outcome is not None]
    assert len(winners) == 1
    assert storage.get_docker_service("web") == winners[0]
    assert storage.list_ports("web") == [winners[0].ports[0].host_port]


def test_the_async_manager_runs_docker_off_the_event_loop(
    storage: UnifiedStorage, cli: DockerCli, runner: RecordingRunner
) -> None:
    manager = AsyncDockerManager(storage, AsyncPortManager(storage, START, END), cli)

    async def lifecycle() -> int:
        await manager.create_service("web", IMAGE)
        await manager.start_service("web")
        await manager.stop_service("web")
        await manager.delete_service("web")
        return threading.get_ident()

    loop_thread = asyncio.run(lifecycle())
    assert [call.args[1] for call in runner.calls] == ["rm", "run", "stop", "rm"]
    assert all(call.thread != loop_thread for call in runner.calls)
