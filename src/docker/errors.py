"""The errors of the Docker component."""

from __future__ import annotations


class DockerCliError(Exception):
    """A `docker` command could not run, timed out, or failed.

    The message names the command and the container; it never holds an environment value.
    """

    def __init__(
        self, message: str, *, command: str, container: str, returncode: int | None = None
    ) -> None:
        super().__init__(message)
        self.command = command
        self.container = container
        self.returncode = returncode


class DockerNotFoundError(DockerCliError):
    """The `docker` executable does not exist (Docker is not installed, or the path is wrong)."""


class DockerServiceNotFoundError(LookupError):
    """No Docker service of that name is recorded."""

    def __init__(self, name: str) -> None:
        super().__init__(f"no Docker service named {name!r}")
        self.name = name
