"""Loads every fixture module of tests/plugins/ (the Azure fake, Azurite, the webhook receiver).

Each piece of test infrastructure lives in its own module there, so they can grow independently.
"""

from pathlib import Path

pytest_plugins = sorted(
    f"tests.plugins.{path.stem}" for path in (Path(__file__).parent / "plugins").glob("*.py") if path.stem != "__init__"
)
