"""``bertlab reproduce``: the claims of docs/algorithms.md ("The claims bertlab checks") checked on the
built-in corpora at small scale, in one command and one report (Markdown + PNG figures + JSON of every number).

    from bertlab.reproduce import reproduce
    from bertlab.reproduce.budget import plan
    results = reproduce(plan(minutes=5, quick=True, claims=(1, 2)), "reports/quick")

Modules: ``budget`` (time split, step counts), ``runs`` (the pre-training runs of claims 1–4), ``verdicts``
(held vs the seed spread), ``claims`` (claims 1–4), ``external`` (claims 5–6, other experiment modules),
``figures`` and ``report``.
"""

from __future__ import annotations

import sys
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

from bertlab.reproduce import claims, external
from bertlab.reproduce.claims import Context, not_run
from bertlab.reproduce.report import command_line, machine, write_report


def claim_function(claim: int):
    """The function that checks ``claim``; claims 5 and 6 need other engineers' experiment modules, and an
    import error there becomes a "not run" result rather than a failure of the whole report."""
    if claim in (5, 6):
        return getattr(external, f"claim_{claim}")
    return getattr(claims, f"claim_{claim}")


def reproduce(plan, out: str | Path, runs: str | Path | None = None, progress: bool = False, command: str | None = None, log=None) -> dict:
    """Run the planned claims, write ``out/report.md``, ``out/results.json`` and figures; return the results."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    began = time.time()
    if log is None:
        def log(text: str) -> None:
            print(f"[reproduce {time.time() - began:6.0f} s] {text}", file=sys.stderr, flush=True)
    ctx = Context(plan, out, runs, progress=progress, log=log)
    results = {"command": command or command_line(), "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
               "machine": machine(), "plan": plan.to_dict(), "runs": str(ctx.runs), "claims": [], "errors": {}}
    checked = []
    for claim in plan.claims:
        t0 = time.time()
        log(f"claim {claim}")
        try:
            result = claim_function(claim)(ctx)
        except KeyboardInterrupt:
            raise
        except Exception as err:  # noqa: BLE001 - a failed claim is reported as not run, with its traceback
            results["errors"][str(claim)] = traceback.format_exc()
            result = not_run(claim, f"{type(err).__name__}: {err}".splitlines()[0][:300])
        result.seconds = time.time() - t0
        log(f"claim {claim}: {result.verdict} ({result.seconds:.0f} s)")
        checked.append(result)
    results["claims"] = [c.to_dict() for c in checked]
    results["pretraining_runs"] = ctx.all_runs()
    results["seconds"] = time.time() - began
    write_report(out, results, checked)
    results["claim_results"] = checked  # for the caller (not in results.json)
    return results


__all__ = ["reproduce", "claim_function"]
