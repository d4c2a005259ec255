"""A DNS server that answers reverse lookups, each after its own delay.

    python slow_dns.py ADDRESS ADDRESS=NAME@SECONDS ...

Listens on ADDRESS, port 53, UDP; prints "ready" once bound and "asked ADDRESS"
for each PTR question. Any other question, or an address not listed, gets
NXDOMAIN at once. Requests are answered in threads, so one slow answer holds
no other back: it stands for a real resolver whose upstream is slow for one zone.
"""

from __future__ import annotations

import ipaddress
import sys
import time

from dnslib import PTR, QTYPE, RCODE, RR, DNSRecord  # type: ignore[import-untyped]
from dnslib.server import BaseResolver, DNSHandler, DNSLogger, DNSServer  # type: ignore[import-untyped]


class Slow(BaseResolver):  # type: ignore[misc]
    def __init__(self, answers: dict[str, tuple[str, float]]) -> None:
        self.answers = answers

    def resolve(self, request: DNSRecord, handler: DNSHandler) -> DNSRecord:
        reply = request.reply()
        qname = str(request.q.qname)
        if request.q.qtype != QTYPE.PTR:
            reply.header.rcode = RCODE.NXDOMAIN
            return reply
        address = _address_of(qname)
        print(f"asked {address}", flush=True)
        found = self.answers.get(address or "")
        if found is None:
            reply.header.rcode = RCODE.NXDOMAIN
            return reply
        name, delay = found
        time.sleep(delay)
        reply.add_answer(RR(qname, QTYPE.PTR, rdata=PTR(name), ttl=60))
        return reply


def _address_of(qname: str) -> str | None:
    labels = qname.rstrip(".").split(".")
    try:
        if labels[-2:] == ["in-addr", "arpa"]:
            return str(ipaddress.ip_address(".".join(reversed(labels[:-2]))))
        if labels[-2:] == ["ip6", "arpa"]:
            nibbles = "".join(reversed(labels[:-2]))
            return str(ipaddress.ip_address(":".join(nibbles[i:i + 4] for i in range(0, 32, 4))))
    except ValueError:
        pass
    return None


def main() -> None:
    listen, *specs = sys.argv[1:]
    answers = {}
    for spec in specs:
        address, _, rest = spec.partition("=")
        name, _, delay = rest.partition("@")
        answers[str(ipaddress.ip_address(address))] = (name, float(delay or 0))
    server = DNSServer(Slow(answers), address=listen, port=53, logger=DNSLogger(logf=lambda _: None))
    server.start_thread()
    print("ready", flush=True)
    while server.isAlive():
        time.sleep(0.5)


if __name__ == "__main__":
    main()
