"""The bertlab dashboard (Streamlit): ``bertlab dashboard [--runs DIR]`` or ``streamlit run dashboard/app.py``.

Pages live in ``dashboard/views/`` and stay thin; what is not UI is importable and tested on its own:
``run_folders`` (discovery, path safety, metrics), ``charts`` (plotly figures), ``param_table`` (counts and
formulas); ``ui`` holds the Streamlit helpers the pages share (caches, run pickers).
"""

import os

THREADS_ENV = "BERTLAB_DASHBOARD_THREADS"


def set_inference_threads() -> int:
    """Use one intra-op thread for the dashboard's one-sentence forwards (``$BERTLAB_DASHBOARD_THREADS``
    overrides). On a CPU shared with a training run, torch's default pool made a tiny model's forward take
    ~400 ms (threads waiting for busy cores) against 1–2 ms with one thread (benchmarks/bench_attention_page.py)."""
    import torch

    threads = max(1, int(os.environ.get(THREADS_ENV, "1")))
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads
