"""``bertlab distill``: train a small student from a teacher's run folder (TinyBERT or DistilBERT)."""

from __future__ import annotations

import argparse

from bertlab.cli.binder import SCHEDULE, add_field_flags, check_steps, flag_settings, report_run
from bertlab.cli.errors import CliError
from bertlab.config import PRESETS
from bertlab.distill import run as distillation
from bertlab.distill.run import (INITS, METHODS, STAGES, DistillOptions, options_for_resume, parse_layers,
                                 parse_weights, summary_line)


def register(subparsers) -> None:
    d = DistillOptions()
    p = subparsers.add_parser(
        "distill", help="distil a smaller student from a teacher run (TinyBERT / DistilBERT)",
        description="Distil a student from a teacher's run folder into a new run folder. The general stage "
                    "reads the teacher's pre-training corpus, document split and tokenizer (teacher and student "
                    "always share the tokenizer); metrics.jsonl logs every loss component and, on eval lines, "
                    "the teacher's held-out accuracy beside the student's. Ctrl-C or SIGTERM ends the step in "
                    "progress and saves a checkpoint; --resume continues it exactly.",
        epilog="example: bertlab distill --teacher runs/small --student-preset tiny --method tinybert "
               "--steps 1000 --out runs/tinybert",
        argument_default=argparse.SUPPRESS)  # only flags given explicitly reach DistillOptions
    p.add_argument("--teacher", help="the teacher's run folder (required unless --resume)")
    p.add_argument("--student-preset", choices=list(PRESETS),
                   help="the student's shape (default: the teacher's with half its layers, as DistilBERT)")
    p.add_argument("--student-layers", type=int, help="override L")
    p.add_argument("--student-hidden", type=int, help="override H (FFN = 4H unless --student-intermediate)")
    p.add_argument("--student-heads", type=int, help="override A (the teacher's heads must be a multiple)")
    p.add_argument("--student-intermediate", type=int, help="override the FFN width")
    p.add_argument("--student-embedding-size", type=int, help="E: factorized embeddings (ALBERT)")
    p.add_argument("--method", choices=METHODS, help=f"default {d.method}")
    p.add_argument("--stage", choices=STAGES,
                   help="general (pre-training corpus, TinyBERT §3.2) or task (a fine-tuned teacher)")
    p.add_argument("--layer-map", type=_layers, help="TinyBERT g(m): 'uniform' (default) or teacher layers "
                                                     "for student layers 1..M, e.g. 2,4 (0 = embeddings may lead)")
    p.add_argument("--attention-on", choices=("scores", "probs"),
                   help="TinyBERT attention loss on pre-softmax scores (default, the paper's) or probabilities")
    p.add_argument("--temperature", type=float, help="soft-target temperature (default 1 TinyBERT, 2 DistilBERT)")
    p.add_argument("--weights", type=_weights,
                   help="loss weights, e.g. emb=1,attn=1,hidn=1,pred=1,pred_nsp=1 (TinyBERT) or "
                        "ce=5,mlm=2,cos=1 (DistilBERT); pred_nsp defaults to 1 when the teacher learnt NSP/SOP")
    p.add_argument("--pred-loss", choices=("kl", "ce"), help="soft prediction loss: kl (default) or ce")
    p.add_argument("--init", type=_layers, help=f"student initialisation: {' | '.join(INITS)} | teacher layers "
                                                "0,2 (auto: DistilBERT copies every other layer, TinyBERT random)")
    p.add_argument("--corpus", help="distillation corpus (default: the teacher's)")
    p.add_argument("--tokenizer", help="a tokenizer.json to check against the teacher's (they must be equal)")
    p.add_argument("--max-seq-length", type=int, help="default: the teacher's")
    p.add_argument("--task", help="--stage task: the teacher's fine-tuning task (default: read from the teacher)")
    p.add_argument("--student", dest="student_run", metavar="RUN",
                   help="--stage task: the generally distilled student to continue (default: a new random student)")
    p.add_argument("--intermediate-fraction", type=float,
                   help=f"task stage: share of --steps on intermediate layers before the prediction layer "
                        f"(default {d.intermediate_fraction})")
    p.add_argument("--augment", type=int, help="task stage: augmented copies per training example (TinyBERT "
                                               "§3.3: words replaced by a masked-LM's top predictions)")
    p.add_argument("--augment-with", metavar="RUN", help="the masked-LM run for --augment (default: the pre-trained "
                                                         "run the teacher was fine-tuned from)")
    p.add_argument("--eval-examples", type=int, help=f"held-out examples (default {d.eval_examples})")
    add_field_flags(p.add_argument_group("training (every trainer takes these)"), DistillOptions, SCHEDULE)
    p.add_argument("--out", help=f"the student's run folder (default {d.out})")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its newest intact checkpoint (only --steps, --device, "
                        "--compile and the --*-every intervals may change)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=run)


def _layers(text: str):
    try:
        return parse_layers(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _weights(text: str):
    try:
        return parse_weights(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def run(args) -> int:
    check_steps(args)
    given = vars(args)
    values = flag_settings(args, DistillOptions)
    if given.get("resume"):  # the saved settings, with what --resume may change; a conflicting flag is refused
        options = options_for_resume(given.get("out", DistillOptions.out), changes=values)
    else:
        if "teacher" not in given:
            raise CliError("--teacher is required: the run folder of the model to distil from "
                           "(e.g. made with `bertlab pretrain --preset small --out runs/small`)")
        if "init" in given and given["init"] == "uniform":
            raise CliError("--init takes auto, random, every-other or teacher layers such as 0,2")
        options = DistillOptions(**values)
    result = distillation.distill(options)  # looked up at call time: tests replace it
    return report_run("distill", summary_line(result), options.out, result.status)
