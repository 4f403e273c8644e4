"""``bertlab reproduce``: run the small-scale experiments of the claims in docs/algorithms.md and write one report."""

from __future__ import annotations

import sys
from pathlib import Path

from bertlab.reproduce import reproduce
from bertlab.reproduce.budget import choose_threads, plan
from bertlab.reproduce.report import readme_section, summary_table, update_readme


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "reproduce", help="check the source articles' claims at small scale and write a report",
        description="Runs the experiments of the six claims (MLM/NSP learn; factorized embeddings; cross-layer "
                    "sharing; dynamic masking and no NSP; TinyBERT vs scratch; fine-tuning vs features) on the "
                    "built-in corpora and writes report.md (held / did not hold, our numbers beside the papers'), "
                    "results.json and PNG figures. Claims 1-4 pre-train with the fast-cpu recipe, claim 1 longer "
                    "(NSP is learnt after MLM); their step counts come from the budget and the step times of the "
                    "recipe's two phases measured at start (on a GPU the models are larger). Claim 5 runs "
                    "distill-vs-scratch with the course teacher, claim 6 reads the transfer experiment's cells "
                    "(cached in runs/transfer); both need the course models (bertlab course prepare) and are "
                    "reported as not run without them. MLM is scored at [MASK] positions. docs/reproduce.md")
    p.add_argument("--budget", type=float, default=60.0, metavar="MINUTES",
                   help="about how long the whole run may take (default 60: on 2 idle cores of the reference CPU "
                        "it gives claim 1 the recipe's 8 M-token step count, where NSP reaches ~70 %%, and claims 2-4 "
                        "runs well past the point where MLM leaves the unigram plateau; ignored by --quick)")
    p.add_argument("--quick", action="store_true", help="toy sizes and a few dozen steps (a smoke test; minutes)")
    p.add_argument("--out", default=None, help="report folder (default reports/latest, reports/quick with --quick)")
    p.add_argument("--runs", default=None, help="folder for the training runs (default runs/reproduce-NAME)")
    p.add_argument("--claims", default="1,2,3,4,5,6", help="comma-separated claim numbers (default all)")
    p.add_argument("--seeds", type=int, default=2, help="seeds per compared group (default 2; 1 = direction only)")
    p.add_argument("--update-readme", metavar="PAGE", nargs="?", const="docs/reproduce.md",
                   help="also put the summary table into PAGE (default docs/reproduce.md; between the bertlab "
                        "reproduce markers, appended when there are none)")
    p.add_argument("--steps", type=int, help="steps of every pre-training run of claims 2-4 (default: from the "
                                            "budget and the measured step times)")
    p.add_argument("--claim1-steps", type=int, help="steps of claim 1's runs (default: from the budget, at most "
                                                   "2048; 0 = claim 1 reads the runs of claims 2-4)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: 1 when the machine is busier than "
                                              "its cores, else torch's default)")
    p.add_argument("--transfer-out", default="runs/transfer", metavar="DIR",
                   help="the `bertlab experiment transfer` folder whose cells claim 6 reuses and adds to (default "
                        "runs/transfer, the experiment's own; the committed transfer run is runs/transfer-final)")
    p.add_argument("--progress", action="store_true", help="progress bars of every training run")
    p.set_defaults(handler=run)


def parse_claims(text: str) -> tuple:
    try:
        claims = tuple(sorted({int(c) for c in text.split(",") if c.strip()}))
    except ValueError:
        raise ValueError(f"--claims takes comma-separated numbers 1-6, got {text!r}") from None
    if not claims:
        raise ValueError("--claims: no claim given")
    return claims


def run(args) -> int:
    if args.seeds < 1:
        raise ValueError(f"--seeds must be at least 1, got {args.seeds}")
    choose_threads(args.threads)
    out = Path(args.out or ("reports/quick" if args.quick else "reports/latest"))
    runs = Path(args.runs or f"runs/reproduce-{out.name}")
    the_plan = plan(args.budget, quick=args.quick, claims=parse_claims(args.claims), seeds=tuple(range(args.seeds)),
                    steps=args.steps, long_steps=args.claim1_steps, transfer_out=args.transfer_out)
    estimate = the_plan.estimate
    print(f"bertlab reproduce: estimated {estimate:.0f} min from step times measured now "
          f"({', '.join(f'{k}: {v:.0f}' for k, v in the_plan.estimated_minutes.items() if v is not None)})", file=sys.stderr)
    if not args.quick and estimate > 1.2 * args.budget:
        print(f"warning: this machine is too slow (or too busy) for the smallest useful run in --budget "
              f"{args.budget:g}: expect about {estimate:.0f} min, or give a larger budget", file=sys.stderr)
    results = reproduce(the_plan, out, runs=runs, progress=args.progress)
    claims = results["claim_results"]
    print(summary_table(claims))
    print(f"\n{results['seconds'] / 60:.1f} min; report: {out / 'report.md'}")
    if args.update_readme:
        update_readme(Path(args.update_readme), readme_section(results, claims, str(out / "report.md")))
        print(f"updated {args.update_readme}")
    return 1 if results["errors"] else 0
