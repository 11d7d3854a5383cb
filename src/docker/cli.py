"""`DockerCli`: the one place that runs the `docker` command line.

Each command is an argument list run without a shell, with a timeout. Names and images are
checked against Docker's rules first, and none of them may start with `-`, so no value can
be taken for an option. Environment values are passed as `-e NAME=value`, so while
`docker run` runs they are visible to local users who can list processes; they never
appear in this module's errors.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Collection
from typing import Any, Literal, Protocol

from ..storage import DockerService, validate_docker_image, validate_docker_service_name
from .errors import DockerCliError, DockerNotFoundError

_STDERR_TAIL = 500


class Runner(Protocol):
    """The part of `subprocess.run`'s signature the adapter uses; tests pass a recorder."""

    def __call__(
        self,
        args: list[str],
        *,
        capture_output: bool,
        text: Literal[True],
        timeout: float,
        check: bool,
    ) -> subprocess.CompletedProcess[str]: ...


def _redacted(text: str, secrets: Collection[str]) -> str:
    # Longest first, so that a secret containing another is masked whole.
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


class DockerCli:
    """Runs `docker run`, `stop`, `rm -f` and `inspect` for the gateway's containers.

    Args:
        executable: the `docker` program, looked up on `PATH` unless it is a path.
        timeout: seconds a command may run before it is killed and `DockerCliError` raised.
        runner: runs an argument list; `subprocess.run` unless a test records the calls.
    """

    def __init__(
        self,
        executable: str = "docker",
        *,
        timeout: float = 120.0,
        runner: Runner = subprocess.run,
    ) -> None:
        if not executable:
            raise ValueError("the docker executable must not be empty")
        if not timeout > 0:
            raise ValueError(f"the timeout must be positive, got {timeout!r}")
        self._executable = executable
        self._timeout = timeout
        self._runner = runner

    def run(self, service: DockerService) -> str:
        """Start a detached container for `service`, its ports bound to 127.0.0.1; the
        container id."""
        arguments = ["run", "-d", "--name", validate_docker_service_name(service.name)]
        for mapping in service.ports:
            arguments += ["-p", f"127.0.0.1:{mapping.host_port}:{mapping.container_port}"]
        for name, value in sorted(service.environment.items()):
            arguments += ["-e", f"{name}={value.get_secret_value()}"]
        for name, text in sorted(service.labels.items()):
            arguments += ["--label", f"{name}={text}"]
        # Checked again: `model_construct` builds a service without validation.
        arguments.append(validate_docker_image(service.image))
        secrets = [value.get_secret_value() for value in service.environment.values()]
        return self._call(arguments, service.name, secrets).strip()

    def stop(self, name: str) -> None:
        """Stop the container `name`."""
        self._call(["stop", validate_docker_service_name(name)], name)

    def remove(self, name: str) -> None:
        """Remove the container `name`, running or not; a missing container is no error
        (`docker rm -f` exits 0 for it)."""
        self._call(["rm", "-f", validate_docker_service_name(name)], name)

    def inspect(self, name: str) -> dict[str, Any]:
        """What `docker inspect` reports about the container `name`."""
        output = self._call(
            ["inspect", "--type", "container", validate_docker_service_name(name)], name
        )
        try:
            reports = json.loads(output)
        except json.JSONDecodeError:
            reports = None
        if not (isinstance(reports, list) and len(reports) == 1 and isinstance(reports[0], dict)):
            raise DockerCliError(
                f"`docker inspect` for container {name!r} printed something other than one "
                "container's report",
                command="inspect",
                container=name,
            )
        report: dict[str, Any] = reports[0]
        return report

    def _call(self, arguments: list[str], container: str, secrets: Collection[str] = ()) -> str:
        """Run `docker <arguments>`; its standard output, or `DockerCliError`."""
        command = arguments[0]
        try:
            completed = self._runner(
                [self._executable, *arguments],
                capture_output=True,
                text=True,
                timeout=self._timeout,
                check=False,
            )
        except FileNotFoundError:
            raise DockerNotFoundError(
                f"cannot run `docker {command}` for container {container!r}: the executable "
                f"{self._executable!r} was not found (is the Docker CLI installed?)",
                command=command,
                container=container,
            ) from None
        except subprocess.TimeoutExpired:
            # Not chained: the exception holds the command line, environment values included.
            raise DockerCliError(
                f"`docker {command}` for container {container!r} did not finish within "
                f"{self._timeout} s and was killed",
                command=command,
                container=container,
            ) from None
        except OSError as exc:
            raise DockerCliError(
                f"cannot run `docker {command}` for container {container!r}: {exc.strerror}",
                command=command,
                container=container,
            ) from None
        if completed.returncode != 0:
            detail = _redacted(completed.stderr.strip(), secrets)[-_STDERR_TAIL:]
            raise DockerCliError(
                f"`docker {command}` for container {container!r} failed with exit status "
                f"{completed.returncode}: {detail or '(no error output)'}",
                command=command,
                container=container,
                returncode=completed.returncode,
            )
        return completed.stdout
