"""Settings: one frozen dataclass, built from ``WEBTRACE_*`` environment variables.

Every field names its variable, its parser and a one-line description in its
metadata; ``from_env`` and the README check (tests/test_settings.py) both read
that metadata, so a setting cannot exist without being documented.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from . import setting_values as values
from .net.addresses import Network, parse_networks
from .setting_values import NodeSpec, setting

__all__ = ["NodeSpec", "Settings", "SettingsError", "documented"]


class SettingsError(ValueError):
    """A ``WEBTRACE_*`` variable holds a value webtrace cannot use."""


@dataclass(frozen=True, slots=True)
class Settings:
    title: str = setting("WEBTRACE_TITLE", str, "Page title.", "webtrace")
    server_info: str | None = setting(
        "WEBTRACE_SERVERINFO", values.optional_text, "Server description shown on the page.", None
    )
    mtr_count: int = setting(
        "WEBTRACE_MTRCOUNT", values.int_between(1, 100), "Number of mtr cycles to run.", 10
    )
    ping_count: int = setting(
        "WEBTRACE_PINGCOUNT", values.int_between(1, 100), "Number of pings to send.", 4
    )
    mtr_interval: float = setting(
        "WEBTRACE_MTRINTERVAL",
        values.float_between(0.1, 10),
        "Seconds between mtr cycles (below 1 needs root).",
        1.0,
    )
    mtr_grace: float = setting(
        "WEBTRACE_MTRGRACE",
        values.float_between(0.1, 10),
        "Seconds mtr waits for the last cycle's answers before it ends.",
        2.0,
    )
    ping_interval: float = setting(
        "WEBTRACE_PINGINTERVAL",
        values.float_between(0.2, 10),
        "Seconds between pings.",
        1.0,
    )
    max_count: int = setting(
        "WEBTRACE_MAX_COUNT",
        values.int_between(1, 1000),
        "Most probes (ping) or cycles (mtr) a visitor may ask for with count=.",
        16,
    )
    max_hops: int = setting(
        "WEBTRACE_MAXHOPS", values.int_between(1, 64), "Maximum hops for traceroute, mtr and tracepath.", 30
    )
    timeout: float = setting(
        "WEBTRACE_TIMEOUT", values.float_between(1, 3600), "Seconds a run may last.", 30.0
    )
    ratelimit: str = setting(
        "WEBTRACE_RATELIMIT",
        values.ratelimit,
        "Runs per client, in limits syntax; several separated by ';'.",
        "10/minute",
    )
    ratelimit_storage: str = setting(
        "WEBTRACE_RATELIMIT_STORAGE",
        values.storage_uri,
        "limits storage URI: memory:// or redis://host:6379 to share budgets.",
        "async+memory://",
    )
    ipv6_prefix: int = setting(
        "WEBTRACE_RATELIMIT_IPV6_PREFIX",
        values.int_between(32, 128),
        "IPv6 clients share one budget per prefix of this length.",
        64,
    )
    max_jobs: int = setting(
        "WEBTRACE_MAX_JOBS", values.int_between(1, 100_000), "Runs at once, across all clients.", 100
    )
    max_jobs_per_client: int = setting(
        "WEBTRACE_MAX_JOBS_PER_CLIENT", values.int_between(1, 100_000), "Runs at once per client.", 2
    )
    continuous_max: float = setting(
        "WEBTRACE_CONTINUOUS_MAX",
        values.float_between(0, 86400),
        "Seconds a continuous run (continuous=true, ping and mtr) may last; 0 offers none. It pays a run from "
        "its visitor's budget for each WEBTRACE_TIMEOUT seconds begun.",
        600.0,
    )
    max_continuous_per_client: int = setting(
        "WEBTRACE_MAX_CONTINUOUS_PER_CLIENT", values.int_between(1, 100_000),
        "Continuous runs at once per client (they count towards WEBTRACE_MAX_JOBS_PER_CLIENT too).", 1
    )
    allow_networks: tuple[Network, ...] = setting(
        "WEBTRACE_ALLOW_NETWORKS",
        parse_networks,
        "Comma-separated CIDRs that may be targeted although the default policy denies them.",
        (),
    )
    deny_networks: tuple[Network, ...] = setting(
        "WEBTRACE_DENY_NETWORKS",
        parse_networks,
        "Comma-separated CIDRs that may never be targeted.",
        (),
    )
    trusted_proxies: tuple[Network, ...] = setting(
        "WEBTRACE_TRUSTED_PROXIES",
        parse_networks,
        "Comma-separated CIDRs whose X-Forwarded-For is believed (the unix socket always is).",
        parse_networks("127.0.0.0/8,::1/128"),
    )
    embed_origins: tuple[str, ...] = setting(
        "WEBTRACE_EMBED_ORIGINS",
        values.origins,
        "Comma-separated origins allowed to frame the page (?embed=1).",
        (),
    )
    resolve_timeout: float = setting(
        "WEBTRACE_RESOLVE_TIMEOUT",
        values.float_between(0.1, 60),
        "Seconds to wait for a hostname to resolve.",
        5.0,
    )
    names: str = setting(
        "WEBTRACE_NAMES",
        values.choice("on", "off"),
        "Look up each hop's name (reverse DNS) with the system's resolver: on or off."
        " The tools' own lookups are always off.",
        "on",
    )
    name_timeout: float = setting(
        "WEBTRACE_NAME_TIMEOUT",
        values.float_between(0.1, 30),
        "Seconds to wait for a hop's name; a row is shown at once and again when its name arrives.",
        2.0,
    )
    name_ttl: float = setting(
        "WEBTRACE_NAME_TTL",
        values.float_between(0, 7 * 86400),
        "Seconds a hop's name is remembered (an address without one: at most a minute).",
        3600.0,
    )
    name_lookups: int = setting(
        "WEBTRACE_NAME_LOOKUPS",
        values.int_between(1, 256),
        "Name lookups at once, across all runs.",
        8,
    )
    asn_db: Path | None = setting(
        "WEBTRACE_ASN_DB",
        values.optional_path,
        "MaxMind-format AS database (GeoLite2-ASN, DB-IP ASN Lite) giving each hop's AS; none if empty.",
        None,
    )
    geo_db: Path | None = setting(
        "WEBTRACE_GEO_DB",
        values.optional_path,
        "MaxMind-format Country or City database (GeoLite2, DB-IP Lite) giving each hop's country; none if empty.",
        None,
    )
    results: str = setting(
        "WEBTRACE_RESULTS",
        values.results_uri,
        "Where results are kept: sqlite:///PATH, memory://, redis://host:6379 (shared by instances) or off;"
        " empty: results.sqlite3 in $STATE_DIRECTORY (systemd), else in $XDG_STATE_HOME/webtrace.",
        "",
    )
    results_ttl: float = setting(
        "WEBTRACE_RESULTS_TTL",
        values.float_between(60, 366 * 86400),
        "Seconds a result is kept (7 days).",
        604800.0,
    )
    result_max_bytes: int = setting(
        "WEBTRACE_RESULT_MAX_BYTES",
        values.int_between(4096, 64 * 2**20),
        "Most a result may hold; a run that outgrows it streams on, and its result is marked cut.",
        2 * 2**20,
    )
    results_ratelimit: str = setting(
        "WEBTRACE_RESULTS_RATELIMIT",
        values.ratelimit,
        "Result reads per client (pages, JSON, followers), in limits syntax; separate from the run budget.",
        "120/minute",
    )
    node_name: str = setting(
        "WEBTRACE_NODE_NAME",
        values.node_name,
        "This server's name among the vantage points (empty: its host name).",
        "",
    )
    nodes: tuple[NodeSpec, ...] = setting(
        "WEBTRACE_NODES",
        values.node_list,
        "Other webtraces to run from, as name=URL separated by ',' (their base URL: the same API).",
        (),
    )
    nodes_silence_timeout: float = setting(
        "WEBTRACE_NODES_SILENCE_TIMEOUT",
        values.float_between(1, 600),
        "Seconds a node's stream may stay silent before its part of a run ends unavailable"
        " (a node sends a comment every 10 s while its tool is quiet).",
        30.0,
    )
    nodes_check_interval: float = setting(
        "WEBTRACE_NODES_CHECK_INTERVAL",
        values.float_between(0.2, 3600),
        "Seconds between checks of whether each other node is up.",
        15.0,
    )
    idle_timeout: float = setting(
        "WEBTRACE_IDLE_TIMEOUT",
        values.float_between(1, 3600),
        "Seconds a connection may go without a complete request (just opened, half-sent, or kept alive"
        " after a response) before the standalone server closes it.",
        15.0,
    )
    log_level: str = setting(
        "WEBTRACE_LOG_LEVEL", values.log_level, "Log level: DEBUG, INFO, WARNING or ERROR.", "INFO"
    )
    log_format: str = setting(
        "WEBTRACE_LOG_FORMAT", values.choice("text", "json"), "Log format: text or json.", "text"
    )
    log_refusals: str = setting(
        "WEBTRACE_LOG_REFUSALS",
        values.choice("summary", "each"),
        "A client refused again and again for its rate limit: a summary line a second, or a line each.",
        "summary",
    )
    templates_dir: Path | None = setting(
        "WEBTRACE_TEMPLATES_DIR",
        values.optional_dir,
        "Directory of the page templates (default: the ones shipped with webtrace).",
        None,
    )
    static_dir: Path | None = setting(
        "WEBTRACE_STATIC_DIR",
        values.optional_dir,
        "Directory of the static files (default: the ones shipped with webtrace).",
        None,
    )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``env`` (default: the process environment).

        A bad value raises :class:`SettingsError` naming the variable.
        """
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in fields(cls):
            name = f.metadata["env"]
            raw = env.get(name)
            if raw is None:
                continue
            try:
                values[f.name] = f.metadata["parse"](raw)
            except ValueError as exc:
                raise SettingsError(f"{name}={raw!r} is invalid: {exc}") from None
        settings = cls(**values)
        settings.check()
        return settings

    def check(self) -> None:
        if self.max_jobs_per_client > self.max_jobs:
            raise SettingsError(
                "WEBTRACE_MAX_JOBS_PER_CLIENT is larger than WEBTRACE_MAX_JOBS"
            )
        for count, interval, names in (  # as a visitor's count=, which is refused the same way
            (self.ping_count, self.ping_interval, ("WEBTRACE_PINGCOUNT", "WEBTRACE_PINGINTERVAL")),
            (self.mtr_count, self.mtr_interval, ("WEBTRACE_MTRCOUNT", "WEBTRACE_MTRINTERVAL")),
        ):
            if count * interval > self.timeout:
                raise SettingsError(
                    f"{names[0]}={count} at one every {names[1]}={interval:g} s takes {count * interval:g} s, "
                    f"longer than the WEBTRACE_TIMEOUT={self.timeout:g} s a run may last"
                )
        if self.node_name and any(node.name == self.node_name for node in self.nodes):
            raise SettingsError(
                f"WEBTRACE_NODES lists {self.node_name!r}, which is this server's own WEBTRACE_NODE_NAME"
            )

    def tool_counts(self) -> dict[str, tuple[int, float, float | None]]:
        """The count, interval and wait for the last answers (None: the tool's own) the
        operator gives each tool that takes a count, by tool name."""
        return {"ping": (self.ping_count, self.ping_interval, None),
                "mtr": (self.mtr_count, self.mtr_interval, self.mtr_grace)}


def documented() -> dict[str, tuple[str, str]]:
    """``{variable: (default as text, description)}`` for every setting."""
    result = {}
    for f in fields(Settings):
        default = f.default
        if isinstance(default, tuple):
            default = ",".join(str(n) for n in default)
        elif isinstance(default, float):
            default = f"{default:g}"
        result[f.metadata["env"]] = ("" if default is None else str(default), f.metadata["doc"])
    return result
