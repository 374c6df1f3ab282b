"""GET /api/scans and GET /api/report through the Functions app, after real scans stored in Azurite.

Reuses the app fixtures of tests/test_function_app.py: the fake Azure estate, Azurite as the store and the
registered functions called with real ``func.HttpRequest`` objects.
"""

from __future__ import annotations

from typing import Any

from tests.test_function_app import app_env, body, http, run_timer

__all__ = ["app_env"]  # the fixture, imported so pytest finds it here

STATUSES = ("compliant", "non_compliant", "exempt", "not_applicable", "not_assessed")
# tests/test_function_app.small_estate: two KeyVault-006 failures and one expiry in 3 days; one vault behind
# its firewall (one not-assessed finding per rule); the rest compliant.
EXPECTED_COUNTS = {"non_compliant": 3, "compliant": 3, "not_assessed": 2}


def test_scans_list_their_counts_and_the_report_charts_them_and_says_what_changed(app_env: Any) -> None:
    run_timer()
    run_timer()

    scans = body(http("list_scans", "/api/scans"))["scans"]
    assert len(scans) == 2
    for scan in scans:
        # Per scan, the findings by status: what the report's chart draws, and what a client can chart too.
        assert scan["counts"] == {**dict.fromkeys(STATUSES, 0), **EXPECTED_COUNTS}, scan["counts"]

    response = http("get_report", "/api/report")
    assert response.status_code == 200
    page = response.get_body().decode("utf-8")
    assert page.count('<g class="scan') == 2
    assert "Problems over the last 2 scans" in page
    assert "Compared with the scan of" in page
    assert scans[1]["id"] in page  # the previous scan, named in "Since the previous scan"
    assert "No change:" in page
    assert "<script" not in page
