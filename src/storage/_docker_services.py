"""Docker services: the containers the gateway runs, as records.

Key schema (`<ns>:` is the namespace prefix, empty by default):

    <ns>:docker-service:<name>    DockerService as JSON, environment values included

A service's host ports are allocated in the port family (`allocate_port(name, ...)`) by
the Docker manager, which records them here; this family keeps no index of its own.

Names and images follow Docker's own grammar, so no value can be taken for a `docker`
command-line option: none of them can start with `-`. Environment values may hold secrets:
they are `SecretStr`s, masked in `repr`, in default JSON and in validation errors.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from functools import partial

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    FieldSerializationInfo,
    SecretStr,
    StrictInt,
    field_serializer,
    field_validator,
)

from ._base import StorageBase
from ._certificate_models import encode_with_secrets, serialized_secret
from ._codec import decode_record
from ._errors import InvalidKeyError, StorageError
from ._keys import KeySchema, validate_identifier, validate_port
from ._operations import CheckAndSet, Operation, load_all

# Docker's container name rule, `[a-zA-Z0-9][a-zA-Z0-9_.-]+`, within the identifier rule.
_CONTAINER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]+")
# Docker's image reference grammar (github.com/distribution/reference), IPv6 hosts aside.
_ALPHANUMERIC = r"[a-z0-9]+"
_PATH_COMPONENT = rf"{_ALPHANUMERIC}(?:(?:[._]|__|-+){_ALPHANUMERIC})*"
_DOMAIN_COMPONENT = r"(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])"
_DOMAIN = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*(?::[0-9]+)?"
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_IMAGE = re.compile(
    rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*(?::{_TAG})?(?:@{_DIGEST})?"
)
_MAX_IMAGE_LENGTH = 512
_ENVIRONMENT_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,255}")


def _now() -> datetime:
    return datetime.now(UTC)


def validate_docker_service_name(name: str) -> str:
    """`name` if it is both a valid id and a valid Docker container name (2-128 letters,
    digits, '.', '_' or '-', starting with a letter or digit), else `InvalidKeyError`."""
    validate_identifier(name, "service name")
    if not _CONTAINER_NAME.fullmatch(name):
        raise InvalidKeyError(
            f"invalid service name {name!r}: a Docker container name has at least 2 characters"
        )
    return name


def validate_docker_image(image: str) -> str:
    """`image` if it is a Docker image reference (`[registry/]path[:tag][@digest]`, path in
    lower case), else `InvalidKeyError`."""
    if len(image) > _MAX_IMAGE_LENGTH or not _IMAGE.fullmatch(image):
        raise InvalidKeyError(
            f"invalid Docker image {image[:60]!r}: expected [registry[:port]/]name[:tag]"
            "[@digest], the name in lower-case letters, digits and separators"
        )
    return image


def _without_nul(kind: str, value: str) -> str:
    # A NUL cannot be passed in a command-line argument.
    if "\x00" in value:
        raise ValueError(f"{kind} must not contain a NUL character")
    return value


class DockerDesiredState(StrEnum):
    """What the gateway wants a service's container to be doing."""

    RUNNING = "running"
    STOPPED = "stopped"


