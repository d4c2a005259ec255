"""webtrace benchmarks: streaming latency, capacity and clean-up, measured against a floor.

The floor is the same tools spawned and read by a bare asyncio process with no
HTTP at all: no server can deliver a line sooner than it is read from the tool.
"""
