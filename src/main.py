"""The composition root: the one place that creates the storage and hands it out.

`python -m src serve` runs the gateway on `--host`:`--proxy-port` (127.0.0.1:8080) until
SIGINT or SIGTERM: the proxy, which serves the gateway's own API (the OAuth server and
`/mcp`) in-process on the `localhost` host. No other port is opened: the API has no door
but the proxy's rules. The proxy's bounds are options too (`--head-timeout`, ...; see
`ProxySettings`).
`python -m src oauth register-client ...` / `oauth delete-client CLIENT_ID` / `oauth
issue-token ...` register an OAuth client, delete one with its tokens, and issue a user's
token pair without a sign-in (an admin's tool); `oauth login` signs a user in from the
terminal with the device grant, against a running gateway. `python -m src users add NAME`
(password from standard input) / `users remove NAME` / `users list` manage the users who
may sign in. `startup_once()` is the startup entry that `storage-guard check-startup` runs
(`[tool.storage-guard] startup`).

Every command goes through the same `startup()`: one storage on `REDIS_URL` (else on an
embedded Redis kept in `.gateway/redis/` under the current directory), the components and
the orchestrator on it, the storage initialised and reconciled.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import signal
import socket
import sys
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import ExitStack, asynccontextmanager, contextmanager
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Any

import uvicorn
from asgiref.sync import sync_to_async
from uvicorn.logging import DefaultFormatter

from .api.async_init import DEFAULT_OAUTH_ISSUER, init_async_components
from .api.routers.oauth import (
    CommandError,
    add_user,
    delete_client,
    device_login,
    issue_token,
    list_users,
    register_client,
    remove_user,
)
from .embedded_redis import EmbeddedRedis, EmbeddedRedisError
from .integration import Gateway, build_gateway
from .orchestrator import MainOrchestrator
from .proxy.connections import bounded_h11_protocol
from .proxy.settings import ProxySettings
from .storage import (
    OAuthGrantType,
    StorageError,
    UnifiedStorage,
    assert_single_instance,
)
from .workers import STOP_SIGNALS, run_workers

EMBEDDED_DATA_DIR = Path(".gateway") / "redis"
CLIENT_SECRET_VARIABLE = "OAUTH_CLIENT_SECRET"
"""Where `oauth login` reads a confidential client's secret (never from the command line,
which other users of the machine can see)."""
DEFAULT_PROXY_HOST = "127.0.0.1"
DEFAULT_PROXY_PORT = 8080
GRACEFUL_SHUTDOWN = 10
"""Seconds a stopping server waits for open requests before cancelling them."""
_BACKLOG = 2048

logger = logging.getLogger(__name__)


class ServeError(Exception):
    """The gateway cannot serve; the message says why."""


@contextmanager
def redis_url(data_dir: Path | None = EMBEDDED_DATA_DIR) -> Iterator[str]:
    """`REDIS_URL` when set, else the URL of an embedded Redis that lives for the block,
    keeping its data in `data_dir` (None: a temporary directory, removed afterwards)."""
    configured = os.environ.get("REDIS_URL")
    if configured:
        yield configured
        return
    with ExitStack() as stack:
        if data_dir is None:
            data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="gateway-")))
        server = stack.enter_context(EmbeddedRedis(data_dir))
        yield server.url


async def startup(url: str, *, oauth_issuer: str = DEFAULT_OAUTH_ISSUER) -> MainOrchestrator:
    """Create the one storage, wire the components and the orchestrator on it, start the
    orchestrator (initialise, reconcile), and check that nothing else created a storage."""
    storage = UnifiedStorage(url)
    try:
        components = await init_async_components(url, storage, oauth_issuer=oauth_issuer)
        orchestrator = MainOrchestrator(components)
        await orchestrator.startup()
        assert_single_instance()
    except BaseException:
        await storage.aclose()
        raise
    return orchestrator


@asynccontextmanager
async def started(
    url: str, *, oauth_issuer: str = DEFAULT_OAUTH_ISSUER
) -> AsyncIterator[MainOrchestrator]:
    """`startup()` for the block; the orchestrator's shutdown (closing the storage) after."""
    orchestrator = await startup(url, oauth_issuer=oauth_issuer)
    try:
        yield orchestrator
    finally:
        await orchestrator.shutdown()


async def _start_and_stop(url: str) -> None:
    async with started(url):
        pass


def startup_once() -> None:
    """Run startup without serving, then shut down: the entry `storage-guard check-startup`
    runs. On `REDIS_URL`, else on an embedded Redis in a temporary directory, so that the
    check writes nothing into the checkout."""
    with redis_url(data_dir=None) as url:
        asyncio.run(_start_and_stop(url))


