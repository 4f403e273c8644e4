"""The ``bertlab`` command line. Each sub-command lives in its own module with a ``register(subparsers)``.

A sub-command's handler raises ``CliError`` (or ValueError / FileNotFoundError) for bad input; ``main``
prints the message and exits with status 2 instead of a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# Modules under bertlab.cli that add sub-commands, in the order `bertlab --help` lists them.
COMMAND_MODULES = ("params", "corpus", "pretrain", "distill", "finetune", "course", "experiment", "reproduce",
                   "dashboard", "homework")


class CliError(Exception):
    """A user-facing error: printed as ``bertlab: error: <message>``, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bertlab", description="bertlab: a teaching workbench for BERT, ALBERT, DistilBERT and TinyBERT.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"bertlab.cli.{name}")
        except ModuleNotFoundError as err:
            if err.name == f"bertlab.cli.{name}":
                continue  # that command is not built yet
            raise
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 0
    try:
        result = args.handler(args)
    except (CliError, ValueError, FileNotFoundError) as err:
        print(f"bertlab {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bertlab: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)
