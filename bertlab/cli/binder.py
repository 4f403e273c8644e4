"""Command-line flags generated from the settings dataclasses, and the one rule that merges their sources.

A field ``weight_decay: float = 0.01  # AdamW weight decay ...`` becomes ``--weight-decay FLOAT`` with that comment
as its help (a field without one takes the comment lines right above it), so a setting is declared once, in its
dataclass, and every command that trains takes it. Flags default to "not given" (``argparse.SUPPRESS``): only
what the user typed reaches the options, and ``merge_settings`` applies the precedence

    recipe  <  --config file  <  flags given on the command line
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import io
import re
import tokenize
from pathlib import Path

from bertlab.cli.errors import CliError

# the training schedule every trainer accepts (TrainSettings' fields except ``progress``, which is --quiet)
SCHEDULE = ("steps", "batch_size", "learning_rate", "warmup", "lr_decay", "weight_decay", "max_grad_norm",
            "grad_accumulation", "precision", "device", "compile", "log_every", "eval_every", "checkpoint_every",
            "keep_checkpoints", "seed")
FLAG_NAMES = {"learning_rate": "--lr"}  # flags that are not the field name with dashes
CHOICES = {"precision": ("auto", "fp32", "bf16")}
_TYPES = {"int": int, "float": float, "str": str}


def field_help(cls) -> dict[str, str]:
    """Each field's comment in the source of ``cls`` and its bases (a subclass's comment wins)."""
    helps: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass) or klass is object:
            continue
        helps.update(_comments(inspect.getsource(klass)))
    return helps


def _comments(source: str) -> dict[str, str]:
    out: dict[str, str] = {}
    above: list[str] = []  # full-line comments waiting for the field below them
    lines = source.splitlines()
    trailing = {t.start[0]: t.string for t in tokenize.generate_tokens(io.StringIO(source).readline)
                if t.type == tokenize.COMMENT}
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if stripped.startswith("#"):
            above.append(stripped.lstrip("# ").strip())
            continue
        match = re.match(r"\s{4}(\w+)\s*:", line)
        if match and not stripped.startswith(("def ", "@")):
            comment = trailing.get(number, "")  # the comment on the field's line, else the lines above it
            out[match.group(1)] = comment.lstrip("# ").strip() if comment else " ".join(above)
        above = []
    return out


def flag_of(name: str) -> str:
    return FLAG_NAMES.get(name, "--" + name.replace("_", "-"))


def add_field_flags(parser, cls, names, help_overrides: dict | None = None) -> None:
    """A flag for each field ``names`` of dataclass ``cls``: type from the annotation, help from the comment
    followed by the default (a None default means "decided by the command": its comment says how)."""
    helps = {**field_help(cls), **(help_overrides or {})}
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for name in names:
        annotation = str(fields[name].type).replace(" ", "")
        kind = annotation.split("|")[0]
        default = fields[name].default
        help_text = helps.get(name, "")
        if default not in (None, dataclasses.MISSING) and kind != "bool" and "default" not in help_text:
            help_text += f" (default {default})"
        help_text = help_text.replace("%", "%%")  # argparse reads % as a format
        if kind == "bool":
            parser.add_argument(flag_of(name), dest=name, action="store_true", help=help_text)
        else:
            parser.add_argument(flag_of(name), dest=name, type=_TYPES[kind], choices=CHOICES.get(name),
                                metavar=None if name in CHOICES else kind.upper(), help=help_text)


def given_flags(args: argparse.Namespace, cls) -> dict:
    """The fields of ``cls`` the user gave on the command line (flags default to not given)."""
    given = vars(args)
    return {f.name: given[f.name] for f in dataclasses.fields(cls) if f.name in given}


def flag_settings(args: argparse.Namespace, cls, *below: dict) -> dict:
    """The settings of ``cls`` from ``below`` (a recipe, a --config file) and the flags given, which win; --quiet
    turns the progress bar off."""
    given = vars(args)
    return merge_settings(*below, given_flags(args, cls), {"progress": not given.get("quiet", False)})


def check_steps(args: argparse.Namespace) -> None:
    """A non-positive --steps is refused before any work (also when resuming)."""
    steps = vars(args).get("steps", 1)
    if steps <= 0:
        raise CliError(f"--steps must be positive, got {steps}")


def report_run(command: str, summary: str, out: str | None, status: str) -> int:
    """What a training command prints at the end, and its exit status (130 when interrupted)."""
    print(summary)
    if out:
        print(f"run folder: {out}  (explore it: bertlab dashboard --runs {Path(out).parent})")
    if status == "interrupted":
        print(f"continue with: bertlab {command} --out {out} --resume")
        return 130
    return 0


def merge_settings(*layers: dict) -> dict:
    """Settings from several sources, later ones winning (recipe < --config file < explicit flags); the
    ``model_overrides`` dictionaries are merged key by key."""
    merged: dict = {}
    overrides: dict = {}
    for layer in layers:
        layer = dict(layer)
        overrides.update(layer.pop("model_overrides", None) or {})
        merged.update(layer)
    if overrides:
        merged["model_overrides"] = overrides
    return merged


__all__ = ["SCHEDULE", "field_help", "flag_of", "add_field_flags", "given_flags", "flag_settings",
           "merge_settings", "check_steps", "report_run"]
