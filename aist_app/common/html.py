"""The style of AIST's HTML reports: a page that fits a 1280 px screen, tables whose
headers wrap, figures that shrink to the page, a folded configuration."""

REPORT_CSS = """body{font-family:sans-serif;margin:1.5em;max-width:1180px}
table{border-collapse:collapse;max-width:100%}
td,th{border:1px solid #999;padding:3px 8px;text-align:right}
th{background:#eee;white-space:normal;max-width:9em;font-size:90%}
td:first-child,td:nth-child(2){text-align:left}img{max-width:100%;height:auto}
summary{cursor:pointer;font-weight:bold;margin-top:1.5em}pre{white-space:pre-wrap}"""
