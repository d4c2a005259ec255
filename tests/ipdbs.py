"""Small MaxMind-format databases for tests, written with mmdb-writer.

Each maps documentation and loopback networks (the only ones tests use) to
made-up ASes and countries, in the layouts GeoLite2-ASN and GeoLite2-Country use.
"""

from __future__ import annotations

from pathlib import Path

from mmdb_writer import MMDBWriter
from netaddr import IPSet  # type: ignore[import-untyped]

# network -> (AS number, AS name, country)
NETWORKS: dict[str, tuple[int, str, str]] = {
    "127.0.0.0/8": (64500, "Example Net", "NL"),
    "192.0.2.0/24": (64500, "Example Net", "NL"),
    "2001:db8:a::/48": (64500, "Example Net", "NL"),
    "198.51.100.0/24": (64501, "Transit Example", "DE"),
    "2001:db8:b::/48": (64501, "Transit Example", "DE"),
    "203.0.113.0/24": (64502, "Target Hosting", "JP"),
    "2001:db8:c::/48": (64502, "Target Hosting", "JP"),
}


def write_asn_db(path: Path, networks: dict[str, tuple[int, str, str]] = NETWORKS) -> Path:
    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoLite2-ASN",
                        description="webtrace test AS database")
    for network, (asn, name, _) in networks.items():
        writer.insert_network(IPSet([network]), {
            "autonomous_system_number": asn, "autonomous_system_organization": name})
    writer.to_db_file(str(path))
    return path


def write_geo_db(path: Path, networks: dict[str, tuple[int, str, str]] = NETWORKS) -> Path:
    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoLite2-Country",
                        description="webtrace test country database")
    for network, (_, _, country) in networks.items():
        writer.insert_network(IPSet([network]), {
            "country": {"iso_code": country, "names": {"en": country}},
            "registered_country": {"iso_code": country}})
    writer.to_db_file(str(path))
    return path
