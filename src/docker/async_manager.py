"""`AsyncDockerManager`: the gateway's Docker services, from async code.

The same rules as `DockerManager`, over the storage's async twins and `AsyncPortManager`.
The `docker` command line blocks, so each command runs on a worker thread through asgiref's
`sync_to_async(thread_sensitive=False)`: this is the component boundary where the design
puts asgiref, and the event loop keeps serving meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, ParamSpec, TypeVar

from asgiref.sync import sync_to_async

from ..ports.async_manager import AsyncPortManager
from ..storage import DockerDesiredState, DockerService, DockerServiceExistsError, UnifiedStorage
from .cli import DockerCli
from .errors import DockerCliError, DockerServiceNotFoundError
from .manager import draft_service, with_ports

P = ParamSpec("P")
R = TypeVar("R")


async def _off_loop(command: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Run a blocking `docker` command on a worker thread."""
    return await sync_to_async(command, thread_sensitive=False)(*args, **kwargs)


class AsyncDockerManager:
    """Creates, starts, stops and deletes Docker services; see `DockerManager`.

    Args:
        storage: the process's storage, from the composition root.
        ports: the range host ports are allocated from.
        cli: the `docker` command-line adapter.
    """

    def __init__(self, storage: UnifiedStorage, ports: AsyncPortManager, cli: DockerCli) -> None:
        self._storage = storage
        self._ports = ports
        self._cli = cli

    async def create_service(
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
        if await self._storage.aget_docker_service(name) is not None:
            raise DockerServiceExistsError(name)
        allocated: list[int] = []
        try:
            for _ in container_ports:
                allocated.append(await self._ports.allocate(name))
            service = with_ports(draft, container_ports, allocated)
            await self._storage.acreate_docker_service(service)
        except BaseException:
            # By number, not by name: see `DockerManager.create_service`.
            for port in allocated:
                await self._ports.release(port)
            raise
        return service

    async def get_service(self, name: str) -> DockerService | None:
        """The service `name`, or `None`."""
        return await self._storage.aget_docker_service(name)

    async def list_services(self) -> list[DockerService]:
        """Every service, sorted by name."""
        return await self._storage.alist_docker_services()

    async def start_service(self, name: str) -> DockerService:
        """Record that `name` should run, then (re)create its container from the record:
        `docker rm -f`, then `docker run`."""
        service = await self._set_state(name, DockerDesiredState.RUNNING)
        try:
            await _off_loop(self._cli.remove, name)
            await _off_loop(self._cli.run, service)
        except DockerCliError as error:
            await self._record_failure(service, error)
            raise
        return service

    async def stop_service(self, name: str) -> DockerService:
        """Record that `name` should not run, then `docker stop` its container."""
        service = await self._set_state(name, DockerDesiredState.STOPPED)
        try:
            await _off_loop(self._cli.stop, name)
        except DockerCliError as error:
            await self._record_failure(service, error)
            raise
        return service

    async def delete_service(self, name: str) -> bool:
        """Remove the container of `name`, then its record, then free its ports; `False`
        if there is no such service. See `DockerManager.delete_service`."""
        service = await self._storage.aget_docker_service(name)
        if service is None:
            return False
        try:
            await _off_loop(self._cli.remove, name)
        except DockerCliError as error:
            await self._record_failure(service, error)
            raise
        await self._storage.adelete_docker_service(name)
        await self._ports.release_service(name)
        return True

    async def inspect_service(self, name: str) -> dict[str, Any]:
        """What `docker inspect` reports about the container of `name`."""
        if await self._storage.aget_docker_service(name) is None:
            raise DockerServiceNotFoundError(name)
        return await _off_loop(self._cli.inspect, name)

    async def _set_state(self, name: str, state: DockerDesiredState) -> DockerService:
        service = await self._storage.aupdate_docker_service_state(name, state)
        if service is None:
            raise DockerServiceNotFoundError(name)
        return service

    async def _record_failure(self, service: DockerService, error: DockerCliError) -> None:
        await self._storage.aupdate_docker_service_state(
            service.name, service.desired_state, str(error)
        )
