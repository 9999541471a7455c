"""Roles, in order of power: each role may do what the roles below it may."""

from __future__ import annotations

from enum import IntEnum


class Role(IntEnum):
    VIEWER = 1  # read everything
    TESTER = 2  # run sessions, manage test accounts, override verdicts
    ADMIN = 3  # everything: plans, sync, schedules, users, tokens, write keys

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, raw: str) -> Role:
        """The role named `raw` (case-insensitive); ValueError naming the choices otherwise."""
        try:
            return cls[raw.strip().upper()]
        except (KeyError, AttributeError):
            choices = ", ".join(role.label for role in cls)
            raise ValueError(f"must be one of {choices}, got {raw!r}") from None


ROLE_NAMES = tuple(role.label for role in Role)
