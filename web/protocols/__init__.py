"""Ingest endpoints of every supported SDK protocol: paths, answers, docs; one module each.

The parsing is in trackmaster/sources/<protocol>.py (pure, bytes to events);
the read-authorise-store steps are web/ingest.py's `accept`, which every
endpoint here calls. This package only says where a protocol posts and what
its SDKs expect to read back.
"""

from web.protocols import (  # setup registers the project page's template global
    amplitude,
    ga4,
    mixpanel,
    openapi,
    posthog,
    segment,
    setup,
    snowplow,
)

assert setup.ingest_setup is not None  # imported for its registration

routes = [
    *segment.routes,
    *amplitude.routes,
    *snowplow.routes,
    *mixpanel.routes,
    *posthog.routes,
    *ga4.routes,
    *openapi.routes,
]
