"""Resolvers for tests: no test may send a DNS query off this machine."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from webtrace.net.addresses import IPAddress
from webtrace.net.targets import Family, system_resolver


class TableResolver:
    """Answers from a table; ``localhost`` still goes to the system resolver (/etc/hosts)."""

    def __init__(self, table: dict[str, list[str]] | None = None) -> None:
        self.table = table or {}
        self.asked: list[str] = []

    async def __call__(self, host: str, family: Family) -> Sequence[IPAddress]:
        self.asked.append(host)
        if host == "localhost":
            return await system_resolver(host, family)
        return [ipaddress.ip_address(a) for a in self.table.get(host, [])]
