"""The formats a kept result can be read in besides webtrace's own JSON and text
(``GET /api/v1/results/{id}?format=``), each as one record. A tool's record lists
those that fit its output (``ToolSpec.exports``); the result route, the API
document and the page's Download menu read them from there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from . import atlas, csv_table, mtr_json
from .folded import KeptRun

JSON_MEDIA = "application/json"


@dataclass(frozen=True, slots=True)
class Export:
    name: str  # ?format=
    label: str  # on the page's Download menu
    media_type: str
    extension: str  # of the file name a download is given
    description: str  # for the API document: what it is and what reads it
    render: Callable[[KeptRun], Iterator[bytes]]  # written as it comes: no second copy of the result


_ATLAS = "the RIPE Atlas result format, one result object per place (ripe.atlas.sagan, ripe-atlas report)"
ATLAS_PING = Export("atlas", "RIPE Atlas JSON", JSON_MEDIA, "atlas.json", _ATLAS, atlas.ping)
ATLAS_TRACEROUTE = Export("atlas", "RIPE Atlas JSON", JSON_MEDIA, "atlas.json", _ATLAS, atlas.traceroute)
MTR_JSON = Export("mtr-json", "mtr JSON", JSON_MEDIA, "mtr.json",
                  "the shape of mtr --json's report; from several places, a list of them", mtr_json.render)
_CSV = "CSV with a header row, the place as the first column (a spreadsheet, Python's csv)"
CSV_HOPS = Export("csv", "CSV", "text/csv", "csv", f"{_CSV}: a row per host of each hop", csv_table.hops)
CSV_REPLIES = Export("csv", "CSV", "text/csv", "csv", f"{_CSV}: a row per reply", csv_table.replies)

# Every result reads as these two (with their labels on the page); the others as its tool's record says.
OWN_LABELS = {"json": "JSON", "text": "Text"}
OWN_FORMATS = tuple(OWN_LABELS)
EXPORT_NAMES = ("atlas", "mtr-json", "csv")
