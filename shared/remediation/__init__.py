"""Turning on AutoRenew where Key Vault can renew, safely (``python -m shared remediate``, ``AUTO_REMEDIATE``).

- ``plan``: the pure plan: which certificates can be changed, which are refused and why (no I/O);
- ``apply``: carrying a plan out against Key Vault (policy PATCH) and recording what was done;
- ``report``: rendering a plan or its outcome as text and JSON;
- ``command``: the ``remediate`` subcommand that ties them together.
"""
