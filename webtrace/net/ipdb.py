"""Who an address belongs to: its AS and its country, from local databases.

The operator names MaxMind-format files (GeoLite2-ASN or DB-IP ASN Lite for
the AS; a Country or City database for the country), read with ``maxminddb``;
nothing is ever asked of the network. A file that cannot be opened at start-up
stops it (``IpDbError`` names the setting); one replaced later (an updater's
timer) is reopened when ``refresh`` sees it changed, or at once on ``reopen``
(SIGHUP); a replacement that cannot be read leaves the open one in use.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import maxminddb

log = logging.getLogger(__name__)

MAX_AS_NAME = 200  # a record is whatever the database's maker wrote


class IpDbError(ValueError):
    """A database the operator named cannot be used."""


def _signature(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return st.st_ino, st.st_size, st.st_mtime_ns


@dataclass
class _Database:
    setting: str  # the variable that names it, for every sentence about it
    path: Path
    reader: Any = None
    signature: tuple[int, int, int] | None = None
    failed: tuple[int, int, int] | None = field(default=None, repr=False)  # a replacement already warned of

    def open(self) -> None:
        if self.path.is_dir():
            raise IsADirectoryError(self.path)
        signature = _signature(self.path)
        reader = maxminddb.open_database(str(self.path))
        old, self.reader, self.signature, self.failed = self.reader, reader, signature, None
        if old is not None:
            old.close()

    def refresh(self, *, force: bool = False) -> bool:
        """Reopen the file if it changed (or ``force``); True if it was reopened."""
        try:
            signature: tuple[int, int, int] | None = _signature(self.path)
        except OSError:
            signature = None  # being replaced, or gone: the open one stays in use
        if not force and (signature is None or signature in (self.signature, self.failed)):
            return False
        try:
            self.open()
        except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
            if force or signature != self.failed:
                log.warning("%s=%s could not be reopened (%s); the one read before stays in use",
                            self.setting, self.path, _why(exc))
            self.failed = signature
            return False
        log.info("%s=%s reopened", self.setting, self.path)
        return True

    def get(self, address: str) -> dict[str, Any] | None:
        try:
            record = self.reader.get(address)
        except ValueError:  # an IPv6 address in an IPv4-only database
            return None
        return record if isinstance(record, dict) else None

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()
            self.reader = None


class IpDatabases:
    """The AS and country databases the operator named; either may be absent."""

    def __init__(self, *, asn: Path | None = None, geo: Path | None = None,
                 asn_setting: str = "WEBTRACE_ASN_DB", geo_setting: str = "WEBTRACE_GEO_DB") -> None:
        self._asn = _Database(asn_setting, asn) if asn is not None else None
        self._geo = _Database(geo_setting, geo) if geo is not None else None
        for db in self._databases():
            try:
                db.open()
            except (OSError, ValueError, maxminddb.InvalidDatabaseError) as exc:
                self.close()
                raise IpDbError(f"{db.setting}={db.path} cannot be read: {_why(exc)}") from None

    def _databases(self) -> list[_Database]:
        return [db for db in (self._asn, self._geo) if db is not None]

    def __bool__(self) -> bool:
        return bool(self._databases())

    def about(self, address: str) -> dict[str, Any]:
        """``asn``, ``as_name`` and ``country`` of the address, those the databases know."""
        found: dict[str, Any] = {}
        if self._asn is not None and (record := self._asn.get(address)) is not None:
            number = record.get("autonomous_system_number")
            if isinstance(number, int) and 0 < number < 2**32:
                found["asn"] = number
                name = record.get("autonomous_system_organization")
                if isinstance(name, str) and name:
                    found["as_name"] = name[:MAX_AS_NAME]
        if self._geo is not None and (record := self._geo.get(address)) is not None:
            code = _country(record)
            if code is not None:
                found["country"] = code
        return found

    def refresh(self) -> None:
        """Reopen any file an updater replaced (called every few seconds)."""
        for db in self._databases():
            db.refresh()

    def reopen(self) -> None:
        """Reopen every file now (SIGHUP)."""
        for db in self._databases():
            db.refresh(force=True)

    def close(self) -> None:
        for db in self._databases():
            db.close()


def _country(record: dict[str, Any]) -> str | None:
    # The country where the address is used; for an address with none (an
    # anycast network, a satellite provider), the one it is registered in.
    for key in ("country", "registered_country"):
        part = record.get(key)
        if isinstance(part, dict):
            code = part.get("iso_code")
            if isinstance(code, str) and len(code) == 2 and code.isascii() and code.isalpha():
                return code.upper()
    return None


def _why(exc: BaseException) -> str:
    if isinstance(exc, FileNotFoundError):
        return "there is no such file"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, IsADirectoryError):
        return "it is a directory"
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return "it is not a MaxMind-format database"
