"""Attention: heatmaps by layer and head, bertviz's head and model views (offline), teacher vs student."""

import time

import streamlit as st

from bertlab.analysis.attention import attention_maps, layer_map_for, match_layers
from bertlab.analysis.bertviz_offline import head_view_html, js_available, model_view_html
from bertlab.family.unilm import pair_mask_figure, run_mask_kind
from dashboard import charts, ui
from dashboard import run_folders as rf

MODEL_VIEW_MAX_HEIGHT = 720

st.title("Attention")
st.caption("Row i of a map is how much token i attends to each token (BERT §3, Vaswani et al. §3.2.1).")
root = ui.runs_root()
runs = ui.discover(root)
run, checkpoint = ui.pick_model_run(root, runs, key="att_run")
if run is None or checkpoint is None:
    st.stop()
try:
    loaded = ui.load_model(root, run, checkpoint)
except Exception as err:  # noqa: BLE001 - a broken run (bad weights, tokenizer, config) must not break the page
    st.error(f"Run {ui.code(run.name)} ({checkpoint}) could not be loaded: {ui.plain(err)}")
    st.stop()

left, right = st.columns(2)
text_a = left.text_input("sentence A", value="the cat sat on the mat .", key="text_a")
text_b = right.text_input("sentence B (optional: makes a pair)", value="it was very happy .", key="text_b")
if not text_a.strip():
    st.info("Type a sentence.")
    st.stop()
values = st.radio("values", ["probabilities", "scores (before softmax)"], key="att_values", horizontal=True,
                  help="Scores QKᵀ/√d are what TinyBERT's attention loss compares; "
                       "probabilities are softmax(scores).")
use = "probs" if values == "probabilities" else "scores"

MASK_NOTES = {"bidirectional": "every token may attend every token (BERT)",
              "left-to-right": "row i may attend only tokens ≤ i, so the maps are lower-triangular (GPT-style)",
              "seq2seq": "sentence A (source) attends only A; sentence B (target) attends A and its own "
                         "tokens ≤ i"}
mask_kind = run_mask_kind(run.config or {})
st.caption(f"{ui.code(run.name)} was trained with the **{mask_kind}** self-attention mask (UNILM §2.2; "
           f"`bertlab pretrain --attention-mask`), and the maps below are computed under it: "
           f"{MASK_NOTES.get(mask_kind, '')}.")
if mask_kind == "seq2seq" and not (text_b or "").strip():
    st.info("Without sentence B there is no target segment: the seq2seq mask is then bidirectional over A.")
if st.checkbox("show the three UNILM masks for this input", key="unilm_masks_shown"):
    st.plotly_chart(pair_mask_figure(loaded.tokenizer, text_a, text_b or ""), key="unilm_masks", width="stretch")

started = time.perf_counter()
maps = attention_maps(loaded.model, loaded.tokenizer, text_a, text_b or None, mask_kind=mask_kind)
if maps.truncated:
    st.warning(f"The input was cut to {len(maps.tokens)} tokens.")


def index_slider(label: str, count: int, key: str) -> int:
    """A 1-based slider over ``count`` layers/heads (a single one needs no slider)."""
    if count == 1:
        st.caption(f"{label}: 1 (the model has one)")
        return 1
    if not 1 <= st.session_state.get(key, 1) <= count:
        st.session_state[key] = 1
    return st.slider(label, 1, count, key=key)


c1, c2, c3 = st.columns([2, 2, 3])
with c1:
    layer = index_slider("layer", maps.num_layers, "layer")
with c2:
    head = index_slider("head", maps.num_heads, "head")
with c3:
    view = st.radio("show", ["one head", "all heads of this layer"], key="att_view", horizontal=True)
layer_maps = getattr(maps, use)[layer - 1]  # (A, T, T)
if view == "one head":
    fig = charts.attention_heatmap(layer_maps[head - 1], maps.tokens,
                                   f"{charts.plain_label(run.name)} · layer {layer} · head {head} · {values}")
else:
    fig = charts.heads_grid(layer_maps, maps.tokens,
                            f"{charts.plain_label(run.name)} · layer {layer} · every head · {values}")
