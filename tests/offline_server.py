"""``python -m tests.offline_server``: a real webtrace whose names never reach the DNS:
every host name resolves to loopback. For fuzzing, whose generated targets would
otherwise be looked up off this machine, and should reach a (recording) tool when
they are well formed. Takes webtrace's own arguments."""

from __future__ import annotations

import ipaddress
import logging

from aiohttp import web

from collections.abc import Sequence
from typing import Any

from webtrace.net.addresses import IPAddress
from webtrace.net.targets import Family
from webtrace.__main__ import parse_args
from webtrace.app import create_app
from webtrace.logs import ACCESS_LOGGER, configure_logging
from webtrace.settings import Settings
from webtrace.web.accesslog import AccessLogger


async def loopback_resolver(host: str, family: Family) -> Sequence[IPAddress]:
    v4, v6 = ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")
    return {Family.V4: [v4], Family.V6: [v6]}.get(family, [v4, v6])


def main() -> None:
    serve(resolver=loopback_resolver)


def serve(**built_with: Any) -> None:
    """Serve webtrace built with ``built_with`` (create_app's keywords), as ``python -m webtrace`` would."""
    args = parse_args()
    settings = Settings.from_env()
    configure_logging(settings.log_level, settings.log_format)
    app = create_app(settings, **built_with)
    listen = {"path": args.unix_socket} if args.unix_socket else {"host": args.host, "port": args.port}
    web.run_app(app, **listen, handler_cancellation=True, access_log_class=AccessLogger,  # type: ignore[arg-type]
                access_log=logging.getLogger(ACCESS_LOGGER), print=lambda text: logging.info(text.strip()))


if __name__ == "__main__":
    main()
