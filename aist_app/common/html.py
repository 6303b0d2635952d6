"""AIST's HTML reports: Jinja2 templates (``aist_app/templates``) rendered with autoescape,
so no name, path or value reaches a page unescaped; a page that fits a 1280 px screen,
tables whose headers wrap, figures that shrink to the page, a folded configuration."""

from __future__ import annotations

import functools
import re
from pathlib import Path

from markupsafe import Markup, escape

REPORT_CSS = """body{font-family:sans-serif;margin:1.5em;max-width:1180px}
table{border-collapse:collapse;max-width:100%}
td,th{border:1px solid #999;padding:3px 8px;text-align:right}
th{background:#eee;white-space:normal;max-width:9em;font-size:90%}
td:first-child,td:nth-child(2){text-align:left}img{max-width:100%;height:auto}
summary{cursor:pointer;font-weight:bold;margin-top:1.5em}pre{white-space:pre-wrap}
td.na{color:#888}"""

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


@functools.cache
def _environment():
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True,
                             lstrip_blocks=True)
    env.filters["num"] = num
    env.filters["interval"] = interval
    env.filters["code"] = code
    return env


def render(template: str, **context) -> str:
    """A page from ``aist_app/templates/<template>``, every value escaped unless it is
    :class:`markupsafe.Markup` built by this module's helpers."""
    return _environment().get_template(template).render(css=Markup(REPORT_CSS), **context)


def num(value, digits: int = 2) -> str:
    """A figure with fixed decimals, "n/a" where there is none."""
    return "n/a" if value is None else f"{value:.{digits}f}"


def interval(iv: dict | None, digits: int = 3, objects: int | None = None,
             min_objects: int = 0) -> str:
    """``value [lo, hi]``; over fewer than ``min_objects`` objects (the caller's rule,
    :data:`aist_app.pose.intervals.MIN_OBJECTS`) the value and why there is no interval."""
    if iv is None:
        return "n/a"
    value = f"{iv['value']:.{digits}f}"
    if objects is not None and objects < min_objects:
        return f"{value} (no interval: {objects} test object{'s' * (objects != 1)})"
    return f"{value} [{iv['lo']:.{digits}f}, {iv['hi']:.{digits}f}]"


def code(text: str) -> Markup:
    """Text with `backticked` spans set as code, everything escaped."""
    parts = re.split(r"`([^`]+)`", str(text))
    return Markup("").join(escape(p) if i % 2 == 0 else Markup("<code>%s</code>") % p
                           for i, p in enumerate(parts))


def words(template: str, *args, **kwargs) -> Markup:
    """A sentence with HTML of its own (``template``, trusted) and values escaped into it."""
    return Markup(template).format(*args, **kwargs)
