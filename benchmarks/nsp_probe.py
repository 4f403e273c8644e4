"""Why held-out NSP stays at chance: does a run's NSP head generalise, and is the signal in the data?

    python benchmarks/nsp_probe.py --run runs/NAME [--checkpoint step-003089]   # a pre-training run
    python benchmarks/nsp_probe.py [--vocab-size 2048]                            # the data only

For a run (``bertlab pretrain ... --objective mlm+nsp``) it scores the NSP head on fresh pairs from the
*training* documents and on the held-out pairs the run evaluates on, with two numbers each:
accuracy (what metrics.jsonl logs) and AUC (the chance that a NotNext pair gets a higher NotNext logit than
an IsNext pair; 0.5 = no signal, whatever the head's bias). Training AUC well above held-out AUC means the
model learnt *which training article* a segment comes from, not whether two segments share a topic.

Both with and without a run it prints what a rule with no learning gets on the same kinds of pairs: lesson
2's overlap of A's and B's content words (``bertlab.lessons.inspect``). BERT's NotNext segment comes from
another document (§3.1), so this topic cue is what NSP mostly rewards (ALBERT §4.2; docs/recipe.md).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bertlab.lessons.inspect import nsp_scores, pair_overlaps, roc_auc, threshold_accuracy  # noqa: E402
from bertlab.pretrain import PretrainOptions, build_data  # noqa: E402


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", help="a pre-training run folder with --objective mlm+nsp")
    parser.add_argument("--checkpoint", help="a checkpoint of the run (default: its final weights)")
    parser.add_argument("--vocab-size", type=int, default=2048, help="without --run: the WordPiece vocabulary")
    parser.add_argument("--train-batches", type=int, default=16, help="batches of 64 training pairs to score")
    args = parser.parse_args(argv)
    if args.train_batches < 1:
        parser.error(f"--train-batches must be at least 1, got {args.train_batches}")

    run = None
    if args.run:
        from bertlab import load_run

        try:
            run = load_run(args.run, args.checkpoint)
        except (FileNotFoundError, ValueError) as err:  # not a run folder, no such checkpoint: say which
            sys.exit(f"nsp_probe: {err}")
        saved = dict(run.config.get("options") or {})
        if saved.get("objective") != "mlm+nsp":
            sys.exit(f"{args.run} was not trained with --objective mlm+nsp (its objective: {saved.get('objective')})")
        saved.update(warmup_seq_length=0, warmup_seq_steps=0.0, out=None, resume=False)
        options = PretrainOptions(**saved)
    else:
        options = PretrainOptions(preset="tiny", corpus="wiki-en", objective="mlm+nsp", vocab_size=args.vocab_size,
                                  out=None)
    data = build_data(options, tokenizer=run.tokenizer if run else None)
    train_batches = [data.train.batch(step, 64) for step in range(args.train_batches)]
    held_out = data.eval_batches
    print(f"{options.corpus}: held-out pairs {sum(len(b['input_ids']) for b in held_out)}, training pairs scored "
          f"{64 * len(train_batches)}, vocabulary {data.tokenizer.get_vocab_size()}")

    print("\n| NSP scorer | training pairs: acc / AUC | held-out pairs: acc / AUC |\n|---|---|---|")
    rule = []
    for dataset in (data.train, data.held_out):  # lesson 2's rule: content-word overlap of A and B
        overlaps, labels = pair_overlaps(dataset, num_examples=64 * args.train_batches)
        rule.append(f"{threshold_accuracy(overlaps, labels)[0]:.1%} / {roc_auc(-overlaps, labels):.2f}")
    print(f"| content-word overlap of A and B (lesson 2; threshold fitted on half the pairs) | {rule[0]} | {rule[1]} |")
    if run is not None:
        train_scores, train_y = nsp_scores(run.model, train_batches)
        test_scores, test_y = nsp_scores(run.model, held_out)
        print(f"| the run's NSP head ({Path(run.weights).parent.name}/{Path(run.weights).name}) "
              f"| {((train_scores > 0) == train_y).mean():.1%} / {roc_auc(train_scores, train_y):.2f} "
              f"| {((test_scores > 0) == test_y).mean():.1%} / {roc_auc(test_scores, test_y):.2f} |")


if __name__ == "__main__":
    main()
