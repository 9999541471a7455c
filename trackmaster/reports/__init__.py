"""Session reports: what a test session found, for developers, sign-off and pipelines.

model     the typed report: facts, cells with counts, wrong values, coverage, overrides
build     one report from the session engine's results (a bounded, chunked scan of logs)
csv_out   the report as CSV, one row per cell, streamed, safe to open in a spreadsheet
junit     the report as JUnit XML, a test case per event x platform, streamed
share     read-only share links to one session's report (token, expiry, revocation)
"""
