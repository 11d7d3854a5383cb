"""The user management commands: `users add`, `users remove`, `users list`. Each takes the
storage and its arguments and returns the text to print; `src/main.py` wires them into
`python -m src users ...` and reads the password. No output ever holds a password.
"""

from __future__ import annotations

from ....storage import UnifiedStorage, UserExistsError
from .commands import CommandError


def add_user(storage: UnifiedStorage, *, name: str, password: str, replace: bool = False) -> str:
    """Add a user who may sign in at `/authorize` (with `replace`, change an existing
    user's password); what was done, to print."""
    try:
        storage.add_user(name, password, replace=replace)
    except UserExistsError:
        raise CommandError(
            f"a user {name!r:.80} exists already (--replace changes the password)"
        ) from None
    except ValueError as exc:  # the messages name the rule, never the password
        raise CommandError(f"cannot add the user: {exc}") from None
    return f"{'updated' if replace else 'added'} user {name}"


def remove_user(storage: UnifiedStorage, *, name: str) -> str:
    """Remove a user; their tokens stay valid until they expire or are revoked."""
    try:
        existed = storage.remove_user(name)
    except ValueError:
        existed = False
    if not existed:
        raise CommandError(f"no user {name!r:.80} exists")
    return f"removed user {name} (tokens already issued stay valid until they expire)"


def list_users(storage: UnifiedStorage) -> str:
    """Every user's name and when it was added, one per line."""
    users = storage.list_users()
    if not users:
        return "no users"
    return "\n".join(f"{user.name}\t{user.created_at.isoformat()}" for user in users)