st.plotly_chart(fig, key="attention_heatmap", width="stretch")
elapsed_ms = 1000 * (time.perf_counter() - started)
st.caption(f"{len(maps.tokens)} tokens, {maps.num_layers} layers × {maps.num_heads} heads; maps and figure in "
           f"{elapsed_ms:.0f} ms")


@st.cache_data(max_entries=32, show_spinner=False)
def bertviz_views(_maps, key: tuple) -> tuple[str, str]:
    """(head view, model view) HTML, self-contained (no CDN); ``key`` identifies the model and the text."""
    attention = _maps.bertviz_attention()
    return (head_view_html(attention, _maps.tokens, sentence_b_start=_maps.sentence_b_start, layer=0),
            model_view_html(attention, _maps.tokens, sentence_b_start=_maps.sentence_b_start))


def show_html(html: str, height: int) -> None:
    if hasattr(st, "iframe"):  # Streamlit ≥ 1.50; components.v1.html is deprecated there
        st.iframe(html, height=height)
    else:
        import streamlit.components.v1 as components
        components.html(html, height=height, scrolling=True)


st.subheader("bertviz")
if not js_available():
    st.warning("bertviz needs d3 and jQuery on disk to draw offline; run `bash scripts/setup.sh` to fetch them.")
weights = rf.weights_path(root, run.name, checkpoint)
head_html, model_html = bertviz_views(maps, (run.name, checkpoint, weights.stat().st_mtime_ns, text_a, text_b,
                                              mask_kind))
head_height, model_height = charts.bertviz_heights(len(maps.tokens), maps.num_layers, maps.num_heads)
st.markdown("**Head view** — lines from each token to the tokens it attends to; hover a token, pick a layer, "
            "click a head's colour to hide it.")
show_html(head_html, head_height)
st.markdown("**Model view** — every layer (rows) × head (columns); click a thumbnail to enlarge it.")
show_html(model_html, min(model_height, MODEL_VIEW_MAX_HEIGHT))  # taller views scroll inside their frame

if run.kind == "distill":
    st.subheader("Teacher vs student")
    teacher, why = rf.teacher_of(root, run, runs)
    if teacher is None:
        st.info(f"No teacher to compare with: {ui.plain(why)}.")
    elif not teacher.usable:
        st.error(f"Teacher run {ui.code(teacher.name)} cannot be loaded: " + ui.plain("; ".join(teacher.errors)))
    else:
        try:
            t_loaded = ui.load_model(root, teacher, teacher.checkpoints[0])
            if t_loaded.model_config.vocab_size != loaded.model_config.vocab_size:
                raise ValueError("teacher and student vocabularies differ; distillation shares the teacher's tokenizer")
            t_maps = attention_maps(t_loaded.model, loaded.tokenizer, text_a, text_b or None,
                                    mask_kind=run_mask_kind(teacher.config or {}))
            g, source = layer_map_for(run.config, maps.num_layers, t_maps.num_layers)
            matched = match_layers(t_maps, maps, g, use)
        except Exception as err:  # noqa: BLE001 - the teacher's folder may be broken; the student still works
            st.error(f"Teacher {ui.code(teacher.name)}: {ui.plain(err)}")
        else:
            pair = matched[layer - 1]
            h = min(head, pair.student.shape[0])
            st.caption(f"Teacher run {ui.code(teacher.name)} ({teacher.checkpoints[0]}). Layer map g = {g} ({source}): "
                       f"student layer {layer} ↔ teacher layer {pair.teacher_layer} of {t_maps.num_layers}. "
                       f"Heads: {pair.note}. Showing head {h}; move the layer and head "
                       f"sliders above.")
            fig = charts.teacher_student_figure(
                pair.teacher[h - 1], pair.student[h - 1], maps.tokens,
                f"teacher · layer {pair.teacher_layer}", f"student · layer {layer}",
                "probability" if use == "probs" else "score")
            st.plotly_chart(fig, key="teacher_student", width="stretch")
            gaps = ", ".join(f"{p.student_layer}↔{p.teacher_layer}: {p.difference.abs().mean():.3g}" for p in matched)
            st.caption(f"Mean |student − teacher| per layer pair: {gaps}")
