"""The ``bertlab`` command line. Each sub-command lives in its own module with a ``register(subparsers)``,
listed in ``COMMANDS``.

A sub-command's handler raises ``CliError`` (or ValueError / FileNotFoundError) for bad input; ``main``
prints the message and exits with status 2 instead of a traceback (a number flag given as nan or inf is one:
``check_finite``). A run whose loss stops being finite (``TrainingDiverged``) exits with status 1.
"""

from __future__ import annotations

import argparse
import math
import sys

from bertlab.cli import (corpus, course, dashboard, distill, experiment, finetune, homework, params, pretrain,
                         reproduce)
from bertlab.cli.errors import CliError
from bertlab.train.loop import TrainingDiverged

# The modules that add sub-commands, in the order `bertlab --help` lists them.
COMMANDS = (params, corpus, pretrain, distill, finetune, course, experiment, reproduce, dashboard, homework)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bertlab", description="bertlab: a teaching workbench for BERT, ALBERT, DistilBERT and TinyBERT.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS:
        module.register(subparsers)
    return parser


def _flags(parser: argparse.ArgumentParser) -> dict[str, str]:
    """dest -> the flag that sets it (e.g. "learning_rate" -> "--lr"), over every sub-command."""
    flags = {}
    for action in parser._actions:  # noqa: SLF001 - argparse offers no public list of a parser's options
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            for sub in action.choices.values():
                flags.update({k: v for k, v in _flags(sub).items() if k not in flags})
        elif action.option_strings:
            flags.setdefault(action.dest, max(action.option_strings, key=len))
    return flags


def check_finite(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """A number flag given as nan or inf (which ``float()`` accepts) is refused here, naming the flag."""
    bad = {dest: value for dest, value in vars(args).items() if isinstance(value, float) and not math.isfinite(value)}
    if bad:
        flags = _flags(parser)
        dest, value = next(iter(bad.items()))
        raise CliError(f"{flags.get(dest, dest)} {value}: must be a finite number")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 0
    try:
        check_finite(args, parser)
        result = args.handler(args)
    except (CliError, ValueError, FileNotFoundError) as err:
        print(f"bertlab {args.command}: error: {err}", file=sys.stderr)
        return 2
    except TrainingDiverged as err:
        print(f"bertlab {args.command}: stopped: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bertlab: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)
