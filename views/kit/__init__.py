"""The pages' kit: what every page shares, one concern a module.

- `state`: what a browser session keeps; the only module that touches the session state.
- `access`: who the visitor is (the login), run before the engine is imported; `policy`: what they may do.
- `engine`: the store, the runner, cached snapshots and the UMAP worker, one of each per server process.
- `live`: how a page follows runs that train (the refresh protocol); `sidebar`: runs in progress everywhere.
- `pickers`: choosing runs and groups of runs; `forms`: start forms; `present`: text, charts, presenter mode.
"""
