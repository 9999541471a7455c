"""Tracking plans: the Jet client, plan files, and the sync that applies either to the database.

Both sources are parsed into one `PlanSnapshot` (snapshot.py); `apply.py`
writes a snapshot to a project in one transaction and returns the diff.
"""
