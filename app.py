"""SSL Explorer: the Streamlit entry. Pages come from pages/; the engine lives in sslengine/."""
import streamlit as st

st.set_page_config(page_title="SSL Explorer", layout="wide")
navigation = st.navigation([
    st.Page("pages/home.py", title="Runs", icon=":material/table:", default=True),
    st.Page("pages/threshold.py", title="Pseudo-labels and threshold", icon=":material/tune:"),
])
navigation.run()
