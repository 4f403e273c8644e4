"""``bertlab experiment NAME``: run one of the experiments listed in ``bertlab.experiments.EXPERIMENTS``."""

from __future__ import annotations

import argparse
import importlib

from bertlab.experiments import EXPERIMENTS


def register(subparsers) -> None:
    p = subparsers.add_parser("experiment", help="run a built-in experiment and print its table",
                              description="Experiments that check the source articles' claims at CPU scale.")
    names = p.add_subparsers(dest="experiment", metavar="NAME")
    for name, module_path in EXPERIMENTS.items():
        try:
            module = importlib.import_module(module_path)
        except ModuleNotFoundError as err:
            if err.name == module_path:
                continue  # listed but not built yet
            raise
        doc = (module.__doc__ or name).strip()
        sub = names.add_parser(name, help=doc.splitlines()[0], description=doc,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(sub)
        sub.set_defaults(handler=module.run)
    p.set_defaults(handler=lambda args: (p.print_help(), 2)[1])
