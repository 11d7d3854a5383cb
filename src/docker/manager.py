"""`DockerManager`: the gateway's Docker services, from blocking code.

A service is a record in the storage, host ports allocated to its name, and a container of
the same name. When a `docker` command fails, the record keeps the desired state that was
asked for and gains a `last_error`; the error is raised again, naming the service.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..ports.manager import PortManager
from ..storage import (
    DockerDesiredState,
    DockerService,
    DockerServiceExistsError,
    PortMapping,
    UnifiedStorage,
)
from .cli import DockerCli
from .errors import DockerCliError, DockerServiceNotFoundError

_MAX_PORT = 65535


def draft_service(
    name: str,
    image: str,
    container_ports: Sequence[int],
    environment: Mapping[str, str] | None,
    labels: Mapping[str, str] | None,
) -> DockerService:
    """A validated service without host ports; `ValueError` (pydantic's `ValidationError`
    or `InvalidKeyError`) for any bad part, before anything is allocated or written."""
    for port in container_ports:
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= _MAX_PORT:
            raise ValueError(f"invalid container port {port!r:.40}: expected 1 to {_MAX_PORT}")
    if len(set(container_ports)) != len(container_ports):
        raise ValueError("a container port is listed twice")
    return DockerService(
        name=name, image=image, environment=dict(environment or {}), labels=dict(labels or {})
    )


def with_ports(
    draft: DockerService, container_ports: Sequence[int], host_ports: Sequence[int]
) -> DockerService:
    """`draft` with each container port published on the host port allocated for it."""
    mappings = [
        PortMapping(host_port=host, container_port=container)
        for host, container in zip(host_ports, container_ports, strict=True)
    ]
    return draft.model_copy(update={"ports": mappings})


class DockerManager:
    """Creates, starts, stops and deletes Docker services.

    Args:
        storage: the process's storage, from the composition root.
        ports: the range host ports are allocated from.
        cli: the `docker` command-line adapter.
    """

    def __init__(self, storage: UnifiedStorage, ports: PortManager, cli: DockerCli) -> None:
        self._storage = storage
        self._ports = ports
        self._cli = cli

    def create_service(
        self,
        name: str,
        image: str,
        *,
        container_ports: Sequence[int] = (),
        environment: Mapping[str, str] | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> DockerService:
        """Record a new, stopped service with a host port allocated for each container port.

        Runs no `docker` command. Raises `DockerServiceExistsError` for a name in use,
        `NoFreePortError` when the range is full, `ValueError` for a bad argument; in every
        case nothing stays allocated or written.
        """
        draft = draft_service(name, image, container_ports, environment, labels)
        if self._storage.get_docker_service(name) is not None:
            raise DockerServiceExistsError(name)
        allocated: list[int] = []
        try:
            for _ in container_ports:
                allocated.append(self._ports.allocate(name))
            service = with_ports(draft, container_ports, allocated)
            self._storage.create_docker_service(service)
        except BaseException:
            # By number, not by name: a concurrent creation of the same name may have won,
            # and the ports allocated to it are its own.
            for port in allocated:
                self._ports.release(port)
            raise
        return service

    def get_service(self, name: str) -> DockerService | None:
        """The service `name`, or `None`."""
        return self._storage.get_docker_service(name)

    def list_services(self) -> list[DockerService]:
        """Every service, sorted by name."""
        return self._storage.list_docker_services()

    def start_service(self, name: str) -> DockerService:
        """Record that `name` should run, then (re)create its container from the record:
        `docker rm -f`, then `docker run`."""
        service = self._set_state(name, DockerDesiredState.RUNNING)
        try:
            self._cli.remove(name)
            self._cli.run(service)
        except DockerCliError as error:
            self._record_failure(service, error)
            raise
        return service

    def stop_service(self, name: str) -> DockerService:
        """Record that `name` should not run, then `docker stop` its container."""
        service = self._set_state(name, DockerDesiredState.STOPPED)
        try:
            self._cli.stop(name)
        except DockerCliError as error:
            self._record_failure(service, error)
            raise
        return service

    def delete_service(self, name: str) -> bool:
        """Remove the container of `name`, then its record, then free its ports; `False`
        if there is no such service.

        If the container cannot be removed, the record and the ports are kept (with
        `last_error`) so that the deletion can be retried.
        """
        service = self._storage.get_docker_service(name)
        if service is None:
            return False
        try:
            self._cli.remove(name)
        except DockerCliError as error:
            self._record_failure(service, error)
            raise
        self._storage.delete_docker_service(name)
        self._ports.release_service(name)
        return True

    def inspect_service(self, name: str) -> dict[str, Any]:
        """What `docker inspect` reports about the container of `name`."""
        if self._storage.get_docker_service(name) is None:
            raise DockerServiceNotFoundError(name)
        return self._cli.inspect(name)

    def _set_state(self, name: str, state: DockerDesiredState) -> DockerService:
        service = self._storage.update_docker_service_state(name, state)
        if service is None:
            raise DockerServiceNotFoundError(name)
        return service

    def _record_failure(self, service: DockerService, error: DockerCliError) -> None:
        self._storage.update_docker_service_state(service.name, service.desired_state, str(error))
