"""``bertlab course``: prepare the course models the lessons use (``prepare``) and list them (``status``)."""

from __future__ import annotations

import os

import torch

from bertlab.cli.errors import CliError
from bertlab.course import COMMON, COURSE_MODELS, course_dir, prepare, resolve, state
from bertlab.train.metrics import read_metrics


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "course", help="prepare the pre-trained models the lessons use (once, before class)",
        description="The course models are bertlab pretrain runs with the fast-cpu recipe "
                    f"({COMMON['steps']:,} steps each) that the lessons, the dashboard and the experiments use "
                    "instead of training their own: "
                    + "; ".join(f"{m.name} = {m.description}" for m in COURSE_MODELS.values())
                    + ". They go to --dir, else $BERTLAB_COURSE_DIR, else <cache>/course-models.")
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    prepare = actions.add_parser("prepare", help="train the course models that are not ready (resumable)",
                                 description="Train every course model that is not ready, one after another, "
                                             "with one progress bar. Ctrl-C (or a killed process) loses at most "
                                             "250 steps: run the same command again to continue.")
    status = actions.add_parser("status", help="which course models are ready")
    for sub in (prepare, status):
        sub.add_argument("--dir", help="the course folder (default $BERTLAB_COURSE_DIR, else <cache>/course-models)")
        sub.add_argument("--only", action="append", choices=list(COURSE_MODELS),
                         help="only this model (repeatable; default all)")
    prepare.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    prepare.add_argument("--quiet", action="store_true", help="no progress bar")
    prepare.set_defaults(handler=run_prepare)
    status.set_defaults(handler=run_status)
    p.set_defaults(handler=lambda args: p.print_help() or 0)


def run_prepare(args) -> int:
    if args.threads is not None:
        if args.threads < 1:
            raise CliError(f"--threads must be at least 1, got {args.threads}")
        torch.set_num_threads(args.threads)
        os.environ["OMP_NUM_THREADS"] = str(args.threads)
    directory = args.dir or course_dir()
    print(f"course models in {directory}")
    done = prepare(args.only, directory, progress=not args.quiet)
    run_status(args)
    return 130 if any(v != "finished" for v in done.values()) else 0


def run_status(args) -> int:
    directory = args.dir or course_dir()
    print(f"{'model':8s} {'state':10s} {'steps':>11s}  {'[MASK] acc':>10s} {'MLM acc':>8s} {'NSP acc':>8s}  folder")
    for model in resolve(args.only):
        found = state(model, directory)
        evals = read_metrics(found["path"] / "metrics.jsonl").split("eval") \
            if (found["path"] / "metrics.jsonl").exists() and found["state"] != "different" else []
        last = evals[-1] if evals else {}
        shown = [f"{last[k]:.1%}" if k in last else "-" for k in ("mlm_acc_mask", "mlm_acc", "nsp_acc")]
        print(f"{model.name:8s} {found['state']:10s} {found['step']:>5d}/{found['total_steps']:<5d}  "
              f"{shown[0]:>10s} {shown[1]:>8s} {shown[2]:>8s}  {found['path']}")
        for line in found.get("differences", [])[:5]:
            print(f"{'':8s} differs: {line}")
    print(f"explore them: bertlab dashboard --runs {directory}")
    return 0
