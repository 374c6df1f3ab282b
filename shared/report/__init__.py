"""What a person reads about a scan: the terminal table, the HTML report (from templates), the trend.

- ``text``: the command line's readable table (``python -m shared scan``);
- ``html``: the self-contained HTML page of ``GET /api/report``: what the page says (:func:`render_report`);
- ``templates/``: the page's markup and CSS (Jinja2, autoescaped, every value cleaned by ``finalize``);
- ``history``: the trend over stored scans and what changed since the previous one (pure).
"""
