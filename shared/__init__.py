"""AutoRenew Guard: the app's logic (settings, scan, rules, store, alerts, HTTP handlers).

``function_app.py`` holds only the Functions triggers; everything they do lives here so the same code
runs from the timer, the HTTP API and ``python -m shared``.
"""
