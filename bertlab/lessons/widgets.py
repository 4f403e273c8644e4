"""The ipywidgets panels of the lessons. Each returns something to display; its controls redraw it in place.

- ``masking_panel``: masking rate, the 80/10/10 split, whole-word masking, seed, language → the masked input;
- ``albert_panel``: V, E, H, L and the sharing mode → the parameter breakdown and the V×H → V×E + E×H formula;
- ``fill_mask_panel``: type a sentence with [MASK], see the model's guesses;
- ``attention_panel``: student layer m next to teacher layer g(m), head by head (plotly heatmaps);
- ``parameter_figure``, ``layer_mapping_figure``: static plotly figures the lessons draw.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from bertlab.analysis.fill_mask import fill_mask
from bertlab.analysis.params import count_parameters, embedding_formula, format_count
from bertlab.config import SHARE_MODES, BertConfig
from bertlab.lessons.inspect import mask_with_split, masked_html
from bertlab.lessons.live import FigureOutput


@dataclass
class Panel:
    """Controls and the plot they redraw (``figure.fig``), shown together as one widget."""

    widget: object
    figure: FigureOutput | None = None

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


def masking_panel(tokenizers: dict, text: str | None = None, texts: dict | None = None):
    """Controls for BERT's masking rule over a sentence; ``tokenizers`` maps a label to a tokenizer.

    ``texts`` optionally maps the same labels to a default sentence for each language.
    """
    import ipywidgets as w

    labels = list(tokenizers)
    texts = dict(texts or {})
    language = w.Dropdown(options=labels, value=labels[0], description="tokenizer")
    box = w.Textarea(value=text or texts.get(labels[0], ""), description="text", layout=w.Layout(width="95%", height="60px"))
    rate = w.FloatSlider(value=0.15, min=0.05, max=0.6, step=0.05, description="masking rate",
                         readout_format=".0%", style={"description_width": "110px"})
    to_mask = w.IntSlider(value=80, min=0, max=100, step=5, description="→ [MASK] %", style={"description_width": "110px"})
    to_random = w.IntSlider(value=10, min=0, max=100, step=5, description="→ random %", style={"description_width": "110px"})
    keep = w.HTML()
    whole = w.Checkbox(value=False, description="whole-word masking")
    seed = w.IntSlider(value=0, min=0, max=50, description="seed", style={"description_width": "110px"})
    view = w.HTML()

    def redraw(*_):
        if to_mask.value + to_random.value > 100:  # the three shares must add up to 100 %
            to_random.value = 100 - to_mask.value
            return  # setting the value calls redraw again
        keep.value = f"→ unchanged: <b>{100 - to_mask.value - to_random.value} %</b> (still predicted)"
        try:
            example = mask_with_split(box.value, tokenizers[language.value], rate.value, to_mask.value / 100,
                                      to_random.value / 100, whole.value, seed.value)
        except ValueError as err:
            view.value = f'<span style="color:#c0392b">{html.escape(str(err))}</span>'
            return
        words = " / ".join(html.escape(x) for x in example["words"])
        view.value = f"<small>words: {words}</small>" + masked_html(example)

    def new_language(change):
        if change["new"] in texts:
            box.value = texts[change["new"]]  # triggers redraw
        else:
            redraw()

    for control in (box, rate, to_mask, to_random, whole, seed):
        control.observe(redraw, names="value")
    language.observe(new_language, names="value")
    redraw()
    controls = w.HBox([w.VBox([language, rate, seed, whole]), w.VBox([to_mask, to_random, keep])])
    return w.VBox([box, controls, view], layout=w.Layout(border="1px solid #ddd", padding="6px"))


def parameter_breakdown(config) -> dict:
    """Numbers the ALBERT panel shows for one config: counted components and the formula."""
    counts = count_parameters(config, head="encoder")
    formula = embedding_formula(config)
    return {"counts": counts, "formula": formula}


def parameter_figure(configs: dict, title: str = "parameters by component"):
    """A stacked bar per config: word embeddings, projection, positions + segments, attention, FFN, norms."""
    import plotly.graph_objects as go

    groups = {"word embeddings (V×E)": ("word_embeddings",), "projection E→H": ("embedding_projection",),
              "positions + segments": ("position_embeddings", "token_type_embeddings"),
              "attention": ("attention",), "feed-forward": ("feed_forward",), "LayerNorms": ("layer_norms",),
              "pooler": ("pooler",)}
    names = list(configs)
    counts = {name: count_parameters(cfg, head="encoder").by_component for name, cfg in configs.items()}
    fig = go.Figure()
    for label, parts in groups.items():
        ys = [sum(counts[n].get(p, 0) for p in parts) / 1e6 for n in names]
        fig.add_trace(go.Bar(name=label, x=names, y=ys, hovertemplate="%{y:.3f}M<extra>" + label + "</extra>"))
    totals = [sum(counts[n].values()) / 1e6 for n in names]
    fig.add_trace(go.Scatter(x=names, y=totals, mode="text", text=[f"{t:.2f}M" for t in totals],
                             textposition="top center", showlegend=False))
    fig.update_layout(barmode="stack", title=title, yaxis_title="parameters (millions)", template="plotly_white",
                      height=380, margin=dict(t=60))
    return fig


def albert_panel(vocab_size: int = 30000, hidden_size: int = 768, embedding_size: int = 128,
                 num_hidden_layers: int = 12, share_layers: str = "all"):
    """V, E, H, L and sharing → counted parameters next to BERT with the same V, H, L (a ``Panel``)."""
    import ipywidgets as w

    style = {"description_width": "150px"}
    V = w.IntSlider(value=vocab_size, min=1000, max=50000, step=1000, description="V (vocabulary)", style=style)
    H = w.Dropdown(options=[128, 256, 312, 384, 512, 768, 1024, 2048, 4096], value=hidden_size,
                   description="H (hidden size)", style=style)
    E = w.Dropdown(options=[16, 32, 64, 128, 256, 512, 768, 1024], value=embedding_size,
                   description="E (embedding size)", style=style)
    L = w.IntSlider(value=num_hidden_layers, min=1, max=24, description="L (layers)", style=style)
    share = w.Dropdown(options=list(SHARE_MODES), value=share_layers, description="sharing", style=style)
    formula = w.HTML()
    plot = FigureOutput()

    def config(e: int, s: str) -> BertConfig:
        heads = max(d for d in (1, 2, 4, 8, 12, 16, 64) if H.value % d == 0 and H.value // d >= 32 or d == 1)
        return BertConfig(vocab_size=V.value, hidden_size=H.value, embedding_size=e, num_hidden_layers=L.value,
                          num_attention_heads=heads, intermediate_size=4 * H.value, share_layers=s)

    def redraw(*_):
        albert = config(E.value, share.value)
        bert = config(H.value, "none")
        c = count_parameters(albert, head="encoder")
        b = count_parameters(bert, head="encoder")
        v, e, h = V.value, E.value, H.value
        vh, factored = v * h, v * e + e * h
        counted_table = c.by_component["word_embeddings"]
        counted_proj = c.by_component["embedding_projection"]
        rows = [
            ("BERT's embedding V×H", f"{v:,} × {h:,}", f"{vh:,}"),
            ("ALBERT's V×E + E×H" if e != h else "E = H: no factorization, V×H",
             f"{v:,} × {e} + {e} × {h:,}" if e != h else f"{v:,} × {h:,}", f"{factored if e != h else vh:,}"),
            ("counted in the model: word_embeddings", "V×E", f"{counted_table:,}"),
            ("counted: embedding_projection", "E×H + H (bias)" if e != h else "none (E = H)", f"{counted_proj:,}"),
        ]
        cell = "padding:2px 14px 2px 0"
        table = "".join(f"<tr><td style='{cell}'>{a}</td><td style='{cell};font-family:monospace'>{b_}</td>"
                        f"<td style='{cell};text-align:right;font-family:monospace'>{n}</td></tr>" for a, b_, n in rows)
        saving = 1 - c.unique / b.unique
        formula.value = (f"<table style='border-collapse:collapse'>{table}</table>"
                         f"<p>Encoder + embeddings: <b>{format_count(c.unique)}</b> stored parameters "
                         f"({format_count(c.applied)} as applied, i.e. what the {L.value} layers compute with) vs "
                         f"<b>{format_count(b.unique)}</b> for BERT with the same V, H, L: "
                         f"<b>{saving:.0%} fewer</b>. Compute per token is the same: every layer still runs.</p>")
        plot.update(parameter_figure({f"BERT (E=H={h}, none)": bert, f"this model (E={e}, {share.value})": albert}))

    for control in (V, H, E, L, share):
        control.observe(redraw, names="value")
    redraw()
    controls = w.VBox([w.HBox([w.VBox([V, L, share]), w.VBox([H, E])]), formula, plot.widget],
                      layout=w.Layout(border="1px solid #ddd", padding="6px"))
    return Panel(controls, plot)


def fill_mask_panel(model, tokenizer, text: str = "the [MASK] of the united states is washington .", top_k: int = 5):
    """Type a sentence with one or more [MASK] and press Enter or the button: the model's top guesses."""
    import ipywidgets as w

    box = w.Text(value=text, description="sentence", layout=w.Layout(width="80%"),
                 continuous_update=False)
    button = w.Button(description="fill the masks", button_style="primary")
    result = w.HTML()

    def run(*_):
        try:
            predictions = fill_mask(model, tokenizer, box.value, top_k)
        except ValueError as err:
            result.value = f'<span style="color:#c0392b">{html.escape(str(err))}</span>'
            return
        if not predictions:
            result.value = "<i>no [MASK] in the sentence: write [MASK] where the model should guess a word</i>"
            return
        rows = []
        for p in predictions:
            cells = "".join(f"<td style='padding:2px 8px'>{html.escape(tok)} <small>{prob:.1%}</small></td>"
                            for tok, prob in p.candidates)
            rows.append(f"<tr><th>[MASK] #{p.index + 1}</th>{cells}</tr>")
        result.value = f"<table>{''.join(rows)}</table>"

    button.on_click(run)
    box.observe(run, names="value")
    run()
    return w.VBox([w.HBox([box, button]), result])


