"""Plotly figures for the dashboard, built from plain data (records, tensors, counts): no Streamlit here."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from dashboard.run_folders import split_records

PALETTE = qualitative.Plotly + qualitative.D3
COMPONENT_COLORS = dict(zip(
    ("word_embeddings", "position_embeddings", "token_type_embeddings", "embedding_projection", "attention",
     "feed_forward", "layer_norms", "pooler", "mlm_head", "nsp_head", "classifier"),
    qualitative.Set3[:11] if len(qualitative.Set3) >= 11 else PALETTE))


# a metric drawn with its score to beat, from the same eval lines: always predicting the training text's most
# frequent token (bertlab.train.pretraining), at [MASK] positions and overall
BASELINES = {"mlm_acc_mask": "unigram_acc_mask", "mlm_acc": "unigram_acc"}


def run_color(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


# --- curves ------------------------------------------------------------------------------------------------

def curves_figure(records_by_run: Mapping[str, list[dict]], metrics: Sequence[str], split: str,
                  teacher_finals: Mapping[str, tuple[str, Mapping[str, float]]] | None = None,
                  colors: Mapping[str, str] | None = None, log_y: bool = False) -> go.Figure:
    """One row per metric (x = optimizer step), one colour per run, several runs on one chart. ``log_y``: a
    logarithmic y-axis, for losses that span orders of magnitude (a distillation loss starts ~100× above MLM).

    Teachers are dashed: a distilled run's eval lines carry ``teacher_<metric>`` (the frozen teacher on the
    same held-out batches); otherwise ``teacher_finals[run] = (teacher name, its final eval metrics)`` draws
    the teacher's final value as a dashed horizontal line. A metric of ``BASELINES`` gets its unigram baseline as a
    dotted horizontal line in the run's colour (held-out accuracy at [MASK] must rise above it to mean anything)."""
    metrics = list(metrics)
    fig = make_subplots(rows=max(1, len(metrics)), cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        subplot_titles=metrics or ["(choose a metric)"])
    teacher_finals = teacher_finals or {}
    in_legend: set[str] = set()

    def legend_once(name: str) -> bool:
        first = name not in in_legend
        in_legend.add(name)
        return first

    def level(row: int, points: list, value: float, name: str, line: dict, hover: str) -> None:
        """A horizontal line at ``value`` across the run's steps (a teacher's final value, a baseline)."""
        fig.add_trace(go.Scatter(x=[points[0][0], points[-1][0]], y=[value] * 2, mode="lines", name=name,
                                 legendgroup=name, showlegend=legend_once(name), line=line,
                                 hovertemplate=hover + " %{y:.4g}<extra></extra>"), row=row, col=1)

    for i, (run, records) in enumerate(records_by_run.items()):
        color = (colors or {}).get(run, run_color(i))
        label = plain_label(run)
        rows = split_records(records, split)
        for row, metric in enumerate(metrics, start=1):
            points = [(r["step"], r[metric]) for r in rows if isinstance(r.get(metric), (int, float))]
            if points:
                xs, ys = zip(*points)
                fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines+markers" if len(xs) < 30 else "lines",
                                         name=label, legendgroup=run, showlegend=legend_once(run),
                                         line=dict(color=color),
                                         hovertemplate=f"{label}<br>step %{{x}}<br>{metric} %{{y:.4g}}<extra></extra>"),
                              row=row, col=1)
            teacher_points = [(r["step"], r[f"teacher_{metric}"]) for r in rows
                              if isinstance(r.get(f"teacher_{metric}"), (int, float))]
            if teacher_points:
                xs, ys = zip(*teacher_points)
                name = f"{label} · teacher"
                fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name=name, legendgroup=name,
                                         showlegend=legend_once(name), line=dict(color=color, dash="dash"),
                                         hovertemplate=f"{name}<br>step %{{x}}<br>{metric} %{{y:.4g}}<extra></extra>"),
                              row=row, col=1)
            elif run in teacher_finals and metric in teacher_finals[run][1] and points:
                teacher, values = teacher_finals[run]
                name = f"{label} · teacher {plain_label(teacher)} (final)"
                level(row, points, values[metric], name, dict(color=color, dash="dash"), f"{name}<br>{metric}")
            baseline = [r[BASELINES[metric]] for r in rows
                        if metric in BASELINES and isinstance(r.get(BASELINES[metric]), (int, float))]
            if baseline and points:
                name = f"{label} · unigram baseline"
                level(row, points, baseline[-1], name, dict(color=color, dash="dot", width=1),
                      f"{name} (always the most frequent token)<br>{BASELINES[metric]}")
    fig.update_layout(height=max(360, 260 * len(metrics) + 100), margin=dict(l=40, r=10, t=60, b=90),
                      legend=dict(orientation="h", yref="container", yanchor="bottom", y=0.0, x=0),
                      title=f"{split} metrics (x: optimizer step)")
    if log_y:
        fig.update_yaxes(type="log")
    return fig


