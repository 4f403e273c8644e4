"""Fill-mask playground: the MLM head's top-k tokens for each [MASK], for one run or several side by side."""

import streamlit as st

from bertlab.analysis.fill_mask import fill_mask
from dashboard import charts, ui
from dashboard import run_folders as rf

EXAMPLES = {"en": "the cat sat on the [MASK] .", "zh": "中国的首都是北[MASK]。"}  # the opening text, by the run's language

st.title("Fill-mask")
st.caption("Write [MASK] where a word should go; each run's masked-language-model head proposes its top-k tokens "
           "(BERT §3.1, Task #1). Masks are predicted independently from one forward pass.")
root = ui.runs_root()
runs = ui.discover(root)
if not runs:
    ui.no_runs_message(root)
    st.stop()
usable = [r.name for r in runs if r.usable]
by_name = {r.name: r for r in runs}
# the page opens on the first usable run and the next one of its language, with an example in that language
language = rf.run_language(by_name[usable[0]]) if usable else None
if st.session_state.get("fm_runs") is None:
    st.session_state["fm_runs"] = usable[:1] + [n for n in usable[1:] if rf.run_language(by_name[n]) == language][:1]
else:  # a run folder may have gone since the last rerun
    st.session_state["fm_runs"] = [n for n in st.session_state["fm_runs"] if n in by_name]
chosen = st.multiselect("runs", list(by_name), key="fm_runs",
                        format_func=lambda n: ui.run_label(by_name[n]))
text = st.text_input("text with [MASK]", value=EXAMPLES.get(language, EXAMPLES["en"]), key="fm_text")
top_k = st.slider("top k", 1, 20, value=5, key="fm_top_k")
if "[mask]" not in text.lower():
    st.info("Put at least one [MASK] in the text.")
    st.stop()
if not chosen:
    st.info("Choose at least one run.")
    st.stop()

columns = st.columns(len(chosen))
for column, name in zip(columns, chosen):
    run = by_name[name]
    with column:
        st.markdown(f"**{ui.plain(name)}**")  # a name is text, never Markdown
        if not run.usable:
            st.error(f"Run {ui.code(name)} cannot be loaded: " + ui.plain("; ".join(run.errors)))
            continue
        try:
            loaded = ui.load_model(root, run, run.checkpoints[0])
            predictions = fill_mask(loaded.model, loaded.tokenizer, text, top_k=top_k)
        except Exception as err:  # noqa: BLE001 - one broken run shows its error; the other columns still work
            st.error(f"{ui.code(name)}: {ui.plain(err)}")
            continue
        st.caption(f"weights: {run.checkpoints[0]}")
        for p in predictions:
            st.dataframe([{"token": t, "probability": prob} for t, prob in p.candidates], hide_index=True,
                         width="stretch", key=f"fm_table_{name}_{p.index}",
                         column_config={"probability": st.column_config.ProgressColumn(
                             format="%.3f", min_value=0.0, max_value=1.0)})
            st.plotly_chart(charts.mask_bars(p.candidates, f"[MASK] #{p.index + 1} (token {p.position})"),
                            key=f"fm_bars_{name}_{p.index}", width="stretch")
