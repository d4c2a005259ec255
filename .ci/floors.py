"""Print a pip constraints file pinning each runtime dependency to its floor.

``make test-lowest`` installs with it, so that the floors in setup.cfg are
versions webtrace really runs on, not wishes.
"""

import configparser
import re
import sys

config = configparser.ConfigParser()
config.read(sys.argv[1] if len(sys.argv) > 1 else "setup.cfg")
for requirement in config["options"]["install_requires"].strip().splitlines():
    spec, _, marker = requirement.partition(";")
    found = re.match(r"\s*([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?\s*.*?>=\s*([^,\s]+)", spec)
    if found is None:
        sys.exit(f"no floor in {requirement!r}: every runtime dependency needs one")
    name, floor = found.groups()
    print(f"{name}=={floor}" + (f"; {marker.strip()}" if marker.strip() else ""))
