"""What a person reads about a scan: the terminal table, the HTML report and the history behind its trend.

- ``text``: the command line's readable table (``python -m shared scan``);
- ``html``: the self-contained HTML page of ``GET /api/report``;
- ``history``: the trend over stored scans and what changed since the previous one.
"""
