"""Every setting of TrackMaster in one registry: name, type, default, help.

Values come from the process environment, then from a `.env` file, then the
default. A value that does not parse stops start-up with a message naming the
setting, so a typo in production never turns into a silent default.

`.env.example` and the settings table in the docs are checked against this
registry by the test suite; add a setting here and in both places.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class SettingsError(ValueError):
    """A setting has a value that cannot be used; the message names it."""


@dataclass(frozen=True)
class Setting:
    name: str
    cast: Callable[[str], Any]
    default: Any
    help: str
    secret: bool = False

    @property
    def attr(self) -> str:
        return self.name.lower()


def _bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError("expected one of true/false, yes/no, on/off, 1/0")


def _bounded_int(low: int, high: int) -> Callable[[str], int]:
    def cast(raw: str) -> int:
        value = int(raw.strip())
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}")
        return value

    return cast


def _bounded_float(low: float, high: float) -> Callable[[str], float]:
    def cast(raw: str) -> float:
        value = float(raw.strip())
        if not low <= value <= high:
            raise ValueError(f"must be between {low:g} and {high:g}")
        return value

    return cast


def _choice(*allowed: str) -> Callable[[str], str]:
    def cast(raw: str) -> str:
        value = raw.strip().upper()
        if value not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}")
        return value

    return cast


def _http_url(raw: str) -> str:
    value = raw.strip().rstrip("/")
    if value and not value.startswith(("http://", "https://")):
        raise ValueError("must start with http:// or https://")
    return value


def _redis_url(raw: str) -> str:
    value = raw.strip()
    if not value:
        return ""
    # The original took "host:port"; accept it and make it a URL.
    if "://" not in value:
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError("must be redis://host:port/db or host:port")
        value = f"redis://{value}"
    if not value.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError("must be redis://host:port/db (or host:port)")
    return value


def _text(raw: str) -> str:
    return raw.strip()


_PORT = _bounded_int(1, 65535)

SETTINGS: tuple[Setting, ...] = (
    # --- web ---
    Setting("HOST", _text, "127.0.0.1", "Address the web process listens on."),
    Setting("PORT", _PORT, 8000, "Port the web process listens on."),
    Setting(
        "HTTPS_PORT",
        _bounded_int(0, 65535),
        0,
        "Port the web process also listens on with https (mobile SDKs often require it). "
        "0: no https. The certificate is TLS_CERT_FILE, or one made for this machine's names "
        "and addresses under var/tls/.",
    ),
    Setting("TLS_CERT_FILE", _text, "", "PEM certificate for HTTPS_PORT. Empty: a self-made one."),
    Setting("TLS_KEY_FILE", _text, "", "PEM private key of TLS_CERT_FILE."),
    Setting(
        "SECRET_KEY",
        _text,
        "",
        "Key that signs session cookies and CSRF tokens. Empty: a random key per start "
        "(fine on one machine; set it when you run several web processes).",
        secret=True,
    ),
    Setting(
        "SESSION_MAX_AGE_S",
        _bounded_int(300, 90 * 24 * 3600),
        12 * 3600,
        "Seconds a login lasts before the user must sign in again.",
    ),
    Setting("LOG_LEVEL", _choice("DEBUG", "INFO", "WARNING", "ERROR"), "INFO", "Log level."),
    # --- hardening: proxies, connections, bodies, CPU budgets (docs/security.md) ---
    Setting(
        "FORWARDED_ALLOW_IPS",
        _text,
        "",
        "Addresses of the reverse proxies whose X-Forwarded-For and X-Forwarded-Proto are "
        "believed (comma-separated IPs or networks, * for any). Empty: none; the client is "
        "the socket's address. Set it to your proxy's address behind a proxy.",
    ),
    Setting(
        "MAX_CONNECTIONS",
        _bounded_int(10, 100_000),
        1000,
        "Open connections (live streams included) the web process serves at once, on each "
        "port it listens on; a connection beyond gets 503 with Retry-After.",
    ),
    Setting(
        "HEADER_TIMEOUT_S",
        _bounded_float(0.5, 300),
        10.0,
        "Seconds a client has to send a request's headers; slower connections are closed.",
    ),
    Setting(
        "BODY_TIMEOUT_S",
        _bounded_float(1, 3600),
        60.0,
        "Seconds a client has to send a whole request body once its headers are in; slower "
        "connections are closed.",
    ),
    Setting(
        "MAX_FORM_FIELDS",
        _bounded_int(10, 100_000),
        1000,
        "Most fields one form (urlencoded or multipart) may carry (413 over it).",
    ),
    Setting(
        "SSE_STREAMS_PER_USER",
        _bounded_int(1, 1000),
        8,
        "Live-session streams one user (or API token's user) may hold open in one web "
        "process (429 over it).",
    ),
    Setting(
        "PASSWORD_HASH_THREADS",
        _bounded_int(1, 64),
        2,
        "Password hashes (argon2, ~50 ms and 64 MiB each) computed at once, in threads off "
        "the event loop.",
    ),
    Setting(
        "PASSWORD_HASH_QUEUE",
        _bounded_int(1, 10_000),
        32,
        "Sign-ins that may wait for a hashing thread; more get 503 with Retry-After.",
    ),
    Setting(
        "PLAN_PARSE_TIMEOUT_S",
        _bounded_float(0.1, 600),
        20.0,
        "Seconds reading one plan file may take (in a thread, off the event loop); longer "
        "ones are refused with 413.",
    ),
    Setting(
        "PLAN_MAX_NODES",
        _bounded_int(1000, 100_000_000),
        2_000_000,
        "Most YAML/JSON nodes a plan file may hold once its aliases are expanded (413 over "
        "it: a small alias bomb expands to billions).",
    ),
    Setting(
        "DEFAULT_PAGE_SIZE", _bounded_int(1, 1000), 20, "Rows per page when a list asks for none."
    ),
    Setting("MAX_PAGE_SIZE", _bounded_int(1, 5000), 100, "Largest page a list may ask for."),
    # --- database ---
    Setting(
        "DB_HOST",
        _text,
        "",
        "MySQL/MariaDB host. Empty: the embedded SQLite database at SQLITE_PATH.",
    ),
    Setting("DB_PORT", _PORT, 3306, "MySQL/MariaDB port."),
    Setting("DB_NAME", _text, "trackmaster", "MySQL/MariaDB database name."),
    Setting("DB_USER", _text, "trackmaster", "MySQL/MariaDB user."),
    Setting("DB_PASSWORD", _text, "", "MySQL/MariaDB password.", secret=True),
    Setting(
        "DB_POOL_SIZE",
        _bounded_int(1, 200),
        10,
        "Largest number of MySQL connections a process opens.",
    ),
    Setting(
        "DB_TIMEOUT_S",
        _bounded_float(0.1, 600),
        5.0,
        "Deadline of one MySQL call (a query, a commit), in seconds, and apart of its wait "
        "for a pooled connection; past it the connection is closed and the request answers 503.",
    ),
    Setting(
        "SQLITE_PATH", _text, "var/trackmaster.sqlite3", "SQLite file used when DB_HOST is empty."
    ),
    # --- shared infrastructure ---
    Setting(
        "REDIS",
        _redis_url,
        "",
        "Redis URL for locks and the live-update bus across processes. "
        "Empty: in-process locks and bus (one web process).",
    ),
    Setting(
        "REDIS_PREFIX",
        _text,
        "tm:",
        "Prefix of every Redis key and channel, so that several TrackMasters can share one Redis.",
    ),
    Setting(
        "REDIS_POOL_SIZE",
        _bounded_int(2, 10_000),
        64,
        "Largest number of Redis connections a process opens (one pool for locks, the bus, "
        "the rate limiter); a request waits up to REDIS_TIMEOUT_S for a free one.",
    ),
    Setting(
        "REDIS_TIMEOUT_S",
        _bounded_float(0.05, 60),
        1.0,
        "Deadline of one Redis call and of connecting, in seconds; past it the caller degrades "
        "(in-process rate limit, live pages refreshed once Redis is back).",
    ),
    Setting(
        "BROKER",
        _text,
        "",
        "Kafka bootstrap servers (host:port,...) for scheduled plan sync. "
        "Empty: an in-process scheduler inside the web process.",
    ),
    Setting("TOPIC", _text, "pikachu-track", "Kafka topic that carries due plan-sync schedules."),
    # --- scheduled plan sync ---
    Setting(
        "SCHEDULE_SCAN_INTERVAL_S",
        _bounded_float(0.1, 86400),
        300.0,
        "Seconds between two scans for due schedules (the producer, or the in-process scheduler).",
    ),
    Setting(
        "CONSUMER_GROUP",
        _text,
        "trackmaster-sync",
        "Kafka consumer group of the plan-sync consumers; each message goes to one of them.",
    ),
    Setting(
        "SYNC_JOB_TIMEOUT_S",
        _bounded_float(0.1, 86400),
        600.0,
        "Timeout of one scheduled plan sync, in seconds; a sync that takes longer fails.",
    ),
    Setting(
        "SYNC_LOCK_TTL_S",
        _bounded_float(0, 86400),
        0.0,
        "TTL of the per-project sync lock, in seconds; renewed while the sync runs. Must be "
        "longer than SYNC_JOB_TIMEOUT_S. 0: SYNC_JOB_TIMEOUT_S + 60.",
    ),
    Setting(
        "HEARTBEAT_TTL_S",
        _bounded_float(1, 3600),
        30.0,
        "Seconds a producer or consumer heartbeat stays fresh; `--check` fails after that.",
    ),
    # --- tracking plans ---
    Setting("JET_URL", _http_url, "", "Base URL of the Jet plan service. Empty: plans from files."),
    Setting(
        "JET_TIMEOUT_S", _bounded_float(0.1, 300), 10.0, "Timeout of one Jet request, in seconds."
    ),
    Setting(
        "JET_RETRIES",
        _bounded_int(0, 10),
        3,
        "Retries of a Jet call that timed out or answered 5xx, with a doubling backoff.",
    ),
    Setting(
        "JET_STORY_PAGE_SIZE",
        _bounded_int(1, 200),
        15,
        "Stories per Jet page; without JET_FULL_SYNC a sync reads this many newest stories.",
    ),
    Setting(
        "JET_FULL_SYNC",
        _bool,
        False,
        "Sync every story of a project by paging through Jet (true), or only the "
        "JET_STORY_PAGE_SIZE most recently updated ones, as the original did (false).",
    ),
    Setting(
        "MAX_UPLOAD_BYTES",
        _bounded_int(1024, 512 * 1024 * 1024),
        20 * 1024 * 1024,
        "Largest plan file (YAML, JSON, CSV) an upload may send, in bytes.",
    ),
    # --- realtime sessions ---
    Setting(
        "REALTIME_LIMIT",
        _bounded_int(60, 7 * 24 * 3600),
        4 * 3600,
        "Seconds a test session stays live before it stops by itself.",
    ),
    Setting(
        "POLL_INTERVAL_S",
        _bounded_float(0.05, 60),
        1.0,
        "Seconds between two pulls of a live session's Jet log filter, on a fixed schedule "
        "(a pull that runs past the next tick is followed at once by the next pull; missed "
        "ticks are dropped). The share of logs Jet's clear can delete unread is about a "
        "pull's read-to-clear time divided by this.",
    ),
    Setting(
        "JET_CLEAR_AT_LOGS",
        _bounded_int(1, 1_000_000),
        5000,
        "Logs a read of a Jet filter must return before the puller clears the filter. Jet's "
        "clear deletes every log of the filter, also those that reached it after our last "
        "read, so each clear can lose what arrives in its read-to-clear window; below this "
        "nothing is cleared and nothing lost. Until then each read returns the whole "
        "filter again (5000 logs are about 2 MB: slower rounds at high rates, and a "
        "longer window at the clear, which includes that read) and only logs not staged "
        "yet are staged. A stop sets the filter STOPPED before its last read and clear, "
        "so it loses nothing.",
    ),
    Setting(
        "JET_LEASE_TTL_S",
        _bounded_float(1, 600),
        15.0,
        "Seconds a web process keeps the right to pull a session's Jet logs without renewing it; "
        "when that process dies, another one takes over after this delay.",
    ),
    Setting(
        "MAX_BODY_BYTES",
        _bounded_int(1024, 64 * 1024 * 1024),
        1024 * 1024,
        "Largest request body of any endpoint but plan uploads (JSON, forms, ingest; for "
        "ingest also after gzip is undone), in bytes; larger ones get 413.",
    ),
    Setting(
        "MAX_BATCH_EVENTS",
        _bounded_int(1, 2000),
        500,
        "Most events one ingest request may carry (413 over it); a protocol's own lower limit "
        "(GA4 25, Mixpanel /track 50) still holds, and none takes more than 2000 (Amplitude's).",
    ),
    Setting(
        "INGEST_RATE_PER_S",
        _bounded_float(0.01, 1_000_000),
        200.0,
        "Events per second one project's write key may send, on average (429 over it).",
    ),
    Setting(
        "INGEST_BURST",
        _bounded_int(1, 10_000_000),
        2000,
        "Events one write key may send at once above its rate (the size of its token bucket).",
    ),
    Setting(
        "INGEST_UNKNOWN_KEY_RATE_PER_S",
        _bounded_float(0.01, 1_000_000),
        1.0,
        "Requests per second one client address may make with a missing or unknown write key "
        "(401) before it gets 429 without its body being read.",
    ),
    Setting(
        "INGEST_UNKNOWN_KEY_BURST",
        _bounded_int(1, 1_000_000),
        30,
        "Requests with a missing or unknown write key one client address may make at once.",
    ),
    Setting(
        "UNMATCHED_KEEP",
        _bounded_int(0, 10_000),
        100,
        "Events that matched no live session kept per project to show why (older ones are "
        "dropped; all are counted).",
    ),
    Setting(
        "SSE_PING_S",
        _bounded_float(0.1, 300),
        15.0,
        "Seconds between keep-alive pings on a live session page's event stream (proxies close "
        "idle connections; keep it below their idle timeout).",
    ),
    Setting(
        "LIVE_FRAMES_PER_S",
        _bounded_float(0.2, 50),
        4.0,
        "Most frames a second each live session stream sends; a frame carries every change "
        "since the one before, so bytes per viewer stay bounded whatever the event rate.",
    ),
    Setting(
        "LIVE_GAP_ROWS",
        _bounded_int(0, 5_000),
        200,
        "Log rows a reconnecting session page is sent for the events caught while it was away, "
        "beyond the newest 50 it shows; past that it gets a button that loads the rest.",
    ),
    Setting(
        "LIVE_SENDS_PER_S",
        _bounded_float(10, 1_000_000),
        2000.0,
        "Most frames a second one web process sends to all the viewers of one live session "
        "together: a session with more than LIVE_SENDS_PER_S / LIVE_FRAMES_PER_S viewers "
        "gets its frames less often (at least one a second), each with every change since.",
    ),
    Setting(
        "LIVE_LOG_ROWS",
        _bounded_int(1, 50),
        10,
        "Newest log rows one live frame lists (1-50); a burst's older rows get a mark that "
        "links to them, and the counts and cells always count every event.",
    ),
    # --- worker pool ---
    Setting(
        "WORKERS",
        _bounded_int(1, 64),
        16,
        "Worker tasks in the web process's job pool: batches checked and stored at once, "
        "so that group commit has several to write in one transaction (under overload, "
        "16 stored 14-30% more a second than 8: bench/README.md).",
    ),
    Setting(
        "QUEUE_SIZE",
        _bounded_int(1, 100_000),
        1000,
        "Most jobs the pool queues (a hard cap; QUEUE_BUDGET_S usually refuses first).",
    ),
    Setting(
        "QUEUE_BUDGET_S",
        _bounded_float(0.05, 600),
        2.0,
        "The pool admits a job only while its queue can be finished within this many seconds "
        "(from the measured time per job); otherwise 429 with Retry-After.",
    ),
    Setting("JOB_TIMEOUT_S", _bounded_float(0.1, 3600), 30.0, "Timeout of one pool job."),
    Setting(
        "SHUTDOWN_GRACE_S",
        _bounded_float(0, 600),
        10.0,
        "On shutdown, seconds to finish running work before it is cancelled.",
    ),
    # --- notifications ---
    Setting("SLACK_WEBHOOK_URL", _http_url, "", "Slack incoming webhook for errors. Empty: none."),
    Setting(
        "NOTIFY_WEBHOOK_URL",
        _http_url,
        "",
        "Generic webhook that receives errors as JSON. Empty: none.",
    ),
)

_BY_NAME = {setting.name: setting for setting in SETTINGS}


def read_env_file(path: str | os.PathLike[str]) -> dict[str, str]:
    """Parse a `.env` file: KEY=VALUE lines, `#` comments, optional quotes."""
    values: dict[str, str] = {}
    file = Path(path)
    if not file.is_file():
        return values
    for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("export "):
            stripped = stripped[len("export ") :]
        key, sep, value = stripped.partition("=")
        if not sep:
            raise SettingsError(f"{file}:{number}: expected KEY=VALUE, got {line!r}")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[key.strip()] = value
    return values


class Settings:
    """Typed, read-only view of every setting. Attribute names are lower case."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self._values = dict(values)

    def __getattr__(self, attr: str) -> Any:
        try:
            return self._values[attr]
        except KeyError:
            raise AttributeError(attr) from None

    def replace(self, **changes: Any) -> Settings:
        unknown = set(changes) - set(self._values)
        if unknown:
            raise AttributeError(f"unknown settings: {', '.join(sorted(unknown))}")
        return Settings({**self._values, **changes})

    def as_dict(self, *, reveal_secrets: bool = False) -> dict[str, Any]:
        shown = {}
        for setting in SETTINGS:
            value = self._values[setting.attr]
            shown[setting.name] = (
                "***" if setting.secret and value and not reveal_secrets else value
            )
        return shown

    @property
    def uses_mysql(self) -> bool:
        return bool(self.db_host)


