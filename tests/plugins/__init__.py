"""Pytest fixture modules, one per fake or emulator; tests/conftest.py loads every module here."""