class PortMapping(BaseModel):
    """A container port published on a host port (bound to 127.0.0.1)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host_port: StrictInt
    container_port: StrictInt

    @field_validator("host_port", "container_port")
    @classmethod
    def _valid_port(cls, value: int) -> int:
        return validate_port(value)


class DockerService(BaseModel):
    """A container the gateway runs: image, published ports, environment and labels, and
    the state it should be in. `last_error` is why the last `docker` command failed, if it
    did."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, hide_input_in_errors=True)

    name: str
    image: str
    desired_state: DockerDesiredState = DockerDesiredState.STOPPED
    ports: list[PortMapping] = Field(default_factory=list)
    environment: dict[str, SecretStr] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict)
    last_error: str | None = None
    created_at: AwareDatetime = Field(default_factory=_now)
    updated_at: AwareDatetime = Field(default_factory=_now)

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        return validate_docker_service_name(value)

    @field_validator("image")
    @classmethod
    def _valid_image(cls, value: str) -> str:
        return validate_docker_image(value)

    @field_validator("ports")
    @classmethod
    def _distinct_ports(cls, value: list[PortMapping]) -> list[PortMapping]:
        for attribute in ("host_port", "container_port"):
            numbers = [getattr(mapping, attribute) for mapping in value]
            if len(set(numbers)) != len(numbers):
                raise ValueError(f"a {attribute.replace('_', ' ')} is mapped twice")
        return value

    @field_validator("environment")
    @classmethod
    def _valid_environment(cls, value: dict[str, SecretStr]) -> dict[str, SecretStr]:
        for name, secret in value.items():
            if not _ENVIRONMENT_NAME.fullmatch(name):
                raise ValueError(
                    f"invalid environment variable name {name[:40]!r}: expected letters, "
                    "digits and '_', not starting with a digit"
                )
            _without_nul(f"the value of {name}", secret.get_secret_value())
        return value

    @field_validator("labels")
    @classmethod
    def _valid_labels(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            validate_identifier(name, "label key")
            _without_nul(f"the value of label {name}", text)
        return value

    @field_serializer("environment", when_used="json")
    def _secret_environment(
        self, value: dict[str, SecretStr], info: FieldSerializationInfo
    ) -> dict[str, str]:
        return {name: serialized_secret(secret, info) for name, secret in value.items()}


class DockerServiceExistsError(StorageError):
    """A Docker service of that name exists already."""

    def __init__(self, name: str) -> None:
        super().__init__(f"a Docker service named {name!r} exists already")
        self.name = name


def _service_key(keys: KeySchema, name: str) -> str:
    return f"{keys.prefix}docker-service:{validate_docker_service_name(name)}"


def _service_pattern(keys: KeySchema) -> str:
    return f"{keys.prefix}docker-service:*"


def create_docker_service(keys: KeySchema, service: DockerService) -> Operation[None]:
    """Store a new service; `DockerServiceExistsError` if its name is taken."""
    created = yield ("SET", _service_key(keys, service.name), encode_with_secrets(service), "NX")
    if not created:
        raise DockerServiceExistsError(service.name)


def get_docker_service(keys: KeySchema, name: str) -> Operation[DockerService | None]:
    """Read one service."""
    key = _service_key(keys, name)
    raw = yield ("GET", key)
    return decode_record(key, raw, DockerService)


def list_docker_services(keys: KeySchema) -> Operation[list[DockerService]]:
    """Every service, by name."""
    services = yield from load_all(_service_pattern(keys), DockerService)
    return sorted(services, key=lambda service: service.name)


def _with_state(
    key: str, state: DockerDesiredState, last_error: str | None, raw: bytes | None
) -> bytes | None:
    service = decode_record(key, raw, DockerService)
    if service is None:
        return None
    changed = service.model_copy(
        update={"desired_state": state, "last_error": last_error, "updated_at": _now()}
    )
    return encode_with_secrets(changed)


def update_docker_service_state(
    keys: KeySchema, name: str, desired_state: DockerDesiredState | str, last_error: str | None
) -> Operation[DockerService | None]:
    """Set a service's desired state and last error atomically; `None` if there is none."""
    key = _service_key(keys, name)
    state = DockerDesiredState(desired_state)
    if last_error is not None:
        _without_nul("last_error", last_error)
    written = yield CheckAndSet(key, partial(_with_state, key, state, last_error))
    return decode_record(key, written, DockerService)


def delete_docker_service(keys: KeySchema, name: str) -> Operation[bool]:
    """Delete a service record; tell whether it existed."""
    deleted = yield ("DEL", _service_key(keys, name))
    return bool(deleted)


class DockerServiceRecords(StorageBase):
    """Docker services under `docker-service:<name>`."""

    def create_docker_service(self, service: DockerService) -> None:
        """Store a new service record; `DockerServiceExistsError` (nothing written) if a
        service of that name exists. Its ports must already be allocated to it."""
        self._run(create_docker_service(self._keys, service), "create_docker_service")

    async def acreate_docker_service(self, service: DockerService) -> None:
        """Async twin of `create_docker_service()`."""
        await self._arun(create_docker_service(self._keys, service))

    def get_docker_service(self, name: str) -> DockerService | None:
        """The service `name`, or `None`."""
        return self._run(get_docker_service(self._keys, name), "get_docker_service")

    async def aget_docker_service(self, name: str) -> DockerService | None:
        """Async twin of `get_docker_service()`."""
        return await self._arun(get_docker_service(self._keys, name))

    def list_docker_services(self) -> list[DockerService]:
        """Every service, sorted by name."""
        return self._run(list_docker_services(self._keys), "list_docker_services")

    async def alist_docker_services(self) -> list[DockerService]:
        """Async twin of `list_docker_services()`."""
        return await self._arun(list_docker_services(self._keys))

    def update_docker_service_state(
        self, name: str, desired_state: DockerDesiredState | str, last_error: str | None = None
    ) -> DockerService | None:
        """Set the desired state of `name` and its `last_error` (`None` clears it),
        atomically; the updated service, or `None` if there is no such service."""
        return self._run(
            update_docker_service_state(self._keys, name, desired_state, last_error),
            "update_docker_service_state",
        )

    async def aupdate_docker_service_state(
        self, name: str, desired_state: DockerDesiredState | str, last_error: str | None = None
    ) -> DockerService | None:
        """Async twin of `update_docker_service_state()`."""
        return await self._arun(
            update_docker_service_state(self._keys, name, desired_state, last_error)
        )

    def delete_docker_service(self, name: str) -> bool:
        """Delete the record of `name` (not its ports or container); `True` if it existed."""
        return self._run(delete_docker_service(self._keys, name), "delete_docker_service")

    async def adelete_docker_service(self, name: str) -> bool:
        """Async twin of `delete_docker_service()`."""
        return await self._arun(delete_docker_service(self._keys, name))
