"""Where bertlab's fp32 training step spends its time, by kind of operation (torch.profiler).

    python benchmarks/profile_step.py [--presets tiny,small,mini] [--steps 2] [--threads N] [--model bertlab|transformers]

The step is ``benchmarks/bench_speed.py``'s (same batches, forward with MLM and NSP labels, backward, clipping,
AdamW). Each aten operator's self time is summed into a few groups (matrix products, soft-max, dropout and
element-wise products, copies, ...), printed as shares of the operators' total. Beside them: the share of the
process's CPU time spent in the kernel and the page faults per step (fresh large tensors are zero-filled
pages the kernel hands out one 4 KiB page at a time: on a busy or virtualised machine that is not free).
"""

from __future__ import annotations

import argparse
import resource
import sys
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_speed  # noqa: E402

GROUPS = {
    "matmul": ("aten::mm", "aten::addmm", "aten::bmm"),
    "copies (strided -> contiguous, cat, bias broadcast)": ("aten::copy_", "aten::cat", "aten::clone"),
    "softmax / log-softmax": ("aten::_softmax", "aten::_softmax_backward_data", "aten::_log_softmax",
                              "aten::_log_softmax_backward_data", "aten::exp_"),
    "dropout masks, element-wise products": ("aten::random_", "aten::clamp_", "aten::mul", "aten::mul_", "aten::sub_"),
    "adds, bias-gradient sums, fills": ("aten::add", "aten::add_", "aten::sum", "aten::fill_", "aten::zero_"),
    "GELU": ("aten::gelu", "aten::gelu_backward"),
    "LayerNorm": ("aten::native_layer_norm", "aten::native_layer_norm_backward"),
    "AdamW, clipping": ("aten::_fused_adamw_", "aten::_foreach_norm", "aten::_foreach_mul_",
                        "aten::linalg_vector_norm", "aten::stack"),
    "embeddings, indexing": ("aten::embedding", "aten::embedding_dense_backward", "aten::index",
                             "aten::_index_put_impl_", "aten::nonzero", "aten::index_select", "aten::gather"),
}


def profile_preset(preset: str, which: str, batches: list[dict], vocab_size: int, steps: int) -> str:
    """One line: the groups' shares of operator time, kernel share of CPU time, page faults per step."""
    device = torch.device("cpu")
    pair, _ = bench_speed.build_pair(preset, vocab_size, device, which=(which,))
    model, optimizer = pair[which]
    autocast = bench_speed.autocast_for(device, "fp32")
    for b in batches[:2]:  # warm-up
        bench_speed.train_step(model, optimizer, b, autocast)
    before = resource.getrusage(resource.RUSAGE_SELF)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for i in range(steps):
            bench_speed.train_step(model, optimizer, batches[i % len(batches)], autocast)
    after = resource.getrusage(resource.RUSAGE_SELF)
    self_time = {e.key: e.self_cpu_time_total for e in prof.key_averages()}
    total = sum(self_time.values())
    shares = {g: sum(self_time.get(op, 0) for op in ops) / total for g, ops in GROUPS.items()}
    shares["other"] = 1.0 - sum(shares.values())
    user, system = after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime
    faults = (after.ru_minflt - before.ru_minflt) / steps
    return (f"{preset} ({which}): " + "; ".join(f"{g} {s:.0%}" for g, s in sorted(shares.items(), key=lambda x: -x[1]))
            + f" | kernel {system / max(user + system, 1e-9):.0%} of CPU time, {faults:,.0f} page faults/step")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", default="tiny,small,mini")
    parser.add_argument("--steps", type=int, default=2, help="profiled steps per preset (after 2 warm-up steps)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--model", choices=("bertlab", "transformers"), default="bertlab")
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error(f"--steps must be at least 1, got {args.steps}")
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.model == "transformers":
        import transformers

        transformers.logging.set_verbosity_error()
    batches, vocab_size = bench_speed.load_batches(max(args.steps, 2), torch.device("cpu"))
    print(f"CPU, {torch.get_num_threads()} threads; fp32; shares of operator self time over {args.steps} steps")
    for preset in args.presets.split(","):
        print(profile_preset(preset, args.model, batches, vocab_size, args.steps), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
