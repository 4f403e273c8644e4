"""``bertlab corpus list | stats NAME | mask TEXT``: look at the pre-training data before training on it."""

from __future__ import annotations

import argparse
import json
import random

from bertlab.config import IGNORE_INDEX
from bertlab.data import (BUILTIN_CORPORA, DEFAULT_CORPUS, PretrainingDataset, format_masked, get_tokenizer,
                          load_corpus, load_tokenizer, mask_text, tokenize_corpus)
from bertlab.data.parallel import PARALLEL_CORPORA, load_parallel
from bertlab.data.text import is_chinese


def register(subparsers) -> None:
    parser = subparsers.add_parser("corpus", help="built-in corpora, their statistics and masked examples",
                                   description="Inspect pre-training corpora: sizes, tokens and masked examples.")
    commands = parser.add_subparsers(dest="corpus_command", metavar="ACTION")
    parser.set_defaults(handler=lambda args: parser.print_help())

    p = commands.add_parser("list", help="the built-in corpora with their sizes")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=cmd_list)

    p = commands.add_parser("stats", help="documents, sentences, words, tokens, a sample and a masked example")
    p.add_argument("name", help="a built-in corpus (see `bertlab corpus list`), a text file or a folder")
    p.add_argument("--vocab-size", type=int, default=8192, help="WordPiece vocabulary size (default 8192)")
    p.add_argument("--cased", action="store_true", help="keep upper case (default: lower-case)")
    p.add_argument("--tokenizer", default=None,
                   help="count tokens with this tokenizer.json (or run folder) instead of training one")
    p.add_argument("--seed", type=int, default=0, help="seed of the sample and the masked example")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=cmd_stats)

    p = commands.add_parser("mask", help="tokenize and mask a text with the 80/10/10 rule")
    p.add_argument("text", help='e.g. "今天我玩DOTA" or "my dog is hairy"')
    p.add_argument("--corpus", default=None,
                   help="whose tokenizer to use (default: peoples-daily-zh for Chinese, wiki-en otherwise)")
    p.add_argument("--vocab-size", type=int, default=8192)
    p.add_argument("--token-level", action="store_true", help="mask tokens, not whole words")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(handler=cmd_mask)


def _sizes(corpus) -> dict:
    return {"documents": corpus.num_documents, "sentences": corpus.num_sentences, "words": corpus.num_words}


def _parallel_row(name: str) -> dict:
    corpus = load_parallel(name)
    return {"name": name, "kind": "parallel", "language": "-".join(corpus.languages),
            "description": corpus.description, "licence": corpus.licence, "pairs": len(corpus.pairs),
            "train_pairs": len(corpus.train), "held_out_pairs": len(corpus.held_out)}


def cmd_list(args: argparse.Namespace) -> int:
    rows = []
    for name, spec in BUILTIN_CORPORA.items():
        rows.append({"name": name, "language": spec.language, "description": spec.description,
                     "default": name == DEFAULT_CORPUS, **_sizes(load_corpus(name))})
    parallel = [_parallel_row(name) for name in PARALLEL_CORPORA]
    if args.json:
        print(json.dumps(rows + parallel, indent=2, ensure_ascii=False))
        return 0
    print(f"{'name':<18} {'lang':<4} {'documents':>9} {'sentences':>9} {'words':>9}  description")
    for r in rows:
        name = r["name"] + (" *" if r["default"] else "")
        print(f"{name:<18} {r['language']:<4} {r['documents']:>9,} {r['sentences']:>9,} {r['words']:>9,}  "
              f"{r['description']}")
    print("* the default corpus. Any UTF-8 text file or folder works too: bertlab corpus stats path/to/text.txt")
    print("\nparallel corpora (translation pairs for --objective tlm / xlm-mlm+tlm / translation-ranking):")
    print(f"{'name':<18} {'lang':<6} {'pairs':>9} {'train':>9} {'held-out':>9}  description; licence")
    for r in parallel:
        print(f"{r['name']:<18} {r['language']:<6} {r['pairs']:>9,} {r['train_pairs']:>9,} {r['held_out_pairs']:>9,}  "
              f"{r['description']}; {r['licence']}")
    return 0


