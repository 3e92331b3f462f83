"""`delta3 ...` (or `python -m delta3_cli`): argument parsing and the one place errors become a sentence."""

from __future__ import annotations

import argparse
import sys

from . import commands
from .client import Api, CliError


def parser() -> argparse.ArgumentParser:
    """The command line's grammar."""
    top = argparse.ArgumentParser(prog="delta3", description="DELTA3 from the command line. The server is "
                                  "DELTA3_URL (default http://127.0.0.1:8080); DELTA3_TOKEN overrides `delta3 login`.")
    sub = top.add_subparsers(dest="command", required=True)
    login = sub.add_parser("login", help="log in and save the token (mode 0600)")
    login.add_argument("email", nargs="?", help="your account's email (asked if left out)")
    login.set_defaults(run=commands.login)
    sub.add_parser("logout", help="end the saved session").set_defaults(run=commands.logout)
    chat = sub.add_parser("chat", help="send a message and stream the answer (stdin if no message)")
    chat.add_argument("message", nargs="*")
    chat.set_defaults(run=commands.chat)
    history = sub.add_parser("history", help="show the conversation")
    history.add_argument("--limit", type=int, default=20)
    history.set_defaults(run=commands.history)
    sub.add_parser("undo", help="revert the file changes of the last turn that changed files (again: the one "
                   "before)").set_defaults(run=commands.undo)

    files = sub.add_parser("files", help="workspace files").add_subparsers(dest="files_command", required=True)
    ls = files.add_parser("ls", help="list files")
    ls.add_argument("path", nargs="?", default=".")
    ls.set_defaults(run=commands.files_ls)
    get = files.add_parser("get", help="download a file")
    get.add_argument("path")
    get.add_argument("-o", "--output", help="where to save it (- for stdout; default: its name, here)")
    get.set_defaults(run=commands.files_get)
    put = files.add_parser("put", help="upload a file")
    put.add_argument("local")
    put.add_argument("remote", nargs="?", help="workspace path (default: the file's name)")
    put.set_defaults(run=commands.files_put)
    rm = files.add_parser("rm", help="delete a file or folder")
    rm.add_argument("path")
    rm.set_defaults(run=commands.files_rm)

    token = sub.add_parser("token", help="personal access tokens").add_subparsers(dest="token_command", required=True)
    create = token.add_parser("create", help="create a token (printed once)")
    create.add_argument("name")
    create.add_argument("--days", type=int, help="expire after this many days (default: never)")
    create.set_defaults(run=commands.token_create)
    token.add_parser("ls", help="list tokens").set_defaults(run=commands.token_ls)
    revoke = token.add_parser("revoke", help="revoke a token")
    revoke.add_argument("id")
    revoke.set_defaults(run=commands.token_revoke)
    return top


def main(argv: list[str] | None = None) -> int:
    """Run one command; on failure print one sentence to stderr and return 1."""
    args = parser().parse_args(argv)
    try:
        args.run(Api(), args)
    except CliError as error:
        print(f"delta3: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("delta3: interrupted.", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
