"""webtrace: a self-hosted looking glass streaming ping, traceroute and mtr live.

``create_app`` and ``Settings`` are imported when first asked for, so that
importing one room (``webtrace.net.policy``, say) does not import the web
server with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import create_app
    from .settings import Settings

__all__ = ["Settings", "create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from .app import create_app

        return create_app
    if name == "Settings":
        from .settings import Settings

        return Settings
    raise AttributeError(f"module 'webtrace' has no attribute {name!r}")
