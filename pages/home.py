"""The runs in the store, newest first."""
import pandas as pd
import streamlit as st

from sslengine.store import Store

st.title("SSL Explorer")
st.write(
    "Watch semi-supervised learning train: how many pseudo-labels pass the confidence threshold, and how "
    "many of those are wrong. Runs started here or with `python -m sslengine run ...` land in the same store."
)
store = Store()
st.caption(f"Store: `{store.url}`")
rows = []
for run in store.list_runs():
    final = store.final_scalars(run.id)
    rows.append({"id": run.id, "name": run.name, "algorithm": run.algorithm, "dataset": run.dataset,
                 "status": run.status, "test accuracy": final.get("test_acc"),
                 "seconds": None if run.seconds is None else round(run.seconds, 1), "error": run.error or ""})
if rows:
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
else:
    st.info("No runs yet. Start one with `python -m sslengine run fixmatch --dataset digits`.")
