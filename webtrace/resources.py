"""Where the templates and static files are.

In a checkout they sit at the top level beside the package; an installed
package finds them under ``<prefix>/share/webtrace`` (setup.cfg data_files).
Settings override both.
"""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parent.parent


def _candidates(name: str) -> list[Path]:
    return [
        _CHECKOUT / name,
        Path(sys.prefix) / "share" / "webtrace" / name,
        Path(sysconfig.get_path("data")) / "share" / "webtrace" / name,
    ]


def find_dir(name: str, override: Path | None = None) -> Path:
    """The ``templates`` or ``static`` directory; raises FileNotFoundError if none."""
    if override is not None:
        return override
    for candidate in _candidates(name):
        if candidate.is_dir():
            return candidate
    searched = ", ".join(str(c) for c in _candidates(name))
    raise FileNotFoundError(f"webtrace's {name} directory was not found (looked in {searched})")
