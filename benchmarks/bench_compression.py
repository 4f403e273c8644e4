"""CPU inference latency of compressed models: int8, unstructured and head pruning, a distilled student.

    python benchmarks/bench_compression.py [--from RUN] [--student RUN] [--preset small] [--batch 32]
                                           [--seq 128] [--repeats 20] [--threads 1] [--json FILE]

The original model is a pre-trained run (``--from``; its held-out inputs are the batch) or, without one, a
preset with random weights and random token ids (latency does not depend on what the weights are). From it
``bertlab.experiments.compression.compressed_models`` makes the same copies as ``bertlab experiment
compression``: dynamic int8, 30/50/70 % unstructured magnitude pruning, 25 % and 50 % of the heads removed
(Michel et al. importance on the batch with ``--from``, else the data-free weight-norm score) and the
head-pruned model in int8; ``--student`` adds a distilled student. Printed: parameters, the median over
``--repeats`` rounds of one forward pass (encoder + MLM at the masked positions + NSP, ``torch.inference_mode``;
the models take turns within each round, so a busy machine slows all of them alike), and original / model.
Accuracy is not measured here: that is the experiment's table.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bertlab.config import get_preset  # noqa: E402
from bertlab.experiments.compression import Plan, compressed_models, teacher_data  # noqa: E402
from bertlab.family import compression as c  # noqa: E402


def random_batch(vocab_size: int, batch: int, seq: int, seed: int = 0) -> dict:
    """Token ids and 15 % masked-LM labels, no padding."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, vocab_size, (batch, seq), generator=g)
    labels = torch.where(torch.rand(batch, seq, generator=g) < 0.15, ids, torch.full_like(ids, -100))
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "token_type_ids": torch.zeros_like(ids),
            "labels": labels}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--from", dest="from_run", help="a pre-trained run folder (default: --preset, random weights)")
    p.add_argument("--student", help="a distilled student's run folder, timed beside the others")
    p.add_argument("--preset", default="small", help="model shape without --from (default small: L4 H256 A4)")
    p.add_argument("--batch", type=int, default=32, help="sequences per forward pass (default 32)")
    p.add_argument("--seq", type=int, default=128, help="tokens per sequence without --from (default 128)")
    p.add_argument("--repeats", type=int, default=20, help="timed rounds (default 20)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--json", help="also write the numbers to this file")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    plan = Plan()
    if args.from_run:
        from bertlab.train.run import load_run

        run = load_run(args.from_run)
        original = run.model
        data = teacher_data(Path(args.from_run), run.tokenizer, args.batch)
        batch = data.train.batch(0, args.batch)  # importance scored on a training batch ...
        scores = c.head_importance(original, [batch])
        batch = data.held_out.batch(0, args.batch)  # ... latency timed on a held-out one
        source = f"{args.from_run} (held-out batch)"
    else:
        from bertlab.model import BertForPreTraining

        original = BertForPreTraining(get_preset(args.preset)).eval()
        batch = random_batch(original.config.vocab_size, args.batch, args.seq)
        scores = c.head_weight_norms(original)
        source = f"preset {args.preset}, random weights and ids"
    student = None
    if args.student:
        from bertlab.train.run import load_run

        student = load_run(args.student).model
    models = compressed_models(original, plan, scores, student)
    latency = c.cpu_latency({name: m for name, (m, _) in models.items()}, batch, repeats=args.repeats)
    shape = "×".join(str(n) for n in batch["input_ids"].shape)
    print(f"{source}; batch {shape}; torch {torch.__version__}, {torch.get_num_threads()} thread(s), "
          f"quantized engine {torch.backends.quantized.engine}; median of {args.repeats} rounds")
    print(f"{'model':<32} {'parameters':>12} {'ms/batch':>10} {'× vs original':>14}")
    rows = []
    for name, (model, description) in models.items():
        params = c.count_weights(model)
        ms = latency[name]
        rows.append({"model": name, "description": description, "parameters": params["total"],
                     "nonzero": params["nonzero"], "ms": ms, "speedup": latency["original"] / ms})
        print(f"{name:<32} {params['total'] / 1e6:>11.2f}M {ms:>10.1f} {latency['original'] / ms:>13.2f}×")
    if args.json:
        Path(args.json).write_text(json.dumps({"source": source, "batch": shape, "threads": torch.get_num_threads(),
                                               "torch": torch.__version__, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
