"""``livedata dashboard-user``: add, remove and list the dashboard's users.

The users file holds each user's role and a salted scrypt hash of their password. A
password is read from the terminal (asked twice) or, when stdin is not a terminal, from
its first line; never from the command line, where other users could see it.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from livedata.dashboard.access import Role
from livedata.dashboard.credentials import (
    AUTH_FILE_ENV,
    CredentialsError,
    CredentialsFile,
    auth_file_path,
    load_credentials,
    save_credentials,
    with_user,
    without_user,
)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="livedata dashboard-user",
        description=(
            "Manage the dashboard's users file (serve it with 'livedata dashboard "
            "--auth-file FILE'). Passwords are read from the terminal or stdin, never "
            "from arguments, and stored only as salted scrypt hashes."
        ),
    )
    commands = p.add_subparsers(dest="command", required=True)
    file_help = f"the users file (default: ${AUTH_FILE_ENV})"
    add = commands.add_parser("add", help="add a user, or change a user's role and password")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=[r.value for r in Role])
    add.add_argument("--file", type=Path, help=file_help)
    remove = commands.add_parser("remove", help="remove a user")
    remove.add_argument("name")
    remove.add_argument("--file", type=Path, help=file_help)
    listing = commands.add_parser("list", help="list users and their roles")
    listing.add_argument("--file", type=Path, help=file_help)
    return p


def _file(given: Path | None) -> Path:
    path = auth_file_path(given)
    if path is None:
        raise ValueError(f"give --file or set {AUTH_FILE_ENV}")
    return path


def read_password(stdin: TextIO, ask: Callable[[str], str] = getpass.getpass) -> str:
    """From the terminal (typed twice, not echoed) or the first line of piped stdin.

    Raises
    ------
    ValueError
        If the two typed passwords differ, or stdin is empty.
    """
    if stdin.isatty():
        first = ask("Password: ")
        if ask("Password again: ") != first:
            raise ValueError("the passwords differ")
        return first
    line = stdin.readline()
    if not line:
        raise ValueError("no password on stdin")
    return line.rstrip("\r\n")


def main(argv: Sequence[str] | None = None, stdin: TextIO | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        path = _file(args.file)
        if args.command == "list":
            for name, entry in sorted(load_credentials(path).users.items()):
                print(f"{name}\t{entry.role.value}")
            return 0
        existing = load_credentials(path) if path.exists() else CredentialsFile()
        if args.command == "add":
            password = read_password(stdin if stdin is not None else sys.stdin)
            save_credentials(path, with_user(existing, args.name, Role(args.role), password))
            verb = "changed" if args.name in existing.users else "added"
            print(f"{verb} {args.name} ({args.role}) in {path}")
        else:
            try:
                save_credentials(path, without_user(existing, args.name))
            except KeyError:
                raise ValueError(f"no user {args.name!r} in {path}") from None
            print(f"removed {args.name} from {path}")
    except (ValueError, CredentialsError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
