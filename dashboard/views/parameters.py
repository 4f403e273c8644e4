"""Parameters: where a BERT / ALBERT model's parameters are, from sliders, the paper presets and the trained runs."""

import streamlit as st

from bertlab.analysis.params import count_parameters, format_count
from bertlab.config import PRESET_DESCRIPTIONS, PRESETS, SHARE_MODES
from dashboard import charts, param_table, ui

st.title("Parameters")
st.caption("Every number is read off a real model built on PyTorch's meta device "
           "(`bertlab.analysis.params.count_parameters`), the same code `bertlab params` uses.")

SLIDERS = {"V": "vocab_size", "H": "hidden_size", "L": "num_hidden_layers", "A": "num_attention_heads",
           "I": "intermediate_size", "share": "share_layers"}


def apply_preset() -> None:
    config = PRESETS[st.session_state["param_preset"]]
    for key, field in SLIDERS.items():
        st.session_state[key] = getattr(config, field)
    st.session_state["factorize"] = config.is_factorized
    st.session_state["E"] = config.E if config.is_factorized else 128  # ALBERT's E, offered when switched on


if "V" not in st.session_state:
    st.session_state["param_preset"] = "bert-base"
    apply_preset()

st.selectbox("start from a preset", list(PRESETS), key="param_preset", on_change=apply_preset,
             format_func=lambda n: PRESET_DESCRIPTIONS.get(n, n))
c1, c2 = st.columns(2)
with c1:
    st.slider("V — vocabulary size", 100, 120_000, key="V")
    st.slider("H — hidden size", 16, 4096, key="H")
    st.slider("L — layers", 1, 48, key="L")
    st.slider("A — attention heads", 1, 64, key="A")
with c2:
    st.slider("FFN — feed-forward inner size", 16, 16_384, key="I")
    st.toggle("factorize the embeddings (ALBERT: E ≠ H)", key="factorize")
    st.slider("E — embedding size", 16, 1024, key="E", disabled=not st.session_state["factorize"])
    st.selectbox("cross-layer sharing (ALBERT §3.1)", SHARE_MODES, key="share",
                 help="none = BERT; all = ALBERT's default; attention / ffn share only that sub-layer")

fields = {field: st.session_state[key] for key, field in SLIDERS.items()}
fields["embedding_size"] = st.session_state["E"] if st.session_state["factorize"] else None
try:
    config = PRESETS[st.session_state["param_preset"]].replace(**fields)
except ValueError as err:
    st.error(f"This combination is not a valid model: {err}")
    config = None


@st.cache_data(show_spinner=False)
def preset_rows() -> list[dict]:
    return param_table.preset_rows()


if config is not None:
    count = count_parameters(config)
    m1, m2, m3 = st.columns(3)
    m1.metric(f"total (unique, stored) · {format_count(count.total)}", f"{count.total:,}",
              help="sum(p.numel() for p in model.parameters()): shared layers once")
    m2.metric(f"backbone · {format_count(count.backbone)}", f"{count.backbone:,}",
              help="embeddings + encoder, no pooler or heads: the ALBERT paper's Table 1 convention")
    m3.metric(f"applied · {format_count(count.applied)}", f"{count.applied:,}",
              help="each shared block counted once per layer that uses it (the compute ALBERT still pays)")
    left, right = st.columns([3, 2])
    with left:
        st.plotly_chart(charts.parameter_bars(count.by_component, count.applied_by_component), key="param_bars",
                        width="stretch")
    with right:
        st.markdown("**The formulas** (I = FFN size, P = positions, S = segment types)")
        st.markdown("  \n".join(f"`{c}`: {f} = **{v:,}**" for c, f, v in param_table.formulas(config)))
        st.info(param_table.embedding_cost_text(config))


st.subheader("Presets and trained runs side by side")
root = ui.runs_root()
rows = [dict(r) for r in preset_rows()]
for run in ui.discover(root):
    cfg = run.model_config
    if cfg is None:
        st.warning(f"Run {ui.code(run.name)}: no valid model config (" + ui.plain("; ".join(run.errors)) + ")")
        continue
    rows.append(param_table.count_row(run.name, f"run ({run.kind})", cfg))
if config is not None:
    rows.append(param_table.count_row("your sliders", "sliders", config))
st.dataframe([{k: v for k, v in r.items() if k != "by_component"} for r in rows], hide_index=True,
             width="stretch", height=36 * (len(rows) + 1) + 4, column_config={
                 "total": st.column_config.NumberColumn(format="localized"),
                 "backbone": st.column_config.NumberColumn(format="localized"),
                 "applied": st.column_config.NumberColumn(format="localized")})
st.plotly_chart(charts.composition_bars(rows), key="composition_bars", width="stretch")