def attention_figure(matched, tokens, title: str = ""):
    """Heatmaps of one ``MatchedLayer`` head: the student's map next to its teacher layer's."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    layer, head = matched
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.14,
                        subplot_titles=[f"student layer {layer.student_layer}, head {head + 1}",
                                        f"teacher layer {layer.teacher_layer} = g({layer.student_layer})"])
    labels = [f"{i}:{tok}" for i, tok in enumerate(tokens)]
    both = torch_cat_minmax(layer.student[head], layer.teacher[head])
    for col, maps in ((1, layer.student), (2, layer.teacher)):
        fig.add_trace(go.Heatmap(z=maps[head].numpy(), x=labels, y=labels, coloraxis="coloraxis"), row=1, col=col)
        fig.update_yaxes(autorange="reversed", tickfont=dict(size=9), row=1, col=col)
        fig.update_xaxes(tickfont=dict(size=9), row=1, col=col)
    fig.update_layout(height=480, title=title or "rows: queries, columns: keys",
                      coloraxis=dict(colorscale="Viridis", cmin=both[0], cmax=both[1]), template="plotly_white",
                      margin=dict(t=80))
    return fig


def torch_cat_minmax(a, b) -> tuple[float, float]:
    """One colour scale for both maps, so equal values look equal."""
    return float(min(a.min(), b.min())), float(max(a.max(), b.max()))


def attention_panel(matched_by_kind: dict, tokens) -> Panel:
    """Choose what to compare (e.g. probabilities or scores), a student layer and a head (a ``Panel``).

    ``matched_by_kind`` maps a label to ``bertlab.analysis.attention.match_layers(...)``'s list.
    """
    import ipywidgets as w

    kinds = list(matched_by_kind)
    first = matched_by_kind[kinds[0]]
    kind = w.ToggleButtons(options=kinds, value=kinds[0], description="compare")
    layer = w.IntSlider(value=len(first), min=1, max=len(first), description="student layer")
    head = w.IntSlider(value=1, min=1, max=first[0].student.shape[0], description="head")
    note = w.HTML(f"<small>{first[0].note}</small>")
    plot = FigureOutput()

    def redraw(*_):
        matched = matched_by_kind[kind.value][layer.value - 1]
        plot.update(attention_figure((matched, head.value - 1), tokens, f"attention {kind.value}"))

    for control in (kind, layer, head):
        control.observe(redraw, names="value")
    redraw()
    return Panel(w.VBox([kind, w.HBox([layer, head]), note, plot.widget]), plot)


def layer_mapping_figure(student_layers: int, teacher_layers: int, layer_map, title: str | None = None):
    """TinyBERT's mapping n = g(m) drawn: student layers on the left, teacher layers on the right.

    Layer 0 is the embedding layer; an arrow from teacher layer g(m) to student layer m says "student layer
    m learns to copy teacher layer g(m)" (TinyBERT §3.1). The prediction layers (M+1 → N+1) are drawn too.
    """
    import plotly.graph_objects as go

    M, N = student_layers, teacher_layers
    fig = go.Figure()

    def box(x, y, text, color):
        fig.add_shape(type="rect", x0=x - 0.35, x1=x + 0.35, y0=y - 0.35, y1=y + 0.35, fillcolor=color,
                      line=dict(color="#555"))
        fig.add_annotation(x=x, y=y, text=text, showarrow=False, font=dict(size=11))

    def name(k, last):
        return "embeddings" if k == 0 else ("prediction" if k == last else f"layer {k}")

    scale = N / max(M, 1)  # spread the student's layers over the teacher's height
    for n in range(N + 2):
        box(3, n, name(n, N + 1), "#fde5cf" if 0 < n <= N else "#eeeeee")
    for m in range(M + 2):
        box(0, m * scale if m <= M else N + 1, name(m, M + 1), "#dbe9f6" if 0 < m <= M else "#eeeeee")
    targets = list(layer_map) + [N + 1]
    for m, n in enumerate(targets):
        y_student = m * scale if m <= M else N + 1
        fig.add_annotation(x=0.37, y=y_student, ax=2.63, ay=n, xref="x", yref="y", axref="x", ayref="y",
                           showarrow=True, arrowhead=3, arrowsize=1.2, arrowcolor="#c0392b",
                           text="", standoff=2)
        if 0 < m <= M:
            fig.add_annotation(x=1.5, y=(y_student + n) / 2, text=f"g({m}) = {n}", showarrow=False,
                               font=dict(color="#c0392b", size=10), bgcolor="white")
    fig.add_annotation(x=0, y=N + 1.8, text=f"<b>student</b> (M = {M})", showarrow=False)
    fig.add_annotation(x=3, y=N + 1.8, text=f"<b>teacher</b> (N = {N})", showarrow=False)
    fig.update_xaxes(visible=False, range=[-0.8, 3.8])
    fig.update_yaxes(visible=False, range=[-0.8, N + 2.3])
    fig.update_layout(title=title or f"TinyBERT layer mapping g(m) for M = {M}, N = {N}", template="plotly_white",
                      height=120 + 45 * (N + 2), width=520, margin=dict(t=50, l=10, r=10, b=10))
    return fig
