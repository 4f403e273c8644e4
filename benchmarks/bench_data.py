"""Does the data pipeline keep up with training? Collator examples/s vs tiny-model training tokens/s.

    python benchmarks/bench_data.py [--corpus wiki-en] [--seconds 3] [--rounds 3]

Measures, at seq 128 and batch 32, alternating in one process (the machine may be shared, so the
ratio of two things timed side by side is what counts):
  - ``dataset.batch(step)``: the training loop's path (dynamic masking, token- and whole-word), running
    through epoch boundaries so that building each epoch's fresh NSP pairs is counted;
  - the collator on a list of example dicts (the generic path, e.g. behind a DataLoader);
  - forward + backward + AdamW steps of the ``tiny`` preset (bertlab.model, else transformers' BERT).
Target: the data side at least 10x faster than training, in tokens per second.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bertlab.data import PretrainingCollator, PretrainingDataset, get_tokenizer, load_corpus  # noqa: E402

SEQ, BATCH = 128, 32


def tiny_model(vocab_size: int):
    """The ``tiny`` preset (L2 H128 A2): bertlab's own model if importable, else transformers' twin."""
    try:
        from bertlab.config import get_preset
        from bertlab.model import BertForPreTraining

        return BertForPreTraining(get_preset("tiny", vocab_size=vocab_size)), "bertlab.model.BertForPreTraining"
    except ImportError:
        from transformers import BertConfig, BertForPreTraining

        config = BertConfig(vocab_size=vocab_size, hidden_size=128, num_hidden_layers=2, num_attention_heads=2,
                            intermediate_size=512)
        return BertForPreTraining(config), "transformers.BertForPreTraining (bertlab.model not importable)"


def timed(fn, seconds: float) -> tuple[int, float, int]:
    """Call ``fn(i)`` until ``seconds`` have passed: (calls, elapsed, tokens it reported)."""
    calls, tokens, start = 0, 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        tokens += fn(calls)
        calls += 1
    return calls, time.perf_counter() - start, tokens


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="wiki-en")
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="alternations of data and training timings")
    args = parser.parse_args(argv)

    corpus = load_corpus(args.corpus)
    tokenizer = get_tokenizer(corpus)
    vocab = tokenizer.get_vocab_size()
    data = PretrainingDataset(corpus, tokenizer, max_seq_length=SEQ, objective="mlm+nsp", masking="dynamic")
    wwm = PretrainingDataset(corpus, tokenizer, max_seq_length=SEQ, objective="mlm+nsp", whole_word=True)
    examples = [data[i] for i in range(len(data))]
    collator = PretrainingCollator(tokenizer)
    model, model_name = tiny_model(vocab)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)

    # Steps run on through epoch boundaries, so the cost of building each epoch's new NSP pairs is included.
    def dataset_batch(i):
        return int(data.batch(i, BATCH)["attention_mask"].sum())

    def wwm_batch(i):
        return int(wwm.batch(i, BATCH)["attention_mask"].sum())

    def collate_dicts(i):
        start = (i * BATCH) % (len(examples) - BATCH)
        return int(collator(examples[start:start + BATCH])["attention_mask"].sum())

    fixed = [data.batch(i, BATCH) for i in range(4)]

    def train_step(i):
        batch = fixed[i % len(fixed)]
        out = model(**batch)
        loss = out.loss if hasattr(out, "loss") else out[0]
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return int(batch["attention_mask"].sum())

    print(f"corpus {corpus.name}: {len(data):,} examples of up to {SEQ} tokens; batch {BATCH}; "
          f"torch threads {torch.get_num_threads()}")
    print(f"model: {model_name}, tiny preset, vocab {vocab:,}")
    train_step(0)  # warm-up
    results = {"dataset.batch": [], "dataset.batch whole-word": [], "collator(list of dicts)": [], "train": []}
    for r in range(args.rounds):
        for name, fn in (("dataset.batch", dataset_batch), ("dataset.batch whole-word", wwm_batch),
                         ("collator(list of dicts)", collate_dicts), ("train", train_step)):
            calls, elapsed, tokens = timed(fn, args.seconds if name != "train" else 2 * args.seconds)
            results[name].append((calls * BATCH / elapsed, tokens / elapsed))
    best = {name: max(rows, key=lambda row: row[1]) for name, rows in results.items()}
    train_tps = best["train"][1]
    print(f"{'':<26}{'examples/s':>12}{'tokens/s':>12}{'x training':>12}")
    for name, (eps, tps) in best.items():
        ratio = "" if name == "train" else f"{tps / train_tps:.0f}x"
        print(f"{name:<26}{eps:>12,.0f}{tps:>12,.0f}{ratio:>12}")
    slowest = min(best[n][1] for n in best if n != "train")
    verdict = "OK" if slowest >= 10 * train_tps else "TOO SLOW"
    print(f"data side / training (slowest data path): {slowest / train_tps:.0f}x  (target >= 10x: {verdict})")
    return 0 if verdict == "OK" else 1


if __name__ == "__main__":
    sys.exit(main())
