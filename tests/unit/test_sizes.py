import pytest

from bench.errors import UsageError
from bench.sizes import format_size, parse_factor, parse_size, sweep


@pytest.mark.parametrize(
    "text, expected",
    [
        ("8", 8),
        ("1K", 1024),
        ("64k", 65536),
        ("1M", 1 << 20),
        ("16MiB", 16 << 20),
        ("2G", 2 << 30),
        ("1.5K", 1536),
        (" 4 ", 4),
        ("32b", 32),
    ],
)
def test_parse_size(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "abc", "-8", "0", "1KB", "1T", "0.5", "1.1K", "8 8"])
def test_parse_size_rejects(text):
    with pytest.raises(UsageError) as err:
        parse_size(text, "min size (-b)")
    assert "\n" not in str(err.value)
    assert "min size (-b)" in str(err.value)


def test_format_size():
    assert format_size(8) == "8 B"
    assert format_size(65536) == "64 KiB"
    assert format_size(3 << 19) == "1.5 MiB"


def test_sweep_doubles_and_ends_at_max():
    assert sweep(8, 64, 2) == [8, 16, 32, 64]
    assert sweep(8, 1 << 20, 4) == [8, 32, 128, 512, 2048, 8192, 32768, 131072, 524288, 1048576]
    assert sweep(8, 100, 2) == [8, 16, 32, 64, 100]
    assert sweep(16, 16, 2) == [16]


def test_sweep_aligns_and_dedups():
    assert sweep(4, 40, 1.5, align=4) == [4, 8, 12, 20, 28, 40]


def test_sweep_rejects_max_below_min():
    with pytest.raises(UsageError, match="smaller than min"):
        sweep(64, 8, 2)


@pytest.mark.parametrize("text", ["1", "0.5", "-2", "x", "nan", "inf"])
def test_parse_factor_rejects(text):
    with pytest.raises(UsageError):
        parse_factor(text)


def test_parse_factor():
    assert parse_factor("2") == 2.0
    assert parse_factor("1.5") == 1.5
