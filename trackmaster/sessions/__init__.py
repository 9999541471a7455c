"""Realtime test sessions: lifecycle, matching caught events, ingest, results, tester actions.

service.Realtime / runtime.realtime   the parts of one process, wired together
lifecycle     start, update, stop, expire (and the session's Jet filter)
selection     accounts and events chosen for a session, validated
live          which live sessions catch an event (in-memory, per project)
plans         the rules of watched events, loaded once per snapshot
ingest        check and store a batch of caught events in one transaction
results       logs and derived results (newest verdicts, overrides, coverage)
actions       clear logs, override a verdict, reset an event
publish       revisions and bus messages (docs/realtime.md)
"""
