"""Runs and curves: every run with its config and status; loss / accuracy curves of several runs on one chart."""

import streamlit as st

from dashboard import charts, ui
from dashboard import run_folders as rf

REFRESH_S = 5

st.title("Runs and curves")
root = ui.runs_root()
runs = ui.discover(root)
if not runs:
    ui.no_runs_message(root)
    st.stop()

by_name = {r.name: r for r in runs}


def status_text(run: rf.RunInfo) -> str:
    step, total = run.status.get("step"), run.status.get("total_steps")
    return f"{step}/{total}" if step is not None else "—"


st.dataframe(
    [{"run": r.name, "kind": r.kind, "status": r.state, "step": status_text(r), "model": r.shape(),
      "checkpoints": ", ".join(r.checkpoints) or "—", "teacher": (r.config or {}).get("teacher", ""),
      "problems": "; ".join(r.errors)} for r in runs],
    hide_index=True, width="stretch", height=min(36 * (len(runs) + 1) + 4, 36 * 16))
for r in runs:
    if r.config is None:
        st.error(f"Run {ui.code(r.name)}: " + ui.plain("; ".join(r.errors)))

with st.expander("config.json of a run"):
    if st.session_state.get("config_run") not in by_name:
        st.session_state["config_run"] = runs[0].name
    shown = st.selectbox("run", list(by_name), key="config_run")
    config = by_name[shown].config
    if config is None:
        st.error(ui.plain("; ".join(by_name[shown].errors)))
    else:
        st.json(config, expanded=1)

with_metrics = [r.name for r in runs if (r.path / "metrics.jsonl").is_file()]
if st.session_state.get("curve_runs") is None:
    st.session_state["curve_runs"] = with_metrics[:6]
else:  # a run folder may have gone since the last rerun
    st.session_state["curve_runs"] = [n for n in st.session_state["curve_runs"] if n in by_name]
selected = st.multiselect("runs on the charts", list(by_name), key="curve_runs",
                          help="Each run gets one colour; a distilled student's teacher is dashed in the same colour.")
any_running = any(by_name[n].state == "running" for n in selected if n in by_name)
auto = st.toggle("refresh while a run is training", value=True, key="auto_refresh")


def metric_picker(label: str, options: list[str], split: str, key: str) -> list[str]:
    current = st.session_state.get(key)
    if current is None:
        st.session_state[key] = rf.default_metrics(options, split)
    else:  # keep the choice valid as fields appear (a running run) or runs change
        st.session_state[key] = [m for m in current if m in options]
    return st.multiselect(label, options, key=key)


def draw_curves() -> None:
    fresh = {r.name: r for r in ui.discover(root)}
    records = {}
    for name in selected:
        run = fresh.get(name)
        if run is None:
            continue
        lines, errors = ui.metrics(run)
        if errors:
            st.warning(f"{ui.code(name)}: {len(errors)} problem(s) in metrics.jsonl, the rest is plotted — "
                       + ui.plain(errors[0]))
        if lines:
            records[name] = lines
    if not records:
        st.info("None of the chosen runs has metrics yet (metrics.jsonl appears after the first logged step).")
        return
    teacher_finals, notes = {}, []
    for name in records:
        run = fresh[name]
        if run.kind != "distill":
            continue
        has_fields = any(k.startswith("teacher_") for r in rf.split_records(records[name], "eval") for k in r)
        teacher, why = rf.teacher_of(root, run, list(fresh.values()))
        if teacher is not None and not has_fields:
            teacher_records, _ = ui.metrics(teacher)
            teacher_finals[name] = (teacher.name, rf.final_eval(teacher_records))
        notes.append(f"{ui.code(name)} is a distilled student; {ui.plain(why)}"
                     + (": its eval lines carry the teacher's metrics (dashed)." if has_fields
                        else " (dashed: the teacher's final eval value)." if teacher else "."))
    for note in notes:
        st.caption(note)
    colors = {name: charts.run_color(i) for i, name in enumerate(selected)}
    left, right = st.columns(2)
    for column, split in ((left, "train"), (right, "eval")):
        with column:
            options = sorted({f for lines in records.values() for f in rf.numeric_fields(lines, split)},
                             key=lambda f: (0 if "loss" in f else 1 if "acc" in f or "f1" in f else 2, f))
            options = [f for f in options if not f.startswith(("teacher_", "unigram_"))]  # drawn with their metric
            if not options:
                st.info(f"No {split} lines yet.")
                continue
            chosen = metric_picker(f"{split} metrics", options, split, f"{split}_metrics")
            log_y = st.checkbox("log scale", key=f"{split}_log_y",
                                help="a logarithmic y-axis: losses that span orders of magnitude (a distilled "
                                     "student's total loss starts ~100x above its MLM loss) stay readable")
            fig = charts.curves_figure(records, chosen, split, teacher_finals, colors, log_y=log_y)
            st.plotly_chart(fig, key=f"{split}_curves", width="stretch")
    if any_running and auto:
        st.caption(f"Auto-refreshing every {REFRESH_S} s while a chosen run is training.")


if any_running and auto:
    st.fragment(run_every=REFRESH_S)(draw_curves)()
else:
    draw_curves()

st.caption("Curves come from each run's metrics.jsonl; the raw lines: "
           + ", ".join(f"`{n}/metrics.jsonl`" for n in selected))
