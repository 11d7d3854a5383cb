"""The key schema and the validation of every caller-supplied key part.

Everything here is pure: no I/O. Only validated parts ever become keys, so no caller can
reach another record family (or a SCAN pattern) by crafting an id.

Key schema v2 (`src/storage/README.md` has every key, and the v1 schema it replaced).
A key of one record, read and written alone, is `<namespace>:<family>:<part>` (the
namespace is empty by default: `kv:<key>`, `proxy:<hostname>`, ...). Keys that must change
together in one transaction or script start with a Redis Cluster hash tag holding the
namespace, so two namespaces never share a slot:

- per entity, `{<namespace>:<family>:<id>}:...` (`tagged`): one OAuth grant, client or
  MCP session; the entities spread over the slots;
- per family, `{<namespace>:<family>}:...` (`family_tagged`): routes, ports and
  certificates, which are listed, allocated or claimed as a whole:

    {<namespace>:routes}:route:<id>         a route
    {<namespace>:routes}:index              the set of every route id
    {<namespace>:ports}:port:<n>            the name of the service port <n> is allocated to
    {<namespace>:ports}:service:<service>   the set of the ports allocated to <service>

With an empty namespace the tag is `{<family>:<id>}` / `{<family>}`.
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
        return self.entity_tag(family, validate_identifier(entity, family + " id"))

    def entity_tag(self, family: str, entity: str) -> str:
        """`tagged` for an entity id its own family validated already, by rules other
        than `validate_identifier`'s (an MCP session id may start with '-')."""
        return f"{{{self._prefix}{family}:{entity}}}"

    def family_tagged(self, family: str) -> str:
        """The hash tag that starts every key of a family changed as a whole (routes,
        ports, certificates): `{<namespace>:<family>}`."""
        return f"{{{self._prefix}{family}}}"

    def tagged_pattern(self, family: str) -> str:
        """The SCAN pattern that matches the hash tag of every entity of `family`."""
        return f"{{{self._prefix}{family}:*}}"

    def schema_version(self) -> str:
        """The key holding the key schema version the data is in (absent: v1, or none)."""
        return f"{self._prefix}schema-version"

    def migration_lock(self) -> str:
        """The key a process migrating the data holds (SET NX PX) while it migrates."""
        return f"{self._prefix}schema-migration-lock"

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
        return f"{self.family_tagged('routes')}:route:{validate_identifier(route_id, 'route id')}"

    def route_index(self) -> str:
        """The key of the set of every route id (the proxy lists routes on each request)."""
        return f"{self.family_tagged('routes')}:index"

    def port(self, port: int) -> str:
        """The key of a port allocation; it holds the owning service's name."""
        return f"{self.family_tagged('ports')}:port:{validate_port(port)}"

    def service_ports(self, service: str) -> str:
        """The key of the set of ports allocated to a service."""
        service = validate_identifier(service, "service name")
        return f"{self.family_tagged('ports')}:service:{service}"
