import re
from pathlib import Path

import pytest

from webtrace.settings import Settings, SettingsError, documented

README = Path(__file__).parent.parent / "README.md"


def test_defaults_match_the_original_webtrace() -> None:
    s = Settings.from_env({})
    assert (s.mtr_count, s.ping_count, s.ratelimit, s.server_info, s.title, s.timeout) == (
        10, 4, "10/minute", None, "webtrace", 30.0,
    )


def test_values_are_read_from_the_environment() -> None:
    s = Settings.from_env(
        {
            "WEBTRACE_MTRCOUNT": "5",
            "WEBTRACE_TITLE": "AS64500 looking glass",
            "WEBTRACE_SERVERINFO": "Frankfurt, DE",
            "WEBTRACE_ALLOW_NETWORKS": "127.0.0.0/8, ::1/128",
            "WEBTRACE_RATELIMIT": "5/minute;100/day",
            "WEBTRACE_RATELIMIT_STORAGE": "redis://127.0.0.1:6379",
        }
    )
    assert s.mtr_count == 5
    assert s.title == "AS64500 looking glass"
    assert s.server_info == "Frankfurt, DE"
    assert [str(n) for n in s.allow_networks] == ["127.0.0.0/8", "::1/128"]
    assert s.ratelimit_storage == "async+redis://127.0.0.1:6379"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("WEBTRACE_MTRCOUNT", "ten"),
        ("WEBTRACE_PINGCOUNT", "0"),
        ("WEBTRACE_TIMEOUT", "-1"),
        ("WEBTRACE_RATELIMIT", "lots"),
        ("WEBTRACE_ALLOW_NETWORKS", "10.0.0.0/33"),
        ("WEBTRACE_TRUSTED_PROXIES", "nginx"),
        ("WEBTRACE_EMBED_ORIGINS", "example.net"),
        ("WEBTRACE_LOG_FORMAT", "xml"),
        ("WEBTRACE_RATELIMIT_STORAGE", "redis"),
        ("WEBTRACE_STATIC_DIR", "/nonexistent/static"),
    ],
)
def test_an_invalid_value_names_its_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})


def test_per_client_cap_cannot_exceed_global_cap() -> None:
    with pytest.raises(SettingsError, match="WEBTRACE_MAX_JOBS_PER_CLIENT"):
        Settings.from_env({"WEBTRACE_MAX_JOBS": "2", "WEBTRACE_MAX_JOBS_PER_CLIENT": "3"})


def test_every_setting_is_documented_in_the_readme_with_its_default() -> None:
    text = README.read_text()
    for name, (default, _doc) in documented().items():
        row = re.search(rf"^\| `{name}` \|(.*)$", text, re.MULTILINE)
        assert row, f"{name} is missing from the README's settings table"
        if default:
            assert default.removeprefix("async+") in row.group(1), f"{name}'s default is not in the README"


@pytest.mark.parametrize(("env", "names"), [
    ({"WEBTRACE_PINGCOUNT": "40"}, ("WEBTRACE_PINGCOUNT=40", "WEBTRACE_PINGINTERVAL=1", "WEBTRACE_TIMEOUT=30")),
    ({"WEBTRACE_MTRINTERVAL": "5"}, ("WEBTRACE_MTRCOUNT=10", "WEBTRACE_MTRINTERVAL=5", "WEBTRACE_TIMEOUT=30")),
    ({"WEBTRACE_TIMEOUT": "3"}, ("WEBTRACE_PINGCOUNT=4", "WEBTRACE_PINGINTERVAL=1", "WEBTRACE_TIMEOUT=3")),
])
def test_item_11_defaults_that_cannot_fit_in_a_run_stop_start_up(env: dict[str, str], names: tuple[str, ...]) -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.from_env(env)
    assert all(name in str(refused.value) for name in names), refused.value
    Settings.from_env({"WEBTRACE_PINGCOUNT": "40", "WEBTRACE_PINGINTERVAL": "0.5"})  # 20 s: fits
