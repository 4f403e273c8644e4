"""``bertlab params``: parameter counts by component for a preset, with ALBERT's knobs."""

from __future__ import annotations

import json

from bertlab.analysis.paper_sizes import paper_size_markdown
from bertlab.analysis.params import COMPONENTS, count_parameters, embedding_formula, format_count
from bertlab.config import PRESETS, SHARE_MODES, get_preset


def register(subparsers) -> None:
    p = subparsers.add_parser("params", help="count parameters by component (ALBERT's E and sharing knobs)",
                              description="Count a model's parameters by component. Shared layers count once "
                                          "in 'unique' and once per use in 'applied'.")
    p.add_argument("--preset", default="bert-base", choices=list(PRESETS), help="model shape (default bert-base)")
    p.add_argument("--embedding-size", type=int, help="E: token embedding width (ALBERT factorization)")
    p.add_argument("--share-layers", choices=SHARE_MODES, help="ALBERT cross-layer sharing mode")
    p.add_argument("--vocab-size", type=int, help="V")
    p.add_argument("--hidden-size", type=int, help="H")
    p.add_argument("--layers", type=int, dest="num_hidden_layers", help="L")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--paper", action="store_true",
                   help="print the published sizes (ALBERT, DistilBERT, TinyBERT papers) beside bertlab's counts")
    p.set_defaults(handler=run)


def run(args) -> int:
    if args.paper:
        print(paper_size_markdown())
        return 0
    overrides = {k: v for k, v in dict(embedding_size=args.embedding_size, share_layers=args.share_layers,
                                       vocab_size=args.vocab_size, hidden_size=args.hidden_size,
                                       num_hidden_layers=args.num_hidden_layers).items() if v is not None}
    config = get_preset(args.preset, **overrides)
    count = count_parameters(config)
    if args.json:
        print(json.dumps({"preset": args.preset, "config": config.to_dict(), **count.to_dict(),
                          "embedding_formula": embedding_formula(config)}, indent=2))
        return 0
    V, E, H, L = config.vocab_size, config.E, config.hidden_size, config.num_hidden_layers
    print(f"{args.preset}: V={V} E={E} H={H} L={L} A={config.num_attention_heads} "
          f"FFN={config.intermediate_size} sharing={config.share_layers}")
    print(f"{'component':<24}{'unique':>14}{'applied':>14}")
    for name in COMPONENTS:
        if count.applied_by_component[name]:
            print(f"{name:<24}{count.by_component[name]:>14,}{count.applied_by_component[name]:>14,}")
    print(f"{'total':<24}{count.unique:>14,}{count.applied:>14,}   ({format_count(count.unique)} unique)")
    print(f"{'backbone (no heads)':<24}{count.backbone:>14,}{'':>14}   ({format_count(count.backbone)}, "
          f"the ALBERT paper's convention)")
    formula = embedding_formula(config)
    if config.is_factorized:
        print(f"vocabulary cost: V*E + E*H = {V}*{E} + {E}*{H} = {formula['V*E + E*H']:,} "
              f"instead of V*H = {formula['V*H']:,}")
    else:
        print(f"vocabulary cost: V*H = {V}*{H} = {formula['V*H']:,} (E = H; try --embedding-size 128)")
    return 0
