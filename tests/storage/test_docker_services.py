"""Docker service records, through the blocking API and through its async twins."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import redis
from pydantic import ValidationError

from src.storage import (
    CorruptRecordError,
    DockerDesiredState,
    DockerService,
    DockerServiceExistsError,
    InvalidKeyError,
    PortMapping,
)
from tests.redis_topologies import namespace_keys

Call = Callable[..., Any]

SECRET = "pa55-w0rd-e1c9"
HOSTILE_NAMES = ["", "a", "-rm", "--privileged", "*", "a:b", "a b", "a/b", ".web", "x" * 129]
HOSTILE_IMAGES = [
    "",
    "-v",
    "--privileged",
    "Nginx",
    "nginx latest",
    "nginx;rm -rf /",
    "nginx:--rm",
    "nginx:",
    "a//b",
    "nginx@sha256:short",
    "$(id)",
    "x" * 513,
]


def snapshot(raw: redis.Redis, namespace: str) -> dict[bytes, object]:
    """Every key of the namespace with its value, to prove that nothing was written."""
    return {key: raw.dump(key) for key in namespace_keys(raw, namespace)}


def service(name: str = "web", **fields: Any) -> DockerService:
    values: dict[str, Any] = {
        "image": "ghcr.io/example/web:1.4",
        "ports": [PortMapping(host_port=30000, container_port=8080)],
        "environment": {"DB_PASSWORD": SECRET, "MODE": "production"},
        "labels": {"com.example.team": "gateway"},
        **fields,
    }
    return DockerService(name=name, **values)


def key(namespace: str, name: str) -> str:
    return f"{namespace}:docker-service:{name}"


def test_create_get_list_delete(call: Call, raw: redis.Redis, namespace: str) -> None:
    web = service()
    call("create_docker_service", web)
    found = call("get_docker_service", "web")
    assert found == web
    assert found.desired_state is DockerDesiredState.STOPPED
    assert found.environment["DB_PASSWORD"].get_secret_value() == SECRET
    stored = raw.get(key(namespace, "web"))
    assert stored is not None and SECRET.encode() in stored

    call("create_docker_service", service("api", ports=[], environment={}))
    assert [s.name for s in call("list_docker_services")] == ["api", "web"]
    assert call("get_docker_service", "missing") is None
    assert call("delete_docker_service", "web") is True
    assert call("delete_docker_service", "web") is False
    assert call("get_docker_service", "web") is None
    assert [s.name for s in call("list_docker_services")] == ["api"]


def test_a_name_is_created_once(call: Call, raw: redis.Redis, namespace: str) -> None:
    call("create_docker_service", service())
    before = snapshot(raw, namespace)
    with pytest.raises(DockerServiceExistsError, match="'web' exists already") as caught:
        call("create_docker_service", service(image="nginx:1.27"))
    assert caught.value.name == "web"
    assert snapshot(raw, namespace) == before


def test_update_desired_state(call: Call) -> None:
    web = service()
    call("create_docker_service", web)
    running = call("update_docker_service_state", "web", DockerDesiredState.RUNNING)
    assert running.desired_state is DockerDesiredState.RUNNING
    assert running.last_error is None
    assert running.updated_at > web.updated_at
    assert (
        running.model_copy(
            update={"desired_state": web.desired_state, "updated_at": web.updated_at}
        )
        == web
    )
    assert call("get_docker_service", "web") == running

    failed = call("update_docker_service_state", "web", "stopped", "docker stop failed")
    assert (failed.desired_state, failed.last_error) == ("stopped", "docker stop failed")
    cleared = call("update_docker_service_state", "web", "running", None)
    assert (cleared.desired_state, cleared.last_error) == ("running", None)
    assert cleared.environment == web.environment
    assert call("update_docker_service_state", "missing", "running") is None
    assert call("get_docker_service", "missing") is None


@pytest.mark.parametrize(
    ("state", "error", "problem"),
    [("paused", None, "not a valid DockerDesiredState"), ("running", "a\x00b", "NUL")],
)
def test_bad_state_updates_write_nothing(
    call: Call, raw: redis.Redis, namespace: str, state: str, error: str | None, problem: str
) -> None:
    call("create_docker_service", service())
    before = snapshot(raw, namespace)
    with pytest.raises(ValueError, match=problem):
        call("update_docker_service_state", "web", state, error)
    assert snapshot(raw, namespace) == before


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_names_are_rejected(
    call: Call, raw: redis.Redis, namespace: str, name: str
) -> None:
    call("initialize")
    before = snapshot(raw, namespace)
    for method, args in [
        ("get_docker_service", (name,)),
        ("delete_docker_service", (name,)),
        ("update_docker_service_state", (name, "running")),
    ]:
        with pytest.raises(InvalidKeyError, match="invalid service name"):
            call(method, *args)
    with pytest.raises(ValidationError, match="invalid service name"):
        service(name)
    assert snapshot(raw, namespace) == before


@pytest.mark.parametrize("image", HOSTILE_IMAGES)
def test_hostile_images_are_rejected(image: str) -> None:
    with pytest.raises(ValidationError, match="invalid Docker image"):
        service(image=image)


@pytest.mark.parametrize(
    "image",
    [
        "nginx",
        "nginx:1.27-alpine",
        "library/nginx:latest",
        "ghcr.io/example/web:1.4",
        "localhost:5000/team/app_v2",
        "registry.example.com:443/a/b/c:T_1.0",
        "my-app__x.y",
        f"nginx@sha256:{'ab' * 32}",
        f"nginx:1.27@sha256:{'ab' * 32}",
    ],
)
def test_valid_images_are_accepted(image: str) -> None:
    assert service(image=image).image == image


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"environment": {"A=B": "x"}}, "invalid environment variable name"),
        ({"environment": {"1ST": "x"}}, "invalid environment variable name"),
        ({"environment": {"-e": "x"}}, "invalid environment variable name"),
        ({"environment": {"TOKEN": f"{SECRET}\x00"}}, "NUL"),
        ({"labels": {"=x": "y"}}, "invalid label key"),
        ({"labels": {"--privileged": "y"}}, "invalid label key"),
        ({"labels": {"team": "a\x00"}}, "NUL"),
        ({"ports": [PortMapping(host_port=1, container_port=80)] * 2}, "mapped twice"),
        (
            {
                "ports": [
                    PortMapping(host_port=1, container_port=80),
                    PortMapping(host_port=2, container_port=80),
                ]
            },
            "container port is mapped twice",
        ),
        ({"desired_state": "paused"}, "desired_state"),
        ({"extra": 1}, "Extra inputs"),
    ],
)
def test_invalid_services_are_rejected(fields: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem) as caught:
        service(**fields)
    assert SECRET not in str(caught.value)
    assert SECRET not in repr(caught.value)


@pytest.mark.parametrize(
    "mapping", [{"host_port": 0, "container_port": 80}, {"host_port": 80, "container_port": True}]
)
def test_invalid_port_mappings_are_rejected(mapping: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        PortMapping(**mapping)


def test_assignments_are_validated() -> None:
    web = service()
    with pytest.raises(ValidationError, match="invalid Docker image"):
        web.image = "--privileged"
    assert web.image == "ghcr.io/example/web:1.4"


def test_environment_values_stay_secret(call: Call, raw: redis.Redis, namespace: str) -> None:
    web = service()
    for shown in (repr(web), str(web), web.model_dump_json(), repr(web.model_dump())):
        assert SECRET not in shown
    call("create_docker_service", web)
    stored = raw.get(key(namespace, "web"))
    assert isinstance(stored, bytes)
    raw.set(
        key(namespace, "web"), stored.replace(b'"desired_state":"stopped"', b'"desired_state":1')
    )
    with pytest.raises(CorruptRecordError, match="desired_state") as caught:
        call("get_docker_service", "web")
    assert SECRET not in str(caught.value)


def test_corrupt_records_are_reported_and_left_alone(
    call: Call, raw: redis.Redis, namespace: str
) -> None:
    raw.set(key(namespace, "web"), b"[]")
    for method, args in [
        ("get_docker_service", ("web",)),
        ("list_docker_services", ()),
        ("update_docker_service_state", ("web", "running")),
    ]:
        with pytest.raises(CorruptRecordError) as caught:
            call(method, *args)
        assert caught.value.key == key(namespace, "web")
    assert raw.get(key(namespace, "web")) == b"[]"
