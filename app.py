"""SSL Explorer: the Streamlit entry. Pages live in views/ (not pages/, see DESIGN.md), the engine in
sslengine/."""
from pathlib import Path

import streamlit as st

from views.kit import state

# A local icon: a material one makes the browser fetch its SVG from an outside font server. Presenter mode folds
# the sidebar for the projector: the state is sent when it changes, so a teacher may open it again meanwhile.
st.set_page_config(page_title="SSL Explorer", page_icon=str(Path(__file__).parent / "assets" / "favicon.png"),
                   layout="wide", initial_sidebar_state="collapsed" if state.presenting() else "auto")
navigation = st.navigation([
    st.Page("views/lessons.py", title="Lessons", icon=":material/school:", default=True),
    st.Page("views/threshold.py", title="Pseudo-labels and threshold", icon=":material/tune:",
            url_path="threshold"),
    st.Page("views/entropy.py", title="Entropy minimization", icon=":material/scatter_plot:",
            url_path="entropy"),
    st.Page("views/consistency.py", title="Consistency and teachers", icon=":material/groups:",
            url_path="consistency"),
    st.Page("views/embeddings.py", title="Embeddings", icon=":material/bubble_chart:", url_path="embeddings"),
    st.Page("views/pipeline.py", title="SimCLR pipeline", icon=":material/conveyor_belt:", url_path="pipeline"),
    st.Page("views/realistic.py", title="Realistic evaluation", icon=":material/report:", url_path="realistic"),
    st.Page("views/sweeps.py", title="Sweeps", icon=":material/grid_on:", url_path="sweeps"),
    st.Page("views/runs.py", title="Runs", icon=":material/table:", url_path="runs"),
    st.Page("views/compare.py", title="Compare", icon=":material/compare_arrows:", url_path="compare"),
])
# Each page's title is drawn here, before the engine is imported (torch and scikit-learn take seconds on a
# cold server): the browser shows the page at once, the rest streams in as it is drawn.
st.title(navigation.title)

from views.kit.access import gate  # noqa: E402

gate()  # a refusal or a login, beyond localhost without a visitor's secret
from views.kit.engine import layout_worker  # noqa: E402
from views.kit.sidebar import sidebar  # noqa: E402

sidebar()
layout_worker()  # starts compiling UMAP in the background
navigation.run()
