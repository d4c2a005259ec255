"""A tool whose output is hostile HTML and control characters (real tools never print this)."""
import sys

out = sys.stdout.buffer
out.write(b"<img src=x onerror=\"document.title='pwned'\">\n")
out.write(b"<script>document.title='pwned'</script>\n")
out.write(b"line with\rcarriage return and \x1b[31mANSI\x1b[0m\n")
out.write(b"event: end\ndata: {\"status\":\"ok\"}\n\n")
out.write(b"64 bytes from 127.0.0.1: icmp_seq=1 ttl=64 time=<b>1</b> ms\n")
out.flush()
