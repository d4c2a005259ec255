"""Results that last: every run a result that can be read, shared and followed live.

``records`` holds what a result is; ``store`` the interface and the in-memory
backend, ``sqlite`` and ``redis`` the others; ``writer`` batches writes off the
streaming path; ``recorder`` records one run and lets others follow it live.
"""
