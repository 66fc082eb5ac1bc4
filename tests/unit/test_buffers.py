"""Buffer placement: where host buffers start, which pages back them, and how --align is read."""

from __future__ import annotations

import mmap

import numpy as np
import pytest

from bench.buffers import PAGE, BufferSpec, check_itemsize, host_empty, host_full, page_offset, parse_align
from bench.device import CpuDevice
from bench.errors import UsageError
from collectives.transport import TransportSpec


@pytest.mark.parametrize(
    "text, expected",
    [
        ("page", [BufferSpec(PAGE, 0)]),
        ("4096", [BufferSpec(4096, 0)]),
        ("page+16", [BufferSpec(PAGE, 16)]),
        ("64,page,64", [BufferSpec(64, 0), BufferSpec(PAGE, 0)]),
        ("2097152+64", [BufferSpec(2 << 20, 64)]),
        ("numpy", [BufferSpec(0, 0)]),
    ],
)
def test_align_values(text, expected):
    assert parse_align(text) == expected


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "empty --align"),
        ("fast", "is not BYTES"),
        ("4096-16", "is not BYTES"),
        ("3000", "not a power of two"),
        ("0", "not a power of two"),
        ("64+64", "smaller than the alignment 64"),
        (str(1 << 31), "not a power of two between"),
    ],
)
def test_bad_align_values_say_what_to_give(text, message):
    with pytest.raises(UsageError, match=message):
        parse_align(text)


def test_numpy_placement_leaves_huge_pages_to_numpy():
    with pytest.raises(UsageError, match="NUMPY_MADVISE_HUGEPAGE"):
        parse_align("numpy", huge_pages="on")
    with pytest.raises(UsageError, match="--huge-pages"):
        parse_align("page", huge_pages="sometimes")


def test_an_offset_must_not_split_an_element():
    check_itemsize(BufferSpec(PAGE, 16), "float64", 8)
    with pytest.raises(UsageError, match="multiple of 8"):
        check_itemsize(BufferSpec(PAGE, 4), "float64", 8)


@pytest.mark.parametrize("align, offset", [(PAGE, 0), (PAGE, 16), (64, 0), (64, 8), (2 << 20, 0), (2 << 20, 4096)])
@pytest.mark.parametrize("count", [0, 1, 1000, 300_000])
def test_host_buffers_start_where_asked(align, offset, count):
    array = host_empty(count, np.float32, BufferSpec(align, offset))
    assert array.shape == (count,) and array.dtype == np.float32 and array.flags.c_contiguous
    array[...] = 7  # writable, and the whole length is mapped
    if count:  # an empty view has no address of its own
        assert (array.ctypes.data - offset) % align == 0
        assert page_offset(array) == offset % PAGE


def test_numpy_placement_is_numpys_own():
    array = host_empty(1 << 20, np.float32, BufferSpec(0, 0))
    assert array.base is None and array.flags.owndata  # np.empty's memory, not a view of a mapping
    assert host_empty(1 << 20, np.float32).base is not None


@pytest.mark.parametrize("huge_pages", ["on", "off", "system"])
def test_huge_page_advice_is_taken(huge_pages):
    if huge_pages != "system" and not hasattr(mmap, "MADV_HUGEPAGE"):
        pytest.skip("this system has no madvise huge-page advice")
    array = host_full(4 << 20, np.uint8, 3, BufferSpec(PAGE, 0, huge_pages))
    assert int(array.sum()) == 3 * (4 << 20)


def test_names_round_trip():
    for text in ("4096", "4096+16", "64", "numpy"):
        assert parse_align(text)[0].name == text


def test_scratch_space_follows_the_placement():
    spec = BufferSpec(PAGE, 32)
    transport = CpuDevice().transport_for(spec)
    scratch = transport.scratch(100, np.dtype(np.float64))
    assert page_offset(scratch) == 32 and scratch.size == 100
    plain = TransportSpec().scratch(10, np.dtype(np.int32))
    assert plain.dtype == np.int32 and plain.size == 10
