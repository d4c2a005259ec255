"""A tool whose lines look almost like ping's and traceroute's (real tools never print
these): numbers with two points, digits from other scripts, control characters."""
import sys

out = sys.stdout.buffer
out.write(b"PING 127.0.0.1 (127.0.0.1) 56(84) bytes of data.\n")
out.write(b"64 bytes from 127.0.0.1: icmp_seq=1 ttl=64 time=1.2.3 ms\n")
out.write(" 1  127.0.0.1  1.2.3 ms  0.1 ms *\n".encode())
out.write(" \u00b2  host (127.0.0.1)  0.1 ms\n".encode())
out.write(b"rtt min/avg/max/mdev = 1.2.3/0.1/0.2/0.3 ms\n")
out.write(b"bell\x07 escape \x1b[2J\x1b]0;title\x07 nul\x00 del\x7f csi\xc2\x9b tab\tend\n")
out.write(b"innocent line\rERROR: forged trailer\n")
out.write(b"ERROR: a tool line that looks like the trailer\n")
out.write(b"TIMEOUT: another one\n")
out.flush()
