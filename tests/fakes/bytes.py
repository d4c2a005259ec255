"""A tool printing invalid UTF-8 and a 200 KiB line, then exiting with status 3."""
import sys

out = sys.stdout.buffer
out.write(b"caf\xc3\xa9 \xff\xfe broken\n")
out.write(b"x" * (200 * 1024) + b"\n")
out.write(b"no newline at the end")
out.flush()
sys.exit(3)
