"""The one runner every front end goes through (``runner``): above the pipelines, it
runs a stage of any kind by name (its contract is in :mod:`aist_app.api`)."""