# --- attention -----------------------------------------------------------------------------------------------

def _token_axes(fig: go.Figure, tokens: Sequence[str], row: int | None = None, col: int | None = None,
                show_y: bool = True) -> None:
    """Tokens as tick labels on numeric axes (a repeated token such as "the" must keep its own row)."""
    ticks = dict(tickmode="array", tickvals=list(range(len(tokens))), ticktext=list(tokens), tickangle=-60,
                 tickfont=dict(size=10))
    kw = {} if row is None else dict(row=row, col=col)
    fig.update_xaxes(**ticks, title_text="attends to (key)", **kw)
    fig.update_yaxes(**{**ticks, "tickangle": 0}, autorange="reversed", showticklabels=show_y,
                     title_text="token (query)" if show_y else None, **kw)


def _heatmap(matrix, tokens, diverging=False, zmax=None, coloraxis=None, name=""):
    z = matrix.tolist() if hasattr(matrix, "tolist") else matrix
    n = len(tokens)
    text = [[f"{tokens[i]} → {tokens[j]}" for j in range(n)] for i in range(n)]
    kw = dict(coloraxis=coloraxis) if coloraxis else (
        dict(colorscale="RdBu_r", zmid=0, zmin=-zmax, zmax=zmax) if diverging else dict(colorscale="Viridis"))
    return go.Heatmap(z=z, x=list(range(n)), y=list(range(n)), text=text, name=name,
                      hovertemplate="%{text}<br>%{z:.3f}<extra>" + name + "</extra>", **kw)


def plain_label(name: str) -> str:
    """A run name as plain text in a Plotly label (which reads HTML tags such as <a href> and %{...} templates)."""
    return html.escape(name).replace("%", "&#37;")


def attention_heatmap(matrix, tokens: Sequence[str], title: str = "", diverging: bool = False) -> go.Figure:
    """A (T, T) map with tokens on both axes; row i = what token i attends to."""
    zmax = (float(abs(matrix).max()) or 1.0) if diverging else None
    fig = go.Figure(_heatmap(matrix, tokens, diverging, zmax))
    _token_axes(fig, tokens)
    size = min(720, 260 + 22 * len(tokens))
    fig.update_layout(title=title, height=size, margin=dict(l=10, r=10, t=50, b=10))
    return fig


def heads_grid(maps, tokens: Sequence[str], title: str = "", columns: int = 4) -> go.Figure:
    """Every head of one layer, ``maps`` (A, T, T), on a shared colour scale."""
    heads = int(maps.shape[0])
    cols = min(columns, heads)
    rows = -(-heads // cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[f"head {h + 1}" for h in range(heads)],
                        horizontal_spacing=0.04, vertical_spacing=0.1)
    for h in range(heads):
        r, c = h // cols + 1, h % cols + 1
        fig.add_trace(_heatmap(maps[h], tokens, coloraxis="coloraxis", name=f"head {h + 1}"), row=r, col=c)
        _token_axes(fig, tokens, r, c, show_y=c == 1)
    fig.update_xaxes(title_text=None)
    fig.update_layout(coloraxis=dict(colorscale="Viridis"), title=title,
                      height=min(1400, rows * (200 + 14 * len(tokens)) + 60), margin=dict(l=10, r=10, t=60, b=10))
    return fig


