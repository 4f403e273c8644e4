"""Training curves that redraw while a run trains: a callback for ``pretrain`` / ``train``.

    curves = LiveCurves(["mlm_loss", "mlm_acc"], title="Lesson 1")
    curves.show()
    pretrain(options, callbacks=[curves.series("tiny BERT")])

Each record the training loop logs (``split`` "train" or "eval", ``step``, metrics) adds a point; a
series is one run, drawn in one colour in every panel (train records as a line, held-out evaluations as
dotted markers). The figure is an ordinary ``go.Figure`` shown with a display handle and redrawn in
place (at most once per ``min_interval`` seconds, and at every evaluation), so it works the same in
JupyterLab, in headless execution and in exported HTML, with no widget state to save.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

METRIC_TITLES = {
    "loss": "loss (training objective)", "mlm_loss": "masked-LM loss", "mlm_acc": "masked-LM accuracy",
    "mlm_acc_mask": "masked-LM accuracy at [MASK]",
    "nsp_loss": "NSP / SOP loss", "nsp_acc": "NSP / SOP accuracy", "tokens_per_s": "tokens per second",
    "loss_emb": "embedding loss", "loss_attn": "attention loss", "loss_hidn": "hidden-state loss",
    "loss_pred": "prediction loss", "lr": "learning rate",
}
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")


class LiveFigure:
    """A plotly figure shown under a display id, so that ``update(new_figure)`` redraws it in place.

    For figures that the *running cell* redraws (training curves): the figure is a normal cell output, saved
    in the notebook and shown by exported HTML. (Widget callbacks cannot use it: JupyterLab routes their
    display updates to the widget, not to the cell; they use ``FigureOutput``.)
    """

    def __init__(self, fig=None):
        self.fig = fig
        self._handle = None

    def show(self) -> None:
        from IPython.display import display

        self._handle = display(_mime_bundle(self.fig), raw=True, display_id=True)

    def update(self, fig=None) -> None:
        if fig is not None:
            self.fig = fig
        if self._handle is not None:
            self._handle.update(_mime_bundle(self.fig), raw=True)

    def _ipython_display_(self) -> None:
        self.show()


class FigureOutput:
    """A plotly figure inside an ipywidgets ``Output``, for figures that widget controls redraw.

    The figure is written straight into the widget's ``outputs``: no ``with output:`` capture and no
    ``clear_output``, whose message routing can stall headless execution (nbclient issue #312) and which
    JupyterLab does not need to redraw a widget.
    """

    def __init__(self):
        import ipywidgets as w

        self.widget = w.Output()
        self.fig = None

    def update(self, fig) -> None:
        self.fig = fig
        self.widget.outputs = ({"output_type": "display_data", "data": _mime_bundle(fig), "metadata": {}},)


class LiveCurves:
    """One row of panels, one per metric; one colour per series (run)."""

    def __init__(self, metrics: Iterable[str] = ("loss",), title: str | None = None, height: int = 340,
                 min_interval: float = 1.0, titles: Iterable[str] | None = None):
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots

        self.metrics = list(metrics)
        if not self.metrics:
            raise ValueError("LiveCurves needs at least one metric to draw")
        titles = list(titles) if titles is not None else [METRIC_TITLES.get(m, m) for m in self.metrics]
        self.fig = go.Figure(make_subplots(rows=1, cols=len(self.metrics), subplot_titles=titles,
                                           horizontal_spacing=0.08))
        self.fig.update_layout(title=title, height=height, template="plotly_white", margin=dict(t=70, b=40),
                               legend=dict(orientation="h", yanchor="bottom", y=-0.35, x=0))
        for i, metric in enumerate(self.metrics):
            self.fig.update_xaxes(title_text="step", row=1, col=i + 1)
            if metric.endswith("_acc") or "_acc_" in metric:
                self.fig.update_yaxes(tickformat=".0%", row=1, col=i + 1)
        self.min_interval = min_interval
        self.records: dict[str, list[dict]] = {}  # series -> every record it received
        self._traces: dict[tuple[str, str, str], int] = {}  # (series, metric, split) -> index in fig.data
        self._points: dict[int, tuple[list, list]] = {}
        self._live = LiveFigure(self.fig)
        self._last_draw = 0.0

    # --- feeding --------------------------------------------------------------------------------------

    def series(self, name: str) -> Callable[[dict], None]:
        """A callback that adds every record it receives to the series ``name``."""
        self.records.setdefault(name, [])
        return lambda record: self.add(name, record)

    def __call__(self, record: dict) -> None:
        """Use the object itself as a callback for a single run (series "run")."""
        self.add("run", record)

    def add(self, name: str, record: dict) -> None:
        self._append(name, record)
        self.draw(force=record.get("split") == "eval")  # evaluations are rare; a run's last record is one

    def _append(self, name: str, record: dict) -> None:
        self.records.setdefault(name, []).append(dict(record))
        split = record.get("split", "train")
        for i, metric in enumerate(self.metrics):
            value = record.get(metric)
            if value is None:
                continue
            index = self._trace(name, metric, split, i)
            xs, ys = self._points[index]
            xs.append(record.get("step", len(xs)))
            ys.append(value)

    def replay(self, name: str, records: Iterable[dict]) -> None:
        """Add a finished run's records (e.g. ``load_run(path).metrics().records``) and draw once."""
        for record in records:
            self._append(name, record)
        self.draw(force=True)

    def reference(self, metric: str, y: float, label: str) -> None:
        """A dotted horizontal line in ``metric``'s panel, e.g. the unigram baseline or chance."""
        if metric not in self.metrics:
            raise ValueError(f"{metric!r} is not one of the panels {self.metrics}")
        col = self.metrics.index(metric) + 1
        self.fig.add_hline(y=y, line_dash="dot", line_color="gray", annotation_text=label,
                           annotation_position="bottom right", row=1, col=col,
                           exclude_empty_subplots=False)  # the panel has no data yet when training starts
        self.draw(force=True)

    # --- drawing --------------------------------------------------------------------------------------

    def show(self) -> None:
        """Display the figure under a handle that later draws update in place."""
        self._live.show()

    def draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_draw < self.min_interval:
            return
        for index, (xs, ys) in self._points.items():
            self.fig.data[index].x, self.fig.data[index].y = tuple(xs), tuple(ys)
        self._last_draw = now
        self._live.update()

    def _trace(self, name: str, metric: str, split: str, panel: int) -> int:
        key = (name, metric, split)
        if key not in self._traces:
            import plotly.graph_objects as go

            series_names = list(self.records)
            color = PALETTE[series_names.index(name) % len(PALETTE)]
            first = not any(k[0] == name and k[2] == split for k in self._traces)
            label = f"{name} ({'held-out' if split == 'eval' else 'train'})"
            style = dict(mode="lines", line=dict(color=color, width=2)) if split == "train" else \
                dict(mode="lines+markers", line=dict(color=color, dash="dot"), marker=dict(size=8, symbol="diamond"))
            self.fig.add_trace(go.Scatter(x=[], y=[], name=label, legendgroup=label, showlegend=first, **style),
                               row=1, col=panel + 1)
            index = len(self.fig.data) - 1
            self._traces[key] = index
            self._points[index] = ([], [])
        return self._traces[key]

    # --- results --------------------------------------------------------------------------------------

    def last(self, name: str, split: str = "eval") -> dict:
        """The last record of ``split`` the series received ({} if none)."""
        records = [r for r in self.records.get(name, []) if r.get("split", "train") == split]
        return records[-1] if records else {}


def _mime_bundle(fig) -> dict:
    """What ``fig.show()`` would display, as a raw mime bundle we can give a display id.

    Plotly's own ``_ipython_display_`` ignores display ids (every update would add a new plot), and
    ``fig._repr_mimebundle_()`` re-activates the "notebook" renderer on every call, embedding plotly.js
    (3.5 MB) again each time; the renderers' shared bundle builder activates it once per kernel.
    """
    import plotly.io as pio

    fig_dict = fig.to_dict()
    try:
        return pio.renderers._build_mime_bundle(fig_dict, renderers_string=None)
    except AttributeError:  # a plotly without that helper: build the bundle renderer by renderer
        bundle = {}
        for name in (pio.renderers.default or "plotly_mimetype").split("+"):
            renderer = pio.renderers[name]
            if hasattr(renderer, "to_mimebundle"):
                bundle.update(renderer.to_mimebundle(fig_dict))
        return bundle
