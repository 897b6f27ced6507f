"""SSL Explorer: the Streamlit entry. Pages come from pages/; the engine lives in sslengine/."""
import streamlit as st

from pages._common import sidebar

st.set_page_config(page_title="SSL Explorer", page_icon=":material/science:", layout="wide")
navigation = st.navigation([
    st.Page("pages/threshold.py", title="Pseudo-labels and threshold", icon=":material/tune:",
            url_path="threshold", default=True),
    st.Page("pages/entropy.py", title="Entropy minimization", icon=":material/scatter_plot:",
            url_path="entropy"),
    st.Page("pages/runs.py", title="Runs", icon=":material/table:", url_path="runs"),
    st.Page("pages/compare.py", title="Compare", icon=":material/compare_arrows:", url_path="compare"),
])
sidebar()
navigation.run()