def teacher_student_figure(teacher, student, tokens: Sequence[str], teacher_label: str, student_label: str,
                           value_name: str = "probability") -> go.Figure:
    """Teacher map, student map and their difference (student − teacher), side by side."""
    diff = student - teacher
    zmax = float(abs(diff).max()) or 1.0
    fig = make_subplots(rows=1, cols=3, horizontal_spacing=0.12,
                        subplot_titles=[teacher_label, student_label, "student − teacher"])
    lo = float(min(teacher.min(), student.min()))
    hi = float(max(teacher.max(), student.max()))
    fig.add_trace(_heatmap(teacher, tokens, coloraxis="coloraxis", name="teacher"), row=1, col=1)
    fig.add_trace(_heatmap(student, tokens, coloraxis="coloraxis", name="student"), row=1, col=2)
    fig.add_trace(_heatmap(diff, tokens, coloraxis="coloraxis2", name="difference"), row=1, col=3)
    for c in (1, 2, 3):
        _token_axes(fig, tokens, 1, c, show_y=c == 1)
        fig.update_yaxes(scaleanchor=f"x{c if c > 1 else ''}", constrain="domain", row=1, col=c)  # square cells
    fig.update_xaxes(title_text=None, constrain="domain")
    fig.update_layout(
        coloraxis=dict(colorscale="Viridis", cmin=lo, cmax=hi,
                       colorbar=dict(x=0.635, xanchor="left", len=0.9, thickness=12, title=value_name[:5])),
        coloraxis2=dict(colorscale="RdBu_r", cmid=0, cmin=-zmax, cmax=zmax,
                        colorbar=dict(x=1.01, xanchor="left", len=0.9, thickness=12, title="Δ")),
        height=min(640, 240 + 14 * len(tokens)), margin=dict(l=10, r=10, t=50, b=10))
    return fig


# --- parameters ----------------------------------------------------------------------------------------------

def parameter_bars(by_component: Mapping[str, int], applied_by_component: Mapping[str, int]) -> go.Figure:
    """Stacked bars: distinct parameters (what is stored) and applied ones (as if no layer were shared)."""
    fig = go.Figure()
    for component, unique in by_component.items():
        applied = applied_by_component.get(component, 0)
        if unique or applied:
            fig.add_trace(go.Bar(x=["unique (stored)", "applied (per layer use)"], y=[unique, applied],
                                 name=component, marker_color=COMPONENT_COLORS.get(component),
                                 hovertemplate=f"{component}<br>%{{y:,}}<extra></extra>"))
    fig.update_layout(barmode="stack", height=420, yaxis_title="parameters", margin=dict(l=10, r=10, t=30, b=10),
                      title="parameters by component")
    return fig


def composition_bars(rows: Sequence[Mapping]) -> go.Figure:
    """100 %-stacked horizontal bars of each model's components (sizes differ by 10^4; shares compare)."""
    fig = go.Figure()
    names = [r["name"] for r in rows]
    components = [c for c in COMPONENT_COLORS if any(r["by_component"].get(c) for r in rows)]
    for component in components:
        shares = [100 * r["by_component"].get(component, 0) / max(1, r["total"]) for r in rows]
        fig.add_trace(go.Bar(y=names, x=shares, orientation="h", name=component,
                             marker_color=COMPONENT_COLORS.get(component),
                             hovertemplate=f"{component}: %{{x:.1f}} %<extra>%{{y}}</extra>"))
    fig.update_layout(barmode="stack", height=120 + 28 * len(rows), xaxis_title="% of the model's parameters",
                      yaxis=dict(autorange="reversed"), margin=dict(l=10, r=10, t=30, b=10),
                      title="where the parameters are")
    return fig


def mask_bars(candidates: Sequence[tuple[str, float]], title: str) -> go.Figure:
    """Top-k tokens of one [MASK], most probable on top."""
    tokens = [t for t, _ in candidates]
    probs = [p for _, p in candidates]
    fig = go.Figure(go.Bar(x=probs, y=list(range(len(tokens))), orientation="h", text=[f"{p:.1%}" for p in probs],
                           textposition="auto", hovertemplate="%{customdata}: %{x:.3f}<extra></extra>",
                           customdata=tokens))
    fig.update_yaxes(tickmode="array", tickvals=list(range(len(tokens))), ticktext=tokens, autorange="reversed")
    fig.update_layout(title=title, height=90 + 28 * len(tokens), xaxis=dict(rangemode="tozero", title="probability"),
                      margin=dict(l=10, r=10, t=40, b=10))
    return fig


def bertviz_heights(tokens: int, layers: int, heads: int) -> tuple[int, int]:
    """Iframe heights (px) that fit bertviz 1.4's head view and model view (from their JavaScript constants:
    head view rows of 22.5 px under a 30 px header; model-view thumbnails of 84/A px per token)."""
    head = int(100 + 22.5 * tokens)
    thumb = tokens * 7 * 12 / heads + 10
    model = int(max(layers * thumb + 38, tokens * 18 + 55) + 70)
    return head, model
