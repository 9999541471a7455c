"""Tortoise migrations of the `models` app; one history for SQLite and MariaDB."""