def load_settings(
    environ: Mapping[str, str] | None = None, env_file: str | os.PathLike[str] | None = ".env"
) -> Settings:
    """Read every setting: environment first, then the `.env` file, then the default."""
    environ = os.environ if environ is None else environ
    from_file = read_env_file(env_file) if env_file else {}
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        raw = environ.get(setting.name, from_file.get(setting.name))
        if raw is None:
            values[setting.attr] = setting.default
            continue
        try:
            values[setting.attr] = setting.cast(raw)
        except ValueError as exc:
            shown = "***" if setting.secret else repr(raw)
            raise SettingsError(
                f"setting {setting.name}={shown} is not valid: {exc} ({setting.help})"
            ) from None
    if values["default_page_size"] > values["max_page_size"]:
        raise SettingsError(
            f"setting DEFAULT_PAGE_SIZE={values['default_page_size']} is larger than "
            f"MAX_PAGE_SIZE={values['max_page_size']}"
        )
    _check_sync_lock(values)
    return Settings(values)


def _check_sync_lock(values: dict[str, Any]) -> None:
    # A lock that can expire while its sync still runs lets a second consumer start the
    # same project: the TTL must outlive the job timeout.
    timeout_s = values["sync_job_timeout_s"]
    if not values["sync_lock_ttl_s"]:
        values["sync_lock_ttl_s"] = timeout_s + 60
    elif values["sync_lock_ttl_s"] <= timeout_s:
        raise SettingsError(
            f"setting SYNC_LOCK_TTL_S={values['sync_lock_ttl_s']:g} must be longer than "
            f"SYNC_JOB_TIMEOUT_S={timeout_s:g}; set it above {timeout_s:g} or to 0 (automatic)"
        )


def setting(name: str) -> Setting:
    return _BY_NAME[name]
