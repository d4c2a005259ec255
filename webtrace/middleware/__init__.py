"""One middleware (or response hook) per concern, each with its ``setup_*``."""
