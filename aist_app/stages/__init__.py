"""The stage contract and the one runner every front end goes through (``runner``), its
event vocabulary (``events``) and the interfaces of the four stage kinds (``contracts``)."""
