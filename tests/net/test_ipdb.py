"""AS and country from local MaxMind-format databases."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from tests.ipdbs import write_asn_db, write_geo_db
from webtrace.net.ipdb import IpDatabases, IpDbError


@pytest.fixture
def databases(tmp_path: Path) -> tuple[Path, Path]:
    return write_asn_db(tmp_path / "asn.mmdb"), write_geo_db(tmp_path / "geo.mmdb")


def test_an_address_gets_its_as_and_country(databases: tuple[Path, Path]) -> None:
    asn, geo = databases
    dbs = IpDatabases(asn=asn, geo=geo)
    assert dbs.about("198.51.100.2") == {"asn": 64501, "as_name": "Transit Example", "country": "DE"}
    assert dbs.about("2001:db8:c::10") == {"asn": 64502, "as_name": "Target Hosting", "country": "JP"}
    assert dbs.about("10.1.2.3") == {}  # not in them: no such fields
    dbs.close()


def test_either_database_alone(databases: tuple[Path, Path]) -> None:
    asn, geo = databases
    assert IpDatabases(asn=asn).about("127.0.0.1") == {"asn": 64500, "as_name": "Example Net"}
    assert IpDatabases(geo=geo).about("127.0.0.1") == {"country": "NL"}
    assert not IpDatabases()


@pytest.mark.parametrize(("make", "says"), [
    (lambda p: p / "missing.mmdb", "there is no such file"),
    (lambda p: p, "it is a directory"),
    (lambda p: (p / "junk.mmdb").write_bytes(b"not a database") and p / "junk.mmdb", "not a MaxMind-format database"),
])
def test_a_database_that_cannot_be_read_is_named_by_its_setting(tmp_path: Path, make: object, says: str) -> None:
    path = make(tmp_path)  # type: ignore[operator]
    with pytest.raises(IpDbError) as caught:
        IpDatabases(geo=path)
    assert str(caught.value).startswith(f"WEBTRACE_GEO_DB={path} cannot be read") and says in str(caught.value)


def test_a_replaced_file_is_reopened_and_a_broken_one_is_not(
    databases: tuple[Path, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    asn, _ = databases
    dbs = IpDatabases(asn=asn)
    dbs.refresh()
    assert dbs.about("127.0.0.1")["asn"] == 64500
    # An updater writes the new file beside the old and renames it into place.
    write_asn_db(tmp_path / "new.mmdb", {"127.0.0.0/8": (64510, "Renumbered Net", "NL")})
    os.replace(tmp_path / "new.mmdb", asn)
    dbs.refresh()
    assert dbs.about("127.0.0.1") == {"asn": 64510, "as_name": "Renumbered Net"}
    (tmp_path / "bad.mmdb").write_bytes(b"half a download")
    os.replace(tmp_path / "bad.mmdb", asn)
    with caplog.at_level(logging.WARNING, logger="webtrace.net.ipdb"):
        dbs.refresh()
        dbs.refresh()  # the same broken file: warned of once
    assert dbs.about("127.0.0.1")["asn"] == 64510  # the one read before stays in use
    assert len([r for r in caplog.records if "could not be reopened" in r.getMessage()]) == 1
    dbs.close()


def test_reopen_reads_the_file_again_now(databases: tuple[Path, Path], tmp_path: Path) -> None:
    asn, _ = databases
    dbs = IpDatabases(asn=asn)
    write_asn_db(tmp_path / "new.mmdb", {"127.0.0.0/8": (64511, "Other Net", "NL")})
    os.replace(tmp_path / "new.mmdb", asn)
    dbs.reopen()
    assert dbs.about("127.0.0.1")["asn"] == 64511
    dbs.close()
