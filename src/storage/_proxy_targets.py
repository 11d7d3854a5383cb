"""Proxy targets: how requests for one hostname are proxied."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._base import StorageBase
from ._codec import decode_record, encode_record
from ._defaults import LOCALHOST, localhost_needs_repair
from ._errors import InvalidKeyError
from ._keys import KeySchema, validate_hostname
from ._models import ProxyTarget
from ._operations import (
    CheckAndSet,
    Operation,
    announce_config_change,
    load_all,
    updated_record,
    write_default_routes,
    write_localhost,
)


def store_proxy_target(keys: KeySchema, target: ProxyTarget) -> Operation[None]:
    """Create or replace a proxy target."""
    yield ("SET", keys.proxy(target.hostname), encode_record(target))
    yield from announce_config_change(keys)


def get_proxy_target(keys: KeySchema, hostname: str) -> Operation[ProxyTarget | None]:
    """Read one proxy target; the `localhost` target is healed when found missing or
    changed (see `ProxyTargetRecords.get_proxy_target`)."""
    key = keys.proxy(hostname)
    raw = yield ("GET", key)
    target = decode_record(key, raw, ProxyTarget)
    if key == keys.proxy(LOCALHOST) and localhost_needs_repair(target):
        # Redis came back empty, or someone deleted or changed the record: sign-in would be
        # gone until a restart. Checked on the reply read anyway: no round trip when right.
        written = yield from write_localhost(keys)
        yield from write_default_routes(keys)
        if written is None:  # another process repaired it meanwhile
            written = yield ("GET", key)
        target = decode_record(key, written, ProxyTarget)
    return target


def list_proxy_targets(keys: KeySchema) -> Operation[list[ProxyTarget]]:
    """Every proxy target, by hostname."""
    targets = yield from load_all(keys.proxy_pattern(), ProxyTarget)
    return sorted(targets, key=lambda target: target.hostname)


def update_proxy_target(
    keys: KeySchema, hostname: str, changes: Mapping[str, Any]
) -> Operation[ProxyTarget | None]:
    """Apply `changes` to a proxy target atomically; `None` when it does not exist."""
    key = keys.proxy(hostname)
    if "hostname" in changes and validate_hostname(changes["hostname"]) != validate_hostname(
        hostname
    ):
        raise InvalidKeyError("a proxy target's hostname is its key and cannot change")
    written = yield CheckAndSet(key, lambda raw: updated_record(key, raw, ProxyTarget, changes))
    if written is not None:
        yield from announce_config_change(keys)
    return decode_record(key, written, ProxyTarget)


def delete_proxy_target(keys: KeySchema, hostname: str) -> Operation[bool]:
    """Delete a proxy target; tell whether it existed."""
    deleted = yield ("DEL", keys.proxy(hostname))
    if deleted:
        yield from announce_config_change(keys)
    return bool(deleted)


class ProxyTargetRecords(StorageBase):
    """Proxy targets under `proxy:<hostname>`."""

    def store_proxy_target(self, target: ProxyTarget) -> None:
        """Create or replace the proxy target of `target.hostname`."""
        self._run(store_proxy_target(self._keys, target), "store_proxy_target")

    async def astore_proxy_target(self, target: ProxyTarget) -> None:
        """Async twin of `store_proxy_target()`."""
        await self._arun(store_proxy_target(self._keys, target))

    def get_proxy_target(self, hostname: str) -> ProxyTarget | None:
        """The proxy target of `hostname` (case-insensitive), or `None`.

        `localhost` is never `None`: found missing, or without the default auth settings,
        it is written again at once with the default routes, as `initialize()` does (a
        corrupt record raises `CorruptRecordError` and is left alone).
        """
        return self._run(get_proxy_target(self._keys, hostname), "get_proxy_target")

    async def aget_proxy_target(self, hostname: str) -> ProxyTarget | None:
        """Async twin of `get_proxy_target()`."""
        return await self._arun(get_proxy_target(self._keys, hostname))

    def list_proxy_targets(self) -> list[ProxyTarget]:
        """Every proxy target, sorted by hostname."""
        return self._run(list_proxy_targets(self._keys), "list_proxy_targets")

    async def alist_proxy_targets(self) -> list[ProxyTarget]:
        """Async twin of `list_proxy_targets()`."""
        return await self._arun(list_proxy_targets(self._keys))

    def update_proxy_target(self, hostname: str, changes: Mapping[str, Any]) -> ProxyTarget | None:
        """Apply `changes` (field: value) atomically and validated; `None` if there is no target."""
        return self._run(update_proxy_target(self._keys, hostname, changes), "update_proxy_target")

    async def aupdate_proxy_target(
        self, hostname: str, changes: Mapping[str, Any]
    ) -> ProxyTarget | None:
        """Async twin of `update_proxy_target()`."""
        return await self._arun(update_proxy_target(self._keys, hostname, changes))

    def delete_proxy_target(self, hostname: str) -> bool:
        """Delete the proxy target of `hostname`; `True` if it existed."""
        return self._run(delete_proxy_target(self._keys, hostname), "delete_proxy_target")

    async def adelete_proxy_target(self, hostname: str) -> bool:
        """Async twin of `delete_proxy_target()`."""
        return await self._arun(delete_proxy_target(self._keys, hostname))
