"""Stands in for ping, traceroute and mtr where a test must never probe anything:
if it is ever started, it records its arguments and exits without sending a packet."""
import os
import sys
from pathlib import Path

Path(os.environ["WEBTRACE_TEST_RECORD"]).open("a").write(" ".join(sys.argv) + "\n")
sys.exit(99)
