"""``bertlab pretrain``: train a BERT / ALBERT model on a corpus into a run folder."""

from __future__ import annotations

import argparse
import os

from bertlab import pretrain as pretraining
from bertlab.cli.binder import SCHEDULE, add_field_flags, check_steps, flag_settings, report_run
from bertlab.config import PRESETS, SHARE_MODES
from bertlab.data.attention_masks import MASK_KINDS
from bertlab.pretrain import OBJECTIVES, PretrainOptions, load_options_file, options_for_resume, summary_line
from bertlab.recipes import RECIPE_DESCRIPTIONS, recipe_options
from bertlab.train.distributed import cleanup


def register(subparsers) -> None:
    d = PretrainOptions()
    p = subparsers.add_parser(
        "pretrain", help="pre-train a BERT/ALBERT model on a corpus (MLM + NSP/SOP)",
        description="Pre-train a model into a run folder (config.json, metrics.jsonl, checkpoints, tokenizer). "
                    "Ctrl-C or SIGTERM ends the step in progress and saves a checkpoint (twice: abort without "
                    "saving); --resume continues it exactly. One process writes a run folder at a time.",
        epilog="example: bertlab pretrain --preset tiny --corpus wiki-en --steps 2000 --out runs/tiny",
        argument_default=argparse.SUPPRESS)  # only flags given explicitly reach PretrainOptions
    p.add_argument("--preset", choices=list(PRESETS), help=f"model shape (default {d.preset})")
    p.add_argument("--embedding-size", type=int, help="E, the token-embedding width (ALBERT factorization)")
    p.add_argument("--share-layers", choices=SHARE_MODES, help="ALBERT cross-layer sharing")
    p.add_argument("--corpus", help="built-in corpus name (see `bertlab corpus list`), "
                                    "a text file or a folder (default wiki-en); cedict-zh-en for the cross-lingual "
                                    "objectives")
    p.add_argument("--objective", choices=OBJECTIVES,
                   help="default mlm+nsp; on a parallel corpus (--corpus cedict-zh-en, --vocab-size 16384): xlm-mlm "
                        "(XLM's MLM on English and Chinese text), tlm (translation LM on the pairs), xlm-mlm+tlm "
                        "(alternating), translation-ranking (a LASER-style sentence encoder); docs/cross-lingual.md")
    p.add_argument("--language-embeddings", action="store_true",
                   help="XLM's language embeddings (one per language, added to the token embeddings)")
    p.add_argument("--masking", choices=("dynamic", "static"), help="default dynamic (RoBERTa)")
    p.add_argument("--attention-mask", dest="attention_mask_kind",
                   choices=MASK_KINDS,
                   help="UNILM self-attention mask (bertlab/data/attention_masks.py): bidirectional = BERT (default), "
                        "left-to-right = GPT-style, seq2seq = segment B decodes A (needs --objective mlm+nsp/sop)")
    p.add_argument("--masking-unit", choices=("token", "word", "knowledge"),
                   help="what one masking draw covers: token (BERT, default), word (whole-word masking), knowledge "
                        "(whole entities and phrases, ERNIE 1.0; bertlab/data/knowledge.py)")
    p.add_argument("--whole-word", action="store_true", help="whole-word masking (= --masking-unit word)")
    p.add_argument("--vocab-size", type=int, help=f"WordPiece vocabulary (default {d.vocab_size})")
    p.add_argument("--max-seq-length", type=int, help=f"default {d.max_seq_length}")
    p.add_argument("--nsp-weight", type=float, help="weight of the NSP/SOP loss")
    p.add_argument("--mlm-probability", type=float,
                   help=f"share of the tokens chosen for prediction (default {d.mlm_probability}: BERT's 15 %%; "
                        "held-out evaluation always masks 15 %%)")
    add_field_flags(p.add_argument_group("training (every trainer takes these)"), PretrainOptions, SCHEDULE)
    p.add_argument("--out", help=f"run folder (default {d.out})")

    described = "; ".join(f"{name} = {text}" for name, text in RECIPE_DESCRIPTIONS.items())
    p.add_argument("--recipe", choices=tuple(RECIPE_DESCRIPTIONS),  # argparse reads % in help as a format
                   help="start from a named recipe (bertlab/recipes.py; docs/recipe.md): "
                        + described.replace("%", "%%"))
    p.add_argument("--warmup-seq-length", type=int,
                   help="sequence-length warm-up: train the first --warmup-seq-steps on inputs this long")
    p.add_argument("--warmup-seq-steps", type=float, help="steps (or a fraction of --steps, < 1) on short inputs")
    p.add_argument("--warmup-mlm-probability", type=float,
                   help="masking rate on the short inputs (default: --mlm-probability; fast-cpu: 0.4)")
    p.add_argument("--warmup-seq-objective", choices=OBJECTIVES,
                   help="objective on the short inputs (default: --objective; fast-cpu: mlm, no sentence pairs)")
    p.add_argument("--config", help="JSON file of options and/or model fields (command-line flags given "
                                    "explicitly win)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its newest intact checkpoint (only --steps, --device, "
                        "--compile and the --*-every intervals may change)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=run)


def run(args) -> int:
    check_steps(args)
    given = vars(args)
    values = flag_settings(args, PretrainOptions, recipe_options(given["recipe"]) if "recipe" in given else {},
                           load_options_file(given["config"]) if "config" in given else {})
    if given.get("resume"):  # the saved settings, with what --resume may change; a conflicting flag is refused
        options = options_for_resume(given.get("out", PretrainOptions.out), changes=values)
    else:
        options = PretrainOptions(**values)
    result = pretraining.pretrain(options)  # looked up at call time: tests replace it
    cleanup()  # under torchrun: leave the process group before exiting
    if int(os.environ.get("RANK", 0)) != 0:
        return 0  # rank 0 reports for all
    return report_run("pretrain", summary_line(result), options.out, result.status)
