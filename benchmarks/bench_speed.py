"""Training speed: bertlab's BertForPreTraining against transformers' on the same weights and batches.

    python benchmarks/bench_speed.py [--presets tiny,small,mini] [--steps 4] [--rounds 8]
                                     [--precision fp32|bf16] [--no-memory]

For each preset both models start from identical weights (``bertlab.interop.to_transformers``; transformers
with its default SDPA attention), see identical real batches (wiki-en, WordPiece 8192, seq 128, batch 32,
NSP pairs, dynamic 15 % masking) and take identical training steps: forward with the MLM and NSP labels,
backward, gradient clipping, AdamW (bertlab's optimizer settings for both). The two models alternate in
rounds inside one process (the machine may be shared: only a ratio of things timed side by side means
much). Printed per preset:

- tokens/s of each (real tokens, padding excluded), best round and median round, and the ratio: the median
  over rounds of (transformers' time / bertlab's time) on the same batches; the target from issue #4;
- model FLOPs utilisation (MFU) against a matmul peak measured here at the same precision. FLOPs counted:
  6 x (multiply-adds of every matmul per position) for forward + backward, i.e. the Linear layers, QK^T and
  (attention weights) x V at the padded length, the MLM transform + vocabulary projection at the positions
  where it is computed, pooler and NSP classifier once per sequence; embeddings, LayerNorm, softmax,
  GELU, dropout and the optimizer count 0. transformers computes MLM logits at every position; bertlab only
  at the ~15 % masked ones. So bertlab's MFU is given twice: with the FLOPs it actually does, and "dense-eq."
  with the FLOPs of the all-positions computation (what its tokens/s would be worth at transformers' work);
- peak memory of each: a fresh subprocess per model builds it and its batches, resets the kernel's peak-RSS
  counter (``/proc/self/clear_refs``), trains a few steps and reads ``VmHWM``: the peak resident memory
  that training added on top of the idle process (weights, gradients, AdamW state, activations, allocator
  slack). torch's CPU allocator has no peak counter of its own, and tracemalloc sees no tensor memory. On
  CUDA it is ``torch.cuda.max_memory_allocated`` instead.

On a CUDA GPU the default precision is bf16 (autocast) and the peak is the GPU's measured bf16 matmul rate.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bertlab.config import get_preset  # noqa: E402

TARGETS = {"tiny": 3.0, "small": 2.0, "mini": 1.5}  # fp32, 2 threads, wall clock on a 2-core CPU (docs/pretraining.md)
SEQ, BATCH, VOCAB = 128, 32, 8192


# ------------------------------------------------------------------------------------------------ FLOPs
def step_flops(config, batch: dict, mlm: str) -> float:
    """Matmul FLOPs of one training step (forward + backward = 3 x forward) on ``batch``.

    ``mlm="sparse"``: the MLM head runs at the masked positions only (bertlab); ``"dense"``: at every
    position (transformers)."""
    B, T = batch["input_ids"].shape
    H, I, V, E, L = (config.hidden_size, config.intermediate_size, config.vocab_size, config.E,
                     config.num_hidden_layers)
    positions = B * T
    per_position = L * (4 * H * H + 2 * H * I + 2 * T * H)  # Q, K, V, output; FFN in and out; QK^T and AV
    if config.is_factorized:
        per_position += E * H
    mlm_positions = int((batch["labels"] != -100).sum()) if mlm == "sparse" else positions
    forward_mac = positions * per_position + mlm_positions * (H * E + E * V) + B * (H * H + 2 * H)
    return 6.0 * forward_mac  # 2 FLOPs per multiply-add, x3 for forward + backward


def matmul_peak(device: torch.device, dtype: torch.dtype, seconds: float = 1.0, clock=time.perf_counter) -> float:
    """Best GFLOP/s of square matrix products (sizes 1024..4096) at ``dtype``."""
    best = 0.0
    for n in (1024, 2048, 4096) if device.type == "cuda" else (1024, 2048):
        a = torch.randn(n, n, device=device, dtype=dtype)
        b = torch.randn(n, n, device=device, dtype=dtype)
        a @ b
        sync(device)
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            reps = 20 if device.type == "cuda" else 2
            start = clock()
            for _ in range(reps):
                a @ b
            sync(device)
            best = max(best, reps * 2 * n ** 3 / max(clock() - start, 1e-9) / 1e9)
    return best


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ------------------------------------------------------------------------------------------ the models
def load_batches(n: int, device: torch.device) -> list[dict]:
    from bertlab.pretrain import PretrainOptions, build_data

    data = build_data(PretrainOptions(corpus="wiki-en", vocab_size=VOCAB, max_seq_length=SEQ, progress=False))
    return [{k: v.to(device) for k, v in data.train.batch(i, BATCH).items()} for i in range(n)], \
        data.tokenizer.get_vocab_size()


def build_pair(preset: str, vocab_size: int, device: torch.device, which=("bertlab", "transformers")):
    """bertlab's model and transformers' copy of it (identical weights), each with its optimizer."""
    from bertlab.interop import to_transformers
    from bertlab.model import BertForPreTraining
    from bertlab.train.loop import TrainSettings, make_optimizer

    torch.manual_seed(0)
    ours = BertForPreTraining(get_preset(preset, vocab_size=vocab_size)).train()
    models = {"bertlab": ours}
    if "transformers" in which:
        models["transformers"] = to_transformers(ours, attn_implementation="sdpa").train()
    models = {k: v.to(device) for k, v in models.items() if k in which}
    settings = TrainSettings(learning_rate=1e-4)
    return {name: (model, make_optimizer(model, settings)) for name, model in models.items()}, ours.config


def train_step(model, optimizer, batch: dict, autocast) -> None:
    with autocast():
        out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                    token_type_ids=batch["token_type_ids"], labels=batch["labels"],
                    next_sentence_label=batch["next_sentence_label"])
    out.loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def autocast_for(device: torch.device, precision: str):
    if precision == "bf16":
        return lambda: torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return nullcontext


# ------------------------------------------------------------------------------------------- measuring
def time_preset(preset: str, batches: list[dict], vocab_size: int, device, precision: str, steps: int,
                rounds: int, clock=time.perf_counter) -> dict:
    pair, config = build_pair(preset, vocab_size, device)
    autocast = autocast_for(device, precision)
    tokens = [float(b["attention_mask"].sum()) for b in batches]
    names = list(pair)
    for name in names:  # warm-up: first calls allocate, pick kernels
        for b in batches[:2]:
            train_step(*pair[name], b, autocast)
    sync(device)
    seconds = {name: [] for name in names}
    cursor = 0
    for r in range(rounds):
        chosen = [batches[(cursor + i) % len(batches)] for i in range(steps)]
        cursor += steps
        for name in (names if r % 2 == 0 else names[::-1]):  # alternate who goes first
            model, optimizer = pair[name]
            start = clock()
            for b in chosen:
                train_step(model, optimizer, b, autocast)
            sync(device)
            seconds[name].append(clock() - start)
    round_tokens = [sum(tokens[(r * steps + i) % len(batches)] for i in range(steps)) for r in range(rounds)]
    round_flops = {mode: [sum(step_flops(config, batches[(r * steps + i) % len(batches)], mode)
                              for i in range(steps)) for r in range(rounds)] for mode in ("sparse", "dense")}
    result = {"preset": preset, "config": config, "rounds": rounds, "steps": steps}
    for name in names:
        rates = [t / s for t, s in zip(round_tokens, seconds[name])]
        mode = "sparse" if name == "bertlab" else "dense"
        best = min(range(rounds), key=lambda r: seconds[name][r])
        result[name] = {"tokens_per_s_best": max(rates), "tokens_per_s_median": statistics.median(rates),
                        "flops_per_s_best": round_flops[mode][best] / seconds[name][best],
                        "dense_flops_per_s_best": round_flops["dense"][best] / seconds[name][best]}
    result["ratio_median"] = statistics.median(h / o for h, o in zip(seconds["transformers"], seconds["bertlab"]))
    result["ratio_best"] = min(seconds["transformers"]) / min(seconds["bertlab"])
    result["ratio_rounds"] = [h / o for h, o in zip(seconds["transformers"], seconds["bertlab"])]
    return result


def memory_child(preset: str, which: str, device_name: str, precision: str, steps: int) -> None:
    """Run in a subprocess: print the peak memory one model's training adds (bytes) as JSON."""
    device = torch.device(device_name)
    batches, vocab_size = load_batches(steps, device)
    pair, _ = build_pair(preset, vocab_size, device, which=(which,))
    model, optimizer = pair[which]
    autocast = autocast_for(device, precision)
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        for b in batches:
            train_step(model, optimizer, b, autocast)
        torch.cuda.synchronize()
        print(json.dumps({"peak_bytes": torch.cuda.max_memory_allocated() - before, "method": "cuda"}))
        return
    rss_before = _status_kib("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:  # reset VmHWM (peak RSS) to the current RSS
        f.write("5")
    for b in batches:
        train_step(model, optimizer, b, autocast)
    print(json.dumps({"peak_bytes": (_status_kib("VmHWM") - rss_before) * 1024, "method": "VmHWM"}))


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def measure_memory(preset: str, which: str, device, precision: str, steps: int = 4, repeats: int = 2) -> float | None:
    """Peak bytes of ``which``'s training in a fresh subprocess (the smallest of ``repeats`` runs)."""
    if device.type == "cpu" and not Path("/proc/self/clear_refs").exists():
        return None
    values = []
    for _ in range(repeats):
        out = subprocess.run([sys.executable, __file__, "--_memory-child", preset, which, str(device), precision,
                              str(steps)], capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
        if out.returncode != 0:
            print(f"memory measurement failed for {preset}/{which}:\n{out.stderr[-2000:]}", file=sys.stderr)
            return None
        values.append(json.loads(out.stdout.strip().splitlines()[-1])["peak_bytes"])
    return min(values)


# --------------------------------------------------------------------------------------------- report
def table_row(r: dict, peak: float, precision: str, device: torch.device) -> str:
    """One markdown row of the result table; MFU against ``peak`` GFLOP/s."""
    o, h = r["bertlab"], r["transformers"]
    target = TARGETS.get(r["preset"])
    verdict = "" if target is None or precision != "fp32" or device.type != "cpu" else \
        (" (met)" if r["ratio_median"] >= target else f" (missed by {target - r['ratio_median']:.2f})")
    mem = r.get("memory", {})
    fmt = lambda b: "n/a" if b is None else f"{b / 2**20:,.0f} MiB"  # noqa: E731
    return (f"| {r['preset']} | {o['tokens_per_s_best']:,.0f} | {h['tokens_per_s_best']:,.0f} | "
            f"{r['ratio_median']:.2f}x / {r['ratio_best']:.2f}x | "
            f"{'' if target is None else f'>= {target}x'}{verdict} | "
            f"{o['flops_per_s_best'] / 1e9 / peak:.1%} ({o['dense_flops_per_s_best'] / 1e9 / peak:.1%}) | "
            f"{h['flops_per_s_best'] / 1e9 / peak:.1%} | {fmt(mem.get('bertlab'))} | "
            f"{fmt(mem.get('transformers'))} |")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", default="tiny,small,mini")
    parser.add_argument("--steps", type=int, default=4, help="training steps per model per round")
    parser.add_argument("--rounds", type=int, default=8, help="alternating rounds per preset")
    parser.add_argument("--precision", choices=("fp32", "bf16"), help="default: bf16 on CUDA, fp32 on CPU")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="wall: elapsed time; cpu: this process's CPU time, which other processes on a shared "
                             "machine barely change (use it with --threads 1: with more threads it also counts "
                             "threads spinning while they wait for each other)")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.add_argument("--_memory-child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args._memory_child:
        preset, which, device_name, precision, steps = args._memory_child
        memory_child(preset, which, device_name, precision, int(steps))
        return 0
    import transformers

    transformers.logging.set_verbosity_error()
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))
    precision = args.precision or ("bf16" if device.type == "cuda" else "fp32")
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else \
        f"CPU, {torch.get_num_threads()} threads ({os.cpu_count()} cores)"
    print(f"device: {name}; precision: {precision}; torch {torch.__version__}, transformers {transformers.__version__}")
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    peak = matmul_peak(device, dtype, clock=clock)
    print(f"measured matmul peak ({precision}), first measurement: {peak:,.0f} GFLOP/s "
          "(re-measured after each model; the table uses the best)", flush=True)
    batches, vocab_size = load_batches(16, device)
    mean_len = statistics.mean(float(b["attention_mask"].sum()) / b["attention_mask"].shape[0] for b in batches)
    print(f"batches: wiki-en, batch {BATCH}, max seq {SEQ} (mean {mean_len:.0f} real tokens per sequence), "
          f"vocab {vocab_size}; {args.rounds} rounds x {args.steps} steps per model\n")
    results = []
    header = ("| preset | bertlab tok/s | transformers tok/s | ratio (median / best) | target | "
              "MFU bertlab (dense-eq.) | MFU transformers | peak mem bertlab | peak mem transformers |")
    for preset in args.presets.split(","):
        r = time_preset(preset, batches, vocab_size, device, precision, args.steps, args.rounds,
                        clock=clock)
        peak = max(peak, matmul_peak(device, dtype, seconds=0.5, clock=clock))  # the best seen so far
        if not args.no_memory:
            r["memory"] = {w: measure_memory(preset, w, device, precision) for w in ("bertlab", "transformers")}
        results.append(r)
        print(f"{preset}: ratio per round " + " ".join(f"{x:.2f}" for x in r["ratio_rounds"]), flush=True)
    # every row's MFU against the same peak: the best matmul rate seen during the whole benchmark
    rows = [table_row(r, peak, precision, device) for r in results]
    print("\n" + header)
    print("|" + "---|" * (header.count("|") - 1))
    print("\n".join(rows))
    print(f"\ntok/s: best round; ratio: median over rounds of transformers' time / bertlab's time on the same "
          f"batches (best: best round vs best round). MFU: model FLOPs/s in the best round / measured "
          f"{precision} matmul peak ({peak:,.0f} GFLOP/s).")
    if args.json:
        for r in results:
            r["config"] = r["config"].to_dict()
        Path(args.json).write_text(json.dumps({"device": name, "precision": precision, "peak_gflops": peak,
                                               "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
