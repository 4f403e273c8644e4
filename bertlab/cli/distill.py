"""``bertlab distill``: train a small student from a teacher's run folder (TinyBERT or DistilBERT)."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from bertlab.cli import CliError
from bertlab.config import PRESETS


def register(subparsers) -> None:
    from bertlab.distill.run import INITS, METHODS, STAGES, DistillOptions

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
    p.add_argument("--steps", type=int, help=f"optimizer steps (default {d.steps})")
    p.add_argument("--batch-size", type=int, help="global batch (default: the teacher's)")
    p.add_argument("--lr", type=float, dest="learning_rate", help="peak learning rate (default: the teacher's)")
    p.add_argument("--warmup", type=float, help="warm-up: fraction of steps (<1) or steps (default: the teacher's)")
    p.add_argument("--grad-accumulation", type=int)
    p.add_argument("--precision", choices=("auto", "fp32", "bf16"), help="auto = bf16 autocast on CUDA")
    p.add_argument("--device", help="auto | cpu | cuda | mps")
    p.add_argument("--compile", action="store_true", help="torch.compile the student")
    p.add_argument("--eval-examples", type=int, help=f"held-out examples (default {d.eval_examples})")
    p.add_argument("--eval-every", type=int, help="held-out evaluation interval (0 = end)")
    p.add_argument("--checkpoint-every", type=int)
    p.add_argument("--log-every", type=int, help="metrics.jsonl line interval")
    p.add_argument("--seed", type=int, help=f"default {d.seed}")
    p.add_argument("--out", help=f"the student's run folder (default {d.out})")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its newest intact checkpoint (only --steps, --device, "
                        "--compile and the --*-every intervals may change)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=run)


def _layers(text: str):
    from bertlab.distill.run import parse_layers

    try:
        return parse_layers(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _weights(text: str):
    from bertlab.distill.run import parse_weights

    try:
        return parse_weights(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def run(args) -> int:
    from bertlab.distill.run import DistillOptions, distill, options_for_resume, summary_line

    given = vars(args)
    if given.get("steps", 1) <= 0:
        raise CliError(f"--steps must be positive, got {given['steps']}")
    values = {f.name: given[f.name] for f in dataclasses.fields(DistillOptions) if f.name in given}
    values["progress"] = not given.get("quiet", False)
    if given.get("resume"):  # the saved settings, with what --resume may change; a conflicting flag is refused
        options = options_for_resume(given.get("out", DistillOptions.out), changes=values)
    else:
        if "teacher" not in given:
            raise CliError("--teacher is required: the run folder of the model to distil from "
                           "(e.g. made with `bertlab pretrain --preset small --out runs/small`)")
        if "init" in given and given["init"] == "uniform":
            raise CliError("--init takes auto, random, every-other or teacher layers such as 0,2")
        options = DistillOptions(**values)
    result = distill(options)
    print(summary_line(result))
    if options.out:
        print(f"run folder: {options.out}  (explore it: bertlab dashboard --runs {Path(options.out).parent})")
    if result.status == "interrupted":
        print(f"continue with: bertlab distill --out {options.out} --resume")
        return 130
    return 0
