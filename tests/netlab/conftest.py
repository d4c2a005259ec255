"""The lab, built once for every netlab test (see lab.py)."""

from collections.abc import Iterator

import pytest

from tests.netlab import lab as netlab


@pytest.fixture(scope="session")
def lab() -> Iterator[netlab.Lab]:
    why = netlab.missing_requirements()
    if why is not None:
        pytest.skip(why)
    with netlab.network_lab() as built:
        yield built
