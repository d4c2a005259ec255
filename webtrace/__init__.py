"""webtrace: a self-hosted looking glass streaming ping, traceroute and mtr live."""

from .app import create_app
from .settings import Settings

__all__ = ["Settings", "create_app"]
