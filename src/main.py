"""The composition root: the one place that creates the storage and hands it out.

`python -m src check-startup` runs startup without serving and checks that it created
exactly one storage. `python -m src oauth register-client ...` / `oauth login ...` register
an OAuth client and issue a user's first token pair.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from .api.async_init import AsyncComponents, init_async_components
from .api.routers.oauth import CommandError, login, register_client
from .embedded_redis import EmbeddedRedis, EmbeddedRedisError
from .storage import (
    OAuthGrantType,
    StorageError,
    StorageInstanceInfo,
    UnifiedStorage,
    assert_single_instance,
)

EMBEDDED_DATA_DIR = Path(".gateway") / "redis"


@contextmanager
def redis_url() -> Iterator[str]:
    """`REDIS_URL` when set, else the URL of an embedded Redis that lives for the block."""
    configured = os.environ.get("REDIS_URL")
    if configured:
        yield configured
        return
    with EmbeddedRedis(EMBEDDED_DATA_DIR) as server:
        yield server.url


async def startup(url: str) -> AsyncComponents:
    """Create and initialise the one storage, wire the components on it, and check that
    nothing else created a storage meanwhile."""
    storage = UnifiedStorage(url)
    try:
        await storage.ainitialize()
        components = await init_async_components(url, storage)
        assert_single_instance()
    except BaseException:
        await storage.aclose()
        raise
    return components


async def shutdown(components: AsyncComponents) -> None:
    """Release what `startup` acquired."""
    await components.storage.aclose()


async def _check_startup(url: str) -> StorageInstanceInfo:
    components = await startup(url)
    try:
        return assert_single_instance()
    finally:
        await shutdown(components)


def check_startup() -> int:
    """Run startup without serving; 0 when it created exactly one storage."""
    try:
        with redis_url() as url:
            instance = asyncio.run(_check_startup(url))
    except (StorageError, EmbeddedRedisError) as exc:
        print(f"startup check failed: {exc}", file=sys.stderr)
        return 1
    print(f"startup created exactly one storage: {instance}")
    return 0


def oauth_command(args: argparse.Namespace) -> int:
    """Run an `oauth` subcommand on the one storage and print its output; 0 on success.

    The command goes through the same startup as the server, then runs blocking, outside
    any event loop.
    """
    try:
        with redis_url() as url:
            components = asyncio.run(startup(url))
            try:
                if args.oauth_command == "register-client":
                    output = register_client(
                        components.storage,
                        name=args.name,
                        grant_types=args.grant_types or [OAuthGrantType.REFRESH_TOKEN.value],
                        redirect_uris=args.redirect_uris,
                        scope=args.scope,
                    )
                else:
                    output = login(
                        components.storage,
                        client_id=args.client_id,
                        user=args.user,
                        scope=args.scope,
                    )
            finally:
                asyncio.run(shutdown(components))
    except (StorageError, EmbeddedRedisError, CommandError) as exc:
        print(f"oauth {args.oauth_command} failed: {exc}", file=sys.stderr)
        return 1
    print(output)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """The `python -m src` command line."""
    parser = argparse.ArgumentParser(prog="python -m src", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("check-startup", help="run startup without serving and check it")
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
    login_parser = oauth_commands.add_parser(
        "login", help="issue a user's first token pair for a client; prints it (shown once)"
    )
    login_parser.add_argument("--client-id", required=True)
    login_parser.add_argument("--user", required=True)
    login_parser.add_argument("--scope", help="default: everything the client may get")
    args = parser.parse_args(argv)
    if args.command == "oauth":
        return oauth_command(args)
    return check_startup()
