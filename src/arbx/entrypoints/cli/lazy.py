"""Sub-commands registered on demand: a parser lists every command (name and help) but
imports only the module of the command being run.

Each ``Commands`` names a module, its register function and the commands it adds, with the
help text it gives them (a test checks the two agree). ``add_commands`` calls the register
function of the module whose command was chosen and adds a bare placeholder (name and help
only, enough for ``--help`` and for "invalid choice" errors) for every other command.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any, NamedTuple


class Commands(NamedTuple):  # a NamedTuple, not a dataclass: ``arbx --help`` imports this
    """``module.register(subparsers)`` adds ``commands`` (name -> help, in that order).

    ``nested``: the register function takes the words after the command as well
    (``register(subparsers, words)``), to register its own sub-commands on demand.
    """

    module: str
    register: str
    commands: dict[str, str]
    nested: bool = False

    def load(self, subparsers: Any, words: Sequence[str] | None) -> None:
        register = getattr(importlib.import_module(self.module), self.register)
        if self.nested:
            register(subparsers, None if words is None else words[1:])
        else:
            register(subparsers)


def add_commands(subparsers: Any, groups: Sequence[Commands], words: Sequence[str] | None) -> None:
    """Register ``groups`` on ``subparsers``: every one when ``words`` is None, else only the
    one that adds ``words[0]`` (placeholders for the rest)."""
    chosen = None if not words else words[0]
    for group in groups:
        if words is None or chosen in group.commands:
            group.load(subparsers, words)
        else:
            for name, text in group.commands.items():
                subparsers.add_parser(name, help=text)


def command_words(args: Sequence[str], options_with_value: frozenset[str]) -> list[str]:
    """The leading words of ``args`` that name a command (``data list`` of ``--profile test
    data list --json``), after the options before them; stops at the first other option."""
    words: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
            continue
        if arg == "--":
            break
        if arg.startswith("-"):
            if words:
                break
            skip = "=" not in arg and _expand(arg, options_with_value) in options_with_value
            continue
        words.append(arg)
    return words


def _expand(option: str, known: frozenset[str]) -> str:
    """An abbreviated long option (argparse accepts ``--prof``) as its full name."""
    matches = [name for name in known if name.startswith(option)] if option.startswith("--") else []
    return matches[0] if len(matches) == 1 else option
