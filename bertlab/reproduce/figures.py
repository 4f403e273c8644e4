"""Plotly figures of the report: learning curves from the runs' metrics.jsonl, bars of parameters and times."""

from __future__ import annotations

from pathlib import Path

from bertlab.train.metrics import read_metrics

COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")


def _layout(fig, title: str, x: str, y: str):
    fig.update_layout(title=title, xaxis_title=x, yaxis_title=y, template="plotly_white", width=820, height=460,
                      legend=dict(orientation="h", yanchor="bottom", y=-0.35, x=0))
    return fig


def curves(title: str, groups: dict, metric: str, split: str = "train", baseline: tuple | None = None,
           y_title: str | None = None):
    """One line per run: ``groups`` maps a label (one colour) to run folders (one per seed, dashed after the
    first). ``baseline`` = (label, value) draws a horizontal line."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for i, (label, run_dirs) in enumerate(groups.items()):
        for j, run_dir in enumerate(run_dirs):
            rows = [r for r in read_metrics(Path(run_dir) / "metrics.jsonl").split(split) if metric in r]
            if not rows:
                continue
            fig.add_trace(go.Scatter(x=[r["step"] for r in rows], y=[r[metric] for r in rows],
                                     mode="lines+markers" if split == "eval" else "lines",
                                     name=f"{label} (seed {Path(run_dir).name.rsplit('seed', 1)[-1]})",
                                     line=dict(color=COLORS[i % len(COLORS)], dash="solid" if j == 0 else "dash")))
    if baseline is not None:
        fig.add_hline(y=baseline[1], line=dict(color="gray", dash="dot"), annotation_text=baseline[0])
    names = {"mlm_acc": "MLM accuracy", "mlm_acc_mask": "MLM accuracy at [MASK]", "nsp_acc": "NSP accuracy",
             "mlm_loss": "MLM loss", "loss": "loss"}
    where = "held-out" if split == "eval" else "training"
    return _layout(fig, title, "optimizer step", y_title or f"{where} {names.get(metric, metric)}")


def bars(title: str, categories: list, series: dict, y_title: str, log: bool = False):
    """Grouped bars: ``series`` maps a label to one value per category."""
    import plotly.graph_objects as go

    fig = go.Figure([go.Bar(name=label, x=categories, y=values, marker_color=COLORS[i % len(COLORS)],
                            text=[_short(v) for v in values], textposition="outside")
                     for i, (label, values) in enumerate(series.items())])
    fig.update_layout(barmode="group")
    if log:
        fig.update_yaxes(type="log")
    return _layout(fig, title, "", y_title)


def _short(v: float) -> str:
    if v >= 1e6:
        return f"{v / 1e6:.2f}M"
    if v >= 1e3:
        return f"{v / 1e3:.0f}k"
    if v < 1:
        return f"{v:.3g}"
    return f"{v:.0f}"


def write_pngs(figures: dict, folder: Path) -> dict:
    """Write each figure as ``folder/NAME.png`` with kaleido (one browser for all). Returns NAME -> None when
    written, or the error message; a failure never stops the report."""
    import plotly.io as pio

    folder.mkdir(parents=True, exist_ok=True)
    names = list(figures)
    if not names:
        return {}
    try:
        pio.write_images(fig=[figures[n] for n in names], file=[str(folder / f"{n}.png") for n in names],
                         format="png")
        return {n: None for n in names}
    except Exception as err:  # kaleido / chromium missing or broken: try one by one, then give up per figure
        batch_error = f"{type(err).__name__}: {err}"
    status = {}
    for n in names:
        try:
            figures[n].write_image(str(folder / f"{n}.png"))
            status[n] = None
        except Exception as err:  # noqa: BLE001 - reported in the report, not fatal
            status[n] = f"{type(err).__name__}: {err}".splitlines()[0][:300] or batch_error
    return status


__all__ = ["curves", "bars", "write_pngs"]
