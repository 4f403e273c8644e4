"""bertlab dashboard: runs and curves, attention, parameters, fill-mask.

    bertlab dashboard --runs runs                  # or:
    streamlit run dashboard/app.py -- --runs runs  # BERTLAB_RUNS=runs works too
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `streamlit run` puts dashboard/ on sys.path, not the checkout
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from dashboard import set_inference_threads, ui  # noqa: E402

set_inference_threads()

st.set_page_config(page_title="bertlab dashboard", page_icon=":material/science:", layout="wide")

PAGES = [
    st.Page("views/runs.py", title="Runs and curves", icon=":material/show_chart:", default=True),
    st.Page("views/attention.py", title="Attention", icon=":material/grid_on:"),
    st.Page("views/parameters.py", title="Parameters", icon=":material/calculate:"),
    st.Page("views/fill_mask.py", title="Fill-mask", icon=":material/edit_note:"),
]

page = st.navigation(PAGES)
ui.sidebar(ui.runs_root())
page.run()
