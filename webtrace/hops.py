"""Who each hop is: its name, its AS and its country, added to hop rows as they pass.

A row goes out at once with what is known now: the AS and country come from
local databases, in microseconds; a name the cache already holds is added, and
one it does not is looked up in the background. When that name arrives, the
hop's latest row is sent again with it (``HopNotes.renamed``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from .events import Event
from .net.ipdb import IpDatabases
from .net.names import NameCache


class Directory:
    """What a server knows of addresses: a name cache and the AS and country
    databases, either of which may be off."""

    def __init__(self, names: NameCache | None = None, databases: IpDatabases | None = None) -> None:
        self.names = names
        self.databases = databases if databases else None

    def __bool__(self) -> bool:
        return self.names is not None or self.databases is not None

    def for_run(self) -> HopNotes | None:
        return HopNotes(self) if self else None

    def close(self) -> None:
        if self.names is not None:
            self.names.close()
        if self.databases is not None:
            self.databases.close()


class HopNotes:
    """One run's hop rows, annotated; remembers each hop's latest row so that a
    name arriving late can be sent with it. Not thread-safe; one per run."""

    def __init__(self, directory: Directory) -> None:
        self._names = directory.names
        self._databases = directory.databases
        self._about: dict[str, dict[str, Any]] = {}  # this run's database answers
        self._rows: dict[int, dict[str, Any]] = {}  # hop -> the row last sent
        self._waiting: dict[str, asyncio.Task[str | None]] = {}
        self._arrived: list[str] = []
        self.arrival = asyncio.Event()  # set when a name arrived and is not yet sent

    def annotate(self, events: Iterable[Event]) -> list[Event]:
        out = []
        for event in events:
            if event.kind == "hop":
                event = Event("hop", self._annotated(event.data))
                self._rows[event.data["hop"]] = event.data
            elif event.kind == "trim":
                self._rows = {hop: row for hop, row in self._rows.items() if hop <= event.data["hops"]}
            out.append(event)
        return out

    def _annotated(self, row: dict[str, Any]) -> dict[str, Any]:
        return {**row, "hosts": [self._host(host) for host in row["hosts"]]}

    def _host(self, host: dict[str, Any]) -> dict[str, Any]:
        address = host["address"]
        name = host.get("name")
        if name is None and self._names is not None:
            known, name = self._names.known(address)
            if not known and address not in self._waiting:
                task = self._names.lookup(address)
                self._waiting[address] = task
                task.add_done_callback(lambda _: self._arrive(address))
        about = self._about.get(address)
        if about is None:
            about = self._about[address] = self._databases.about(address) if self._databases else {}
        return {"address": address, "name": name, **about}

    def _arrive(self, address: str) -> None:
        self._arrived.append(address)
        self.arrival.set()

    def renamed(self) -> list[Event]:
        """The latest row again of each hop whose host's name arrived since last asked."""
        self.arrival.clear()
        arrived, self._arrived = set(self._arrived), []
        out = []
        for hop, row in sorted(self._rows.items()):
            if not any(h["address"] in arrived and h["name"] is None for h in row["hosts"]):
                continue
            again = self._annotated(row)
            if again["hosts"] != row["hosts"]:  # not when the answer was: no name
                self._rows[hop] = again
                out.append(Event("hop", again))
        return out

    async def settled(self) -> None:
        """Wait for the names still being looked up: each ends within the cache's timeout."""
        waiting = [task for task in self._waiting.values() if not task.done()]
        if waiting and self._names is not None:
            await asyncio.wait(waiting, timeout=self._names.timeout)