def _run_oauth_command(storage: UnifiedStorage, args: argparse.Namespace) -> str:
    if args.oauth_command == "register-client":
        return register_client(
            storage,
            name=args.name,
            grant_types=args.grant_types or [OAuthGrantType.REFRESH_TOKEN.value],
            redirect_uris=args.redirect_uris,
            scope=args.scope,
        )
    if args.oauth_command == "delete-client":
        return delete_client(storage, client_id=args.client_id)
    return issue_token(storage, client_id=args.client_id, user=args.user, scope=args.scope)


async def _oauth(url: str, args: argparse.Namespace) -> str:
    async with started(url) as orchestrator:
        # The commands block: they run on a worker thread, the component boundary.
        return await sync_to_async(_run_oauth_command, thread_sensitive=False)(
            orchestrator.components.storage, args
        )


def _device_login(args: argparse.Namespace) -> str:
    def tell(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    return device_login(
        args.gateway,
        client_id=args.client_id,
        client_secret=os.environ.get(CLIENT_SECRET_VARIABLE),
        scope=args.scope,
        resource=args.resource,
        tell=tell,
    )


def oauth_command(args: argparse.Namespace) -> int:
    """Run an `oauth` subcommand and print its output; 0 on success. `login` talks to a
    running gateway over HTTP; the others run on the one storage."""
    if args.oauth_command == "login":
        try:
            output = _device_login(args)
        except CommandError as exc:
            print(f"oauth login failed: {exc}", file=sys.stderr)
            return 1
        print(output)
        return 0
    try:
        with redis_url() as url:
            output = asyncio.run(_oauth(url, args))
    except (StorageError, EmbeddedRedisError, CommandError) as exc:
        print(f"oauth {args.oauth_command} failed: {exc}", file=sys.stderr)
        return 1
    print(output)
    return 0


def read_password(prompt: str = "password: ") -> str:
    """The password for `users add`: typed without echo on a terminal, else the first line
    of standard input (its line ending removed), so a script can pipe it in."""
    if sys.stdin.isatty():
        return getpass.getpass(prompt)
    return sys.stdin.readline().rstrip("\r\n")


def _run_users_command(storage: UnifiedStorage, args: argparse.Namespace) -> str:
    if args.users_command == "add":
        return add_user(storage, name=args.name, password=args.password, replace=args.replace)
    if args.users_command == "remove":
        return remove_user(storage, name=args.name)
    return list_users(storage)


async def _users(url: str, args: argparse.Namespace) -> str:
    async with started(url) as orchestrator:
        return await sync_to_async(_run_users_command, thread_sensitive=False)(
            orchestrator.components.storage, args
        )


def users_command(args: argparse.Namespace) -> int:
    """Run a `users` subcommand on the one storage and print its output; 0 on success.
    `users add` reads the password first, before any storage is started."""
    if args.users_command == "add":
        args.password = read_password()
    try:
        with redis_url() as url:
            output = asyncio.run(_users(url, args))
    except (StorageError, EmbeddedRedisError, CommandError) as exc:
        print(f"users {args.users_command} failed: {exc}", file=sys.stderr)
        return 1
    print(output)
    return 0


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signals to `_Stopper`.

    Each uvicorn server installs its own SIGINT/SIGTERM handlers while it serves, restores
    the ones it found when it stops, and then raises the signal it caught again. Two
    servers in one loop would hand the signal to only one of them and re-raise it at exit.
    """

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class _Stopper:
    """The one SIGINT/SIGTERM handler of `serve`: it stops every server it knows."""

    def __init__(self) -> None:
        self._servers: list[uvicorn.Server] = []
        self._stopping = False

    def add(self, server: uvicorn.Server) -> None:
        """Stop `server` with the others (at once, if a stop was asked for already)."""
        self._servers.append(server)
        server.should_exit = self._stopping

    def stop(self) -> None:
        """Ask every server to stop once its open requests are done."""
        self._stopping = True
        for server in self._servers:
            server.should_exit = True

    def on_signal(self) -> None:
        """Stop; a second signal stops waiting for open requests."""
        if self._stopping:
            for server in self._servers:
                server.force_exit = True
        self.stop()


def _listen(host: str, port: int, role: str) -> socket.socket:
    """A TCP socket listening on `host`:`port`; `ServeError` if it cannot be had."""
    try:
        family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except OSError as exc:
        raise ServeError(f"cannot listen on {host}:{port} for {role}: {exc.strerror}") from None
    # IPPROTO_TCP spelled out: asyncio turns Nagle's algorithm off only on sockets whose
    # protocol says TCP (else each response waits ~40 ms for a delayed ACK).
    listener = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(address)
        listener.listen(_BACKLOG)
    except OSError as exc:
        listener.close()
        raise ServeError(f"cannot listen on {host}:{port} for {role}: {exc.strerror}") from None
    return listener


async def _run_servers(
    stopper: _Stopper, servers: Sequence[tuple[str, _Server, socket.socket]]
) -> None:
    """Serve until every server stopped; one server stopping stops the others."""

    async def run(role: str, server: _Server, listener: socket.socket) -> None:
        try:
            await server.serve(sockets=[listener])
        except SystemExit:
            # uvicorn exits when an application's lifespan startup fails; it logged why.
            raise ServeError(f"{role} failed to start (see the log above)") from None
        finally:
            stopper.stop()

    results = await asyncio.gather(*(run(*entry) for entry in servers), return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result


def _proxy_server(gateway: Gateway, settings: ProxySettings) -> _Server:
    """The uvicorn server of the proxy: h11 with the connection bounds of `settings`, no
    WebSocket (the proxy forwards none), and no access log: uvicorn's access logger would
    log the query string of every request to every host, which may carry secrets."""
    return _Server(
        uvicorn.Config(
            gateway.proxy,
            http=bounded_h11_protocol(settings),
            ws="none",
            lifespan="on",
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN,
            access_log=False,
            # The edge: a client's X-Forwarded-For is not its address.
            proxy_headers=False,
            # A forwarded response carries the upstream's; uvicorn would add its own beside.
            date_header=False,
            server_header=False,
        )
    )


async def _serve(
    url: str,
    proxy_socket: socket.socket,
    settings: ProxySettings,
    stop_signals: Sequence[signal.Signals] = STOP_SIGNALS,
) -> None:
    proxy_host, proxy_port = proxy_socket.getsockname()[:2]
    stopper = _Stopper()
    loop = asyncio.get_running_loop()
    # Installed first, so that a signal during startup stops the server as it starts.
    for signum in stop_signals:
        loop.add_signal_handler(signum, stopper.on_signal)
    try:
        # The `localhost` target serves the OAuth server: its public URL is the proxy's.
        async with started(url, oauth_issuer=f"http://localhost:{proxy_port}") as orchestrator:
            server = _proxy_server(build_gateway(orchestrator.components, settings), settings)
            stopper.add(server)
            logger.info(
                "storage on %s; gateway on http://%s:%d (its API on host localhost)",
                orchestrator.components.redis_url,
                proxy_host,
                proxy_port,
            )
            await _run_servers(stopper, [("the proxy", server, proxy_socket)])
    finally:
        for signum in stop_signals:
            loop.remove_signal_handler(signum)


def _log_like_uvicorn() -> None:
    """Show the gateway's own INFO records, formatted as uvicorn's. Only the `src` loggers:
    httpcore's would log the URL of every forwarded request, query string included."""
    handler = logging.StreamHandler()
    handler.setFormatter(DefaultFormatter("%(levelprefix)s %(message)s"))
    gateway = logging.getLogger("src")
    gateway.addHandler(handler)
    gateway.setLevel(logging.INFO)


def _serve_worker(url: str, proxy_socket: socket.socket, settings: ProxySettings) -> int:
    """One of several gateway processes: `_serve` until the supervisor's SIGTERM."""
    try:
        asyncio.run(_serve(url, proxy_socket, settings, stop_signals=(signal.SIGTERM,)))
    except (StorageError, ServeError) as exc:
        print(f"serve failed in worker {os.getpid()}: {exc}", file=sys.stderr)
        return 1
    return 0


def serve_command(args: argparse.Namespace) -> int:
    """Run the gateway until SIGINT or SIGTERM, in `args.workers` processes; 0 after a
    clean stop, 1 if it cannot serve.

    Shutdown order: the server (finishing open requests), then the orchestrator (closing
    the storage), then the embedded Redis (after every worker stopped).
    """
    _log_like_uvicorn()
    try:
        settings = ProxySettings(
            **{name: getattr(args, name) for name in _SETTING_TYPES},
            trusted_proxies=tuple(args.trusted_proxies),
        )
        # The port first: a port in use fails before any Redis is started.
        with ExitStack() as resources:
            proxy_socket = resources.enter_context(_listen(args.host, args.proxy_port, "the proxy"))
            url = resources.enter_context(redis_url())
            if args.workers == 1:
                asyncio.run(_serve(url, proxy_socket, settings))
                return 0
            code = run_workers(args.workers, lambda _: _serve_worker(url, proxy_socket, settings))
    except (StorageError, EmbeddedRedisError, ServeError) as exc:
        print(f"serve failed: {exc}", file=sys.stderr)
        return 1
    return code


def _port_number(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number from 1 to 65535, got {text!r}")
    return port


def _positive_number(text: str) -> float:
    try:
        number = float(text)
    except ValueError:
        number = 0.0
    if not number > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return number


def _positive_integer(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return int(text)


def _network(text: str) -> IPv4Network | IPv6Network:
    try:
        return ip_network(text, strict=False)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an IP address or network, got {text!r}"
        ) from None


# Every field of `ProxySettings` but `trusted_proxies`, with the parser of its option.
_SETTING_TYPES: dict[str, Callable[[str], Any]] = {
    "head_timeout": _positive_number,
    "body_timeout": _positive_number,
    "upstream_pool_timeout": _positive_number,
    "upstream_timeout": _positive_number,
    "upstream_keepalive": _positive_number,
    "max_body_size": _positive_integer,
    "max_connections_per_client": _positive_integer,
    "upstream_connections": _positive_integer,
    "upstream_buffer_size": _positive_integer,
}


def _add_proxy_settings(parser: argparse.ArgumentParser) -> None:
    """An option per `ProxySettings` field, its default taken from there."""
    defaults = ProxySettings()
    for name, parse in _SETTING_TYPES.items():
        default = getattr(defaults, name)
        parser.add_argument(
            f"--{name.replace('_', '-')}",
            dest=name,
            type=parse,
            default=default,
            help=f"see ProxySettings.{name} (default: {default})",
        )
    parser.add_argument(
        "--trusted-proxy",
        dest="trusted_proxies",
        type=_network,
        action="append",
        default=[],
        help="an address or network whose Forwarded/X-Forwarded-* headers are believed "
        "(repeatable; default: none)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """The `python -m src` command line."""
    parser = argparse.ArgumentParser(prog="python -m src", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the gateway until SIGINT/SIGTERM")
    serve.add_argument(
        "--proxy-port",
        type=_port_number,
        default=DEFAULT_PROXY_PORT,
        help=f"the proxy's port (default: {DEFAULT_PROXY_PORT})",
    )
    serve.add_argument(
        "--host",
        default=DEFAULT_PROXY_HOST,
        help=f"the address the proxy listens on (default: {DEFAULT_PROXY_HOST})",
    )
    serve.add_argument(
        "--workers",
        type=_positive_integer,
        default=1,
        help="gateway processes sharing the port, each with its own storage (default: 1)",
    )
    _add_proxy_settings(serve)
    oauth = commands.add_parser("oauth", help="manage OAuth clients and tokens")
    oauth_commands = oauth.add_subparsers(dest="oauth_command", required=True)
    register_parser = oauth_commands.add_parser(
        "register-client", help="register a client; prints its id and secret (shown once)"
    )
    register_parser.add_argument("--name", required=True)
    register_parser.add_argument(
        "--grant-type",
        dest="grant_types",
        action="append",
        choices=[grant.value for grant in OAuthGrantType],
        help="repeatable; default: refresh_token",
    )
    register_parser.add_argument(
        "--redirect-uri", dest="redirect_uris", action="append", default=[]
    )
    register_parser.add_argument("--scope", default="", help="the scope the client may get")
    delete_parser = oauth_commands.add_parser(
        "delete-client", help="delete a client (also a dynamically registered one) and its tokens"
    )
    delete_parser.add_argument("client_id", metavar="CLIENT_ID")
    issue_parser = oauth_commands.add_parser(
        "issue-token",
        help="an admin's tool: issue a token pair for a user of a client without any "
        "sign-in; prints it (shown once)",
    )
    issue_parser.add_argument("--client-id", required=True)
    issue_parser.add_argument("--user", required=True)
    issue_parser.add_argument("--scope", help="default: everything the client may get")
    login_parser = oauth_commands.add_parser(
        "login",
        help="sign in from this terminal (device grant): approve the code shown on any "
        f"browser; prints the tokens. A confidential client's secret comes from "
        f"${CLIENT_SECRET_VARIABLE}",
    )
    login_parser.add_argument(
        "--gateway",
        default=f"http://localhost:{DEFAULT_PROXY_PORT}",
        help=f"the gateway's issuer URL (default: http://localhost:{DEFAULT_PROXY_PORT})",
    )
    login_parser.add_argument("--client-id", required=True)
    login_parser.add_argument("--scope", help="default: everything the client may get")
    login_parser.add_argument("--resource", help="the protected URL the tokens are for")
    users = commands.add_parser("users", help="manage the users who may sign in")
    users_commands = users.add_subparsers(dest="users_command", required=True)
    add_parser = users_commands.add_parser(
        "add", help="add a user; the password is read from standard input (no echo on a tty)"
    )
    add_parser.add_argument("name", metavar="NAME")
    add_parser.add_argument(
        "--replace", action="store_true", help="change the password of an existing user"
    )
    remove_parser = users_commands.add_parser("remove", help="remove a user")
    remove_parser.add_argument("name", metavar="NAME")
    users_commands.add_parser("list", help="list the users")
    args = parser.parse_args(argv)
    if args.command == "serve":
        return serve_command(args)
    if args.command == "users":
        return users_command(args)
    return oauth_command(args)
