"""Kernel choices behind bertlab's CPU speed, each timed against the alternative it replaced.

    python benchmarks/bench_kernels.py [--threads 2] [--repeats 30]

1. Dropout mask (``bertlab/model/dropout.py``): ``F.dropout`` (a ``bernoulli_`` draw per element) vs bertlab's
   mask from 16-bit slices of 64-bit random words, on a tiny model's attention probabilities (32×2×128×128).
2. Attention in bf16 training on a CPU (``bertlab/model/attention.py``): ``scaled_dot_product_attention`` vs
   the written-out ``softmax(QKᵀ/√d + mask) V``, forward + backward, tiny shapes.
3. AdamW step (``bertlab/train/loop.py``): the per-parameter ``foreach`` implementation vs ``fused=True`` on a
   ``tiny`` BertForPreTraining's parameters.

Prints the median time of each over ``--repeats`` runs and the ratio. The numbers vary with the machine and
its load; run it on a quiet one (``benchmarks/README.md`` keeps the latest results).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from bertlab import BertForPreTraining, get_preset  # noqa: E402
from bertlab.model.dropout import dropout  # noqa: E402


def median_ms(fn, repeats: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def bench_dropout(repeats: int) -> tuple[float, float]:
    probs = torch.rand(32, 2, 128, 128)  # (B, A, T, T): tiny's attention probabilities
    return (median_ms(lambda: F.dropout(probs, 0.1, True), repeats),
            median_ms(lambda: dropout(probs, 0.1, True), repeats))


def bench_attention(repeats: int) -> tuple[float, float]:
    B, A, T, d = 32, 2, 128, 64  # tiny: H = 128, two heads of 64
    q, k, v = (torch.randn(B, A, T, d, requires_grad=True) for _ in range(3))
    mask = torch.zeros(B, 1, 1, T)

    def fused():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        out.float().sum().backward()

    def written_out():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            weights = (q * (1.0 / math.sqrt(d))) @ k.transpose(-1, -2) + mask.to(torch.bfloat16)
            out = weights.softmax(dim=-1) @ v
        out.float().sum().backward()

    return median_ms(fused, repeats), median_ms(written_out, repeats)


def bench_adamw(repeats: int) -> tuple[float, float]:
    times = []
    for fused in (False, True):
        model = BertForPreTraining(get_preset("tiny"))
        for p in model.parameters():
            p.grad = torch.randn_like(p) * 1e-3
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, foreach=not fused, fused=fused or None)
        times.append(median_ms(optimizer.step, repeats))
    return times[0], times[1]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; median of {args.repeats} runs\n")
    print("| kernel | before | after | speed-up |\n|---|---:|---:|---:|")
    rows = [("dropout mask on (32, 2, 128, 128): F.dropout → bertlab", bench_dropout),
            ("bf16 attention fwd+bwd, tiny shapes: SDPA → written out", bench_attention),
            ("AdamW step, tiny's 1.55M parameters: foreach → fused", bench_adamw)]
    for label, bench in rows:
        before, after = bench(args.repeats)
        print(f"| {label} | {before:.2f} ms | {after:.2f} ms | {before / after:.2f}× |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
