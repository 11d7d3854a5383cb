"""The key schema and the validation of every caller-supplied key part.

Everything here is pure: no I/O. A key is `<namespace>:<family>:<part>`; the namespace is
empty by default, which gives the documented `kv:<key>`, `proxy:<hostname>`, ... keys.
Only validated parts ever become keys, so no caller can reach another record family (or a
SCAN pattern) by crafting an id.

Routes and port allocations put a Redis Cluster hash tag before their family, so each
family shares one slot and its keys change together in one transaction or script:

    <namespace>:{routes}:route:<id>         a route
    <namespace>:{routes}:index              the set of every route id
    <namespace>:{ports}:port:<n>            the name of the service port <n> is allocated to
    <namespace>:{ports}:service:<service>   the set of the ports allocated to <service>
"""

from __future__ import annotations

import re

from ._errors import InvalidKeyError

_HOSTNAME_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOSTNAME = re.compile(rf"{_HOSTNAME_LABEL}(?:\.{_HOSTNAME_LABEL})*")
# Ids and plain keys: no ':' (family separator), no glob characters, no whitespace.
_IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_MAX_HOSTNAME_LENGTH = 253
_MAX_PORT = 65535


def _shown(value: str) -> str:
    """A bounded, printable rendering of a rejected value for error messages."""
    return repr(value[:40] + ("..." if len(value) > 40 else ""))


def validate_hostname(hostname: str) -> str:
    """Return the canonical (lower-case) hostname, or raise `InvalidKeyError`."""
    canonical = hostname.lower()
    if len(canonical) > _MAX_HOSTNAME_LENGTH or not _HOSTNAME.fullmatch(canonical):
        raise InvalidKeyError(
            f"invalid hostname {_shown(hostname)}: expected dot-separated labels of "
            f"letters, digits and '-', at most {_MAX_HOSTNAME_LENGTH} characters"
        )
    return canonical


def validate_identifier(value: str, kind: str = "id") -> str:
    """Return `value` if it is a safe id or key, else raise `InvalidKeyError`."""
    if not _IDENTIFIER.fullmatch(value):
        raise InvalidKeyError(
            f"invalid {kind} {_shown(value)}: expected 1-128 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return value


def validate_port(port: object) -> int:
    """Return `port` if it is a TCP port number (an int from 1 to 65535), else raise
    `InvalidKeyError`. A bool is not a port, though Python counts it as an int."""
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= _MAX_PORT:
        raise InvalidKeyError(
            f"invalid port {port!r:.40}: expected an integer from 1 to {_MAX_PORT}"
        )
    return int(port)


class KeySchema:
    """Builds the Redis keys of every record family under one namespace."""

    def __init__(self, namespace: str = "") -> None:
        if namespace:
            validate_identifier(namespace, "namespace")
        self._prefix = f"{namespace}:" if namespace else ""

    @property
    def prefix(self) -> str:
        """The namespace prefix every key starts with ('' when there is none)."""
        return self._prefix

    def tagged(self, family: str, entity: str) -> str:
        """The hash tag that starts every key of one entity (key schema v2): namespace,
        family and the entity's id inside the braces, so one entity's keys share a Redis
        Cluster slot while entities, and namespaces, spread over the slots."""
        return f"{{{self._prefix}{family}:{validate_identifier(entity, family + ' id')}}}"

    def value(self, key: str) -> str:
        """The key of a plain value."""
        return f"{self._prefix}kv:{validate_identifier(key, 'key')}"

    def counter(self, name: str) -> str:
        """The key of an atomic counter."""
        return f"{self._prefix}counter:{validate_identifier(name, 'counter name')}"

    def proxy(self, hostname: str) -> str:
        """The key of a proxy target."""
        return f"{self._prefix}proxy:{validate_hostname(hostname)}"

    def proxy_pattern(self) -> str:
        """The SCAN pattern that matches every proxy target key."""
        return f"{self._prefix}proxy:*"

    def config_channel(self) -> str:
        """The pub/sub channel on which every change of a proxy target or a route is
        announced (a channel, not a key: it holds nothing)."""
        return f"{self._prefix}config-changes"

    def route(self, route_id: str) -> str:
        """The key of a route."""
        return f"{self._prefix}{{routes}}:route:{validate_identifier(route_id, 'route id')}"

    def route_index(self) -> str:
        """The key of the set of every route id (the proxy lists routes on each request)."""
        return f"{self._prefix}{{routes}}:index"

    def port(self, port: int) -> str:
        """The key of a port allocation; it holds the owning service's name."""
        return f"{self._prefix}{{ports}}:port:{validate_port(port)}"

    def service_ports(self, service: str) -> str:
        """The key of the set of ports allocated to a service."""
        return f"{self._prefix}{{ports}}:service:{validate_identifier(service, 'service name')}"
