"""``arbx users``: bootstrap the first admin and mint API keys for scripts.

These commands act directly on the local store, so they are for whoever administers the
machine (they can read the data directory anyway); everything else goes through the API.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import TYPE_CHECKING, Any

from arbx.domain.auth import Principal, PrincipalKind, normalize_username
from arbx.domain.auth.passwords import PASSWORD_POLICY, check_password
from arbx.domain.errors import InvalidInput, NotFound
from arbx.entrypoints.runtime import resolve
from arbx.entrypoints.schemas.api_keys import MAX_LIFETIME_DAYS, lifetime, roles_of
from arbx.entrypoints.schemas.naming import as_option

if TYPE_CHECKING:
    from arbx.entrypoints.container import Container

EXIT_OK = 0


def register(groups: Any) -> None:
    parser = groups.add_parser(
        "users",
        help="create the first admin; create API keys for scripts",
        description="Manage accounts on the local store. Everything else: the admin API.",
    )
    commands = parser.add_subparsers(dest="users_command", metavar="ACTION", required=True)

    admin = commands.add_parser(
        "create-admin",
        help="create the first admin (only while no active admin exists)",
        description="Create the first admin account. There is no default password: type it"
        " twice, or pipe it with --password-stdin (needed without a terminal). Refused once an"
        f" active admin exists. The password {PASSWORD_POLICY}.",
    )
    admin.add_argument("--username", required=True, help="3-64 of a-z 0-9 . _ -")
    admin.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    admin.set_defaults(run=create_admin)

    key = commands.add_parser(
        "create-api-key",
        help="create an API key for a user and print it (once) on stdout",
        description="Create an API key acting for USERNAME with some or all of their roles."
        " The key is printed once on stdout; store it in your secret manager.",
    )
    key.add_argument("--username", required=True, help="the key's owner")
    key.add_argument("--name", required=True, help="a label, e.g. nightly-backfill")
    key.add_argument(
        "--roles", help="comma-separated roles the key carries (default: all the owner's)"
    )
    key.add_argument(
        "--expires-in-days",
        type=int,
        default=90,
        help=f"lifetime in days (default 90, max {MAX_LIFETIME_DAYS})",
    )
    key.set_defaults(run=create_api_key)


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif not sys.stdin.isatty():
        raise InvalidInput(
            "no terminal to ask the password on; pipe it in with --password-stdin, e.g."
            " printf '%s\\n' \"$PASSWORD\" | arbx users create-admin --username NAME"
            " --password-stdin",
            field="password",
        )
    else:
        print(f"The password {PASSWORD_POLICY}.", file=sys.stderr)
        try:
            password = getpass.getpass("password: ")
            check_password(password, username=args.username)  # before asking it again
            if getpass.getpass("repeat password: ") != password:
                raise InvalidInput("the two passwords differ", field="password")
        except EOFError:
            raise InvalidInput("no password given", field="password") from None
    if not password:
        raise InvalidInput("the password is empty", field="password")
    return password


async def create_admin(args: argparse.Namespace, container: Container) -> int:
    password = _read_password(args)
    use_case = await resolve(container.create_first_admin)
    user = await use_case.execute(username=args.username, password=password)
    print(f"created admin {user.username!r} (id {user.id}); sign in at POST /api/v1/auth/login")
    return EXIT_OK


async def create_api_key(args: argparse.Namespace, container: Container) -> int:
    users = await resolve(container.user_store)
    owner = await users.find_by_username(normalize_username(args.username))
    if owner is None:
        raise NotFound(f"no user {args.username!r}; create it first")
    if not owner.is_active:
        raise InvalidInput(f"user {owner.username!r} is disabled", field="username")
    roles = roles_of(args.roles.split(",") if args.roles else None)
    expires_in = lifetime(args.expires_in_days, name=as_option)
    actor = Principal(
        kind=PrincipalKind.USER, user_id=owner.id, username=owner.username, roles=owner.roles
    )
    use_case = await resolve(container.create_api_key)
    new = await use_case.execute(
        actor,
        name=args.name,
        roles=roles,
        expires_in=expires_in,
        client_address="cli",
    )
    print(new.secret)
    expires = new.key.expires_at.isoformat() if new.key.expires_at else "never"
    print(
        f"api key {new.key.prefix} for {owner.username!r}, roles"
        f" {','.join(sorted(r.value for r in new.key.roles))}, expires {expires}",
        file=sys.stderr,
    )
    return EXIT_OK