def corpus_stats(name: str, vocab_size: int = 8192, lowercase: bool = True, seed: int = 0,
                 tokenizer_path: str | None = None) -> dict:
    """The numbers `bertlab corpus stats` prints, plus a sample sentence and a masked pre-training example."""
    corpus = load_corpus(name)
    if tokenizer_path:
        tokenizer = load_tokenizer(tokenizer_path)
        lowercase = tokenizer.normalizer is not None and tokenizer.normalizer.normalize_str("A") == "a"
    else:
        tokenizer = get_tokenizer(corpus, vocab_size=vocab_size, lowercase=lowercase)
    tokens = tokenize_corpus(corpus, tokenizer)
    rng = random.Random(seed)
    readable = [s for s in corpus.sentences() if 8 <= len(s) <= 30] or list(corpus.sentences())
    stats = {"name": corpus.name, "language": corpus.language, "description": corpus.description,
             **_sizes(corpus), "tokens": tokens.num_tokens, "vocab_size": tokenizer.get_vocab_size(),
             "lowercase": lowercase, "tokens_per_word": round(tokens.num_tokens / corpus.num_words, 3),
             "sample": corpus.sentence_text(rng.choice(readable))}
    objective = "mlm+nsp" if corpus.num_documents >= 2 else "mlm"
    try:
        data = PretrainingDataset(corpus, tokenizer, max_seq_length=48, objective=objective, masking="static",
                                  whole_word=corpus.language == "zh", seed=seed, dupe_factor=1)
    except ValueError:  # too little text for pairs: show a full-sentence example instead
        objective = "mlm"
        data = PretrainingDataset(corpus, tokenizer, max_seq_length=48, objective=objective, masking="static",
                                  whole_word=corpus.language == "zh", seed=seed, dupe_factor=1)
    example = data[rng.randrange(len(data))]
    labels = example["labels"].tolist()
    stats["masked_example"] = {
        "objective": objective, "masking": "static", "whole_word": data.whole_word, "max_seq_length": 48,
        "input": [tokenizer.id_to_token(int(i)) for i in example["input_ids"]],
        "targets": [None if t == IGNORE_INDEX else tokenizer.id_to_token(t) for t in labels],
        "token_type_ids": example["token_type_ids"].tolist(),
        "next_sentence_label": example["next_sentence_label"]}
    return stats


def parallel_stats(name: str, seed: int = 0) -> dict:
    """`bertlab corpus stats` of a parallel corpus: the cleaning rule's counts, the split and sample pairs."""
    corpus = load_parallel(name)
    rng = random.Random(seed)
    held_words = {corpus.pairs[i][0] for i in corpus.held_out}
    return {**_parallel_row(name), "cleaning": dict(corpus.report.__dict__),
            "zh_characters": sum(len(zh) for zh, _ in corpus.pairs),
            "en_words": sum(len(en.split()) for _, en in corpus.pairs),
            "train_sample": [corpus.pairs[i] for i in rng.sample(corpus.train, 5)],
            "held_out_sample": [corpus.pairs[i] for i in rng.sample(corpus.held_out, 3)],
            "held_out_never_in_train": not any(corpus.pairs[i][0] in held_words for i in corpus.train)}


def print_parallel_stats(stats: dict) -> None:
    c = stats["cleaning"]
    print(f"corpus:     {stats['name']} ({stats['language']}, parallel) - {stats['description']}")
    print(f"licence:    {stats['licence']}")
    print(f"entries:    {c['entries']:,} in the file; dropped {c['bad_headword']:,} (headword not 1-8 Chinese "
          f"characters) and {c['no_gloss_left']:,} (only surname / variant / see / classifier notes); "
          f"{c['merged']:,} merged into an entry with the same headword")
    print(f"pairs:      {stats['pairs']:,} ({stats['zh_characters']:,} Chinese characters, {stats['en_words']:,} "
          f"English words): {stats['train_pairs']:,} train, {stats['held_out_pairs']:,} held out by headword")
    for label, key in (("train", "train_sample"), ("held-out", "held_out_sample")):
        for zh, en in stats[key]:
            print(f"{label + ':':<11} {zh}  =  {en}")


def cmd_stats(args: argparse.Namespace) -> int:
    if args.name in PARALLEL_CORPORA:
        stats = parallel_stats(args.name, args.seed)
        if args.json:
            print(json.dumps(stats, indent=2, ensure_ascii=False))
        else:
            print_parallel_stats(stats)
        return 0
    stats = corpus_stats(args.name, args.vocab_size, not args.cased, args.seed, args.tokenizer)
    if args.json:
        print(json.dumps(stats, indent=2, ensure_ascii=False))
        return 0
    casing = "lower-cased" if stats["lowercase"] else "cased"
    print(f"corpus:     {stats['name']} ({stats['language']}) - {stats['description']}")
    for key in ("documents", "sentences", "words"):
        print(f"{key + ':':<11} {stats[key]:,}")
    print(f"tokens:     {stats['tokens']:,} (WordPiece, vocabulary {stats['vocab_size']:,}, {casing}; "
          f"{stats['tokens_per_word']:.2f} tokens per word)")
    print(f"sample:     {stats['sample']}")
    ex = stats["masked_example"]
    label = {None: "", 0: ", next_sentence_label 0 (IsNext)", 1: ", next_sentence_label 1 (NotNext)"}
    kind = "whole-word" if ex["whole_word"] else "token"
    print(f"masked example ({ex['objective']}, {kind} masking, seed {args.seed}{label[ex['next_sentence_label']]}):")
    shown = [tok if target is None else f"{tok}({target})" if tok != target else f"{tok}(=)"
             for tok, target in zip(ex["input"], ex["targets"])]
    print("  " + " ".join(shown))
    print("  (a chosen token shows its target in brackets; (=) = chosen but left unchanged)")
    return 0


def cmd_mask(args: argparse.Namespace) -> int:
    corpus = args.corpus or ("peoples-daily-zh" if is_chinese(args.text) else "wiki-en")
    tokenizer = get_tokenizer(corpus, vocab_size=args.vocab_size)
    print(format_masked(mask_text(args.text, tokenizer, whole_word=not args.token_level, seed=args.seed)))
    return 0
