"""Prints nothing until the FIFO named by WEBTRACE_TEST_GATE is written, then one line per write.

It also starts a child in its own process group's session, which must die with it.
"""
import os
import subprocess
import sys

child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
with open(os.environ["WEBTRACE_TEST_GATE"], "rb") as gate:
    for chunk in iter(lambda: gate.readline(), b""):
        sys.stdout.write(f"released: {chunk.decode().strip()}\n")
        sys.stdout.flush()
child.kill()
