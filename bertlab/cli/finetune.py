"""``bertlab finetune``: train a classifier on a labelled task from a pre-trained (or random) encoder."""

from __future__ import annotations

import argparse

from bertlab.cli.binder import SCHEDULE, add_field_flags, check_steps, flag_settings
from bertlab.cli.errors import CliError
from bertlab.config import PRESETS
from bertlab.finetune import loop as finetuning
from bertlab.finetune.loop import DEFAULT_LR, MODES, SELECT_METRICS, FinetuneOptions, summary_line
from bertlab.finetune.tasks import BUILTIN_TASKS
from bertlab.finetune.userdata import FORMATS
from bertlab.model.pooling import POOLINGS


def register(subparsers) -> None:
    d = FinetuneOptions()
    tasks = "".join(f"  {name:28s} {text}\n" for name, text in BUILTIN_TASKS.items())
    p = subparsers.add_parser(
        "finetune", help="fine-tune (or train a head on frozen features of) an encoder on a labelled task",
        description="Train a classifier on a labelled task into a run folder (config.json, metrics.jsonl,\n"
                    "best.safetensors / model.safetensors = the best weights by dev score, results.json).",
        epilog=f"built-in tasks (--task):\n{tasks}"
               "  FILE or FOLDER               your CSV / TSV / JSON Lines / CoNLL file, or a folder with train.*\n"
               "                               (and dev.*, test.*)\n\n"
               "examples:\n"
               "  bertlab finetune --from runs/zh --task reviews-zh --mode features --pooling scalar-mix "
               "--steps 300 --out runs/zh-reviews\n"
               "  bertlab finetune --preset tiny --task data/train.csv --text-column review --label-column stars "
               "--out runs/mine\n"
               "  bertlab finetune --from runs/tiny --task sentence-distance:news-en --out runs/tiny-sd",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        argument_default=argparse.SUPPRESS)  # only flags given explicitly reach FinetuneOptions
    source = p.add_mutually_exclusive_group()
    source.add_argument("--from", dest="from_run", metavar="RUN", help="pre-trained run folder (its encoder and "
                                                                         "tokenizer)")
    source.add_argument("--preset", choices=list(PRESETS), help="a randomly initialised encoder of this shape "
                                                                "(the default when --from is not given: tiny)")
    p.add_argument("--tokenizer", help="with --preset: a tokenizer.json or run folder (default: WordPiece trained on "
                                       "the task's training text)")
    p.add_argument("--task", default=d.task, help=f"built-in task or your own data file / folder (default {d.task})")
    p.add_argument("--mode", default=d.mode, choices=MODES, help="finetune: all weights train; features: the "
                                                                 "encoder is frozen, only the head trains")
    p.add_argument("--pooling", choices=POOLINGS, help="sequence tasks: cls (default) | mean | scalar-mix; "
                                                       "token tasks: top (default) | scalar-mix")
    p.add_argument("--max-seq-length", type=int, help=f"default {d.max_seq_length}")
    p.add_argument("--select-metric", default=d.select_metric, choices=SELECT_METRICS,
                   help="dev score that picks the kept weights (default macro_f1)")
    p.add_argument("--max-train-examples", type=int, help="use a seeded sample of the training split")
    p.add_argument("--max-eval-examples", type=int, help="use a seeded sample of dev and of test")
    g = p.add_argument_group("your own data")
    g.add_argument("--format", choices=FORMATS, help="default: from the file extension")
    g.add_argument("--text-column", help="column / key of the text (default 'text')")
    g.add_argument("--text-pair-column", help="column / key of the second text: makes a sentence-pair task")
    g.add_argument("--label-column", help="column / key of the label (default 'label')")
    g.add_argument("--dev", dest="dev_file", help="dev file (default: dev.* beside train.*, or 10 %% of train)")
    g.add_argument("--test", dest="test_file", help="test file (default: test.* beside train.*, or 10 %% of train)")
    add_field_flags(p.add_argument_group("training (every trainer takes these)"), FinetuneOptions, SCHEDULE,
                    {"learning_rate": f"peak learning rate (default {DEFAULT_LR['finetune']} finetune, "
                                      f"{DEFAULT_LR['features']} features)",
                     "eval_every": "dev evaluation interval (default: 5 evaluations per run)"})
    p.add_argument("--out", required=True, help="run folder to create")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=run)


def run(args) -> int:
    check_steps(args)
    given = vars(args)
    if "tokenizer" in given and "from_run" in given:
        raise CliError("--tokenizer goes with --preset (a random encoder); --from uses the run's own tokenizer")
    options = FinetuneOptions(**flag_settings(args, FinetuneOptions))
    result = finetuning.finetune(options)  # looked up at call time: tests replace it
    print(summary_line(result))
    print(f"run folder: {options.out}  (load it: bertlab.load_run({options.out!r}))")
    return 130 if result.train.status == "interrupted" else 0
