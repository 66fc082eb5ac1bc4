"""The MPI tool information interface (MPI_T) through ctypes: the running library's control variables.

mpi4py does not wrap MPI_T, so this module calls the MPI library that mpi4py loaded (found in
``/proc/self/maps``) directly. Only what forcing a collective algorithm needs is here: look a
control variable up by name, read its description and its enumeration (Open MPI names its
values; MPICH lists them in the description), and read or write an integer value. Handles are
opaque: ``MPI_Datatype`` and ``MPI_T_enum`` are read into pointer-sized slots, which fits both
MPICH (an int) and Open MPI (a pointer).
"""

from __future__ import annotations

import ctypes
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

_NAME = 256
_DESCRIPTION = 8192


class ToolError(RuntimeError):
    """MPI_T refused a call (the return code says which)."""


@cache
def library_path() -> str:
    """Where the MPI library that mpi4py loaded lives (loading it does not start MPI)."""
    from mpi4py import MPI  # noqa: F401  (loads the library)

    with open("/proc/self/maps", encoding="utf-8") as maps:
        paths = [line.split()[-1] for line in maps if re.search(r"/lib(mpi|mpich|impi)[^/]*\.so", line)]
    if not paths:
        raise ToolError("cannot find the MPI library in this process's memory map")
    return paths[0]


@cache
def library() -> Any:
    """The MPI library this process runs on, as a ctypes library (the one mpi4py loaded)."""
    lib = ctypes.CDLL(library_path())
    provided = ctypes.c_int()
    _check(lib.MPI_T_init_thread(0, ctypes.byref(provided)), "MPI_T_init_thread")
    return lib


def _check(code: int, call: str) -> None:
    if code != 0:
        raise ToolError(f"{call} returned {code}")


@dataclass(frozen=True)
class Cvar:
    """One control variable: its index, name, description, named values (when it has an enumeration) and
    whether it holds a C int."""

    index: int
    name: str
    description: str
    items: tuple[tuple[int, str], ...]
    is_int: bool

    def _handle(self) -> Any:
        handle, count = ctypes.c_void_p(), ctypes.c_int()
        _check(library().MPI_T_cvar_handle_alloc(self.index, None, ctypes.byref(handle), ctypes.byref(count)), "alloc")
        return handle

    def read(self) -> int:
        handle = self._handle()
        value = ctypes.c_int64(0)  # room for an int or a bool; both are read from the low bytes
        try:
            _check(library().MPI_T_cvar_read(handle, ctypes.byref(value)), f"MPI_T_cvar_read({self.name})")
        finally:
            library().MPI_T_cvar_handle_free(ctypes.byref(handle))
        return ctypes.c_int.from_buffer(value).value if self.is_int else int(value.value & 0xFF)

    def write(self, value: int) -> None:
        """Set the variable, and check by reading it back that the library took the value."""
        handle = self._handle()
        given = ctypes.c_int(int(value))
        try:
            _check(library().MPI_T_cvar_write(handle, ctypes.byref(given)), f"MPI_T_cvar_write({self.name}={value})")
        finally:
            library().MPI_T_cvar_handle_free(ctypes.byref(handle))
        if self.read() != int(value):
            raise ToolError(f"{self.name} reads {self.read()} after being set to {value}")


@cache
def cvar(name: str) -> Cvar | None:
    """The control variable ``name`` of the running library, or None when it has none by that name."""
    lib = library()
    index = ctypes.c_int()
    if lib.MPI_T_cvar_get_index(name.encode(), ctypes.byref(index)) != 0:
        return None
    found, found_length = ctypes.create_string_buffer(_NAME), ctypes.c_int(_NAME)
    text, text_length = ctypes.create_string_buffer(_DESCRIPTION), ctypes.c_int(_DESCRIPTION)
    verbosity, bind, scope = ctypes.c_int(), ctypes.c_int(), ctypes.c_int()
    datatype, enumtype = ctypes.c_void_p(), ctypes.c_void_p()
    code = lib.MPI_T_cvar_get_info(
        index,
        found,
        ctypes.byref(found_length),
        ctypes.byref(verbosity),
        ctypes.byref(datatype),
        ctypes.byref(enumtype),
        text,
        ctypes.byref(text_length),
        ctypes.byref(bind),
        ctypes.byref(scope),
    )
    _check(code, f"MPI_T_cvar_get_info({name})")
    from mpi4py import MPI

    return Cvar(
        index.value,
        found.value.decode(),
        text.value.decode(errors="replace"),
        _items(lib, enumtype) if enumtype.value else (),
        datatype.value == MPI.INT.handle,
    )


def _items(lib: Any, enumtype: ctypes.c_void_p) -> tuple[tuple[int, str], ...]:
    count, name, length = ctypes.c_int(), ctypes.create_string_buffer(_NAME), ctypes.c_int(_NAME)
    _check(lib.MPI_T_enum_get_info(enumtype, ctypes.byref(count), name, ctypes.byref(length)), "MPI_T_enum_get_info")
    items = []
    for i in range(count.value):
        value, item, length = ctypes.c_int(), ctypes.create_string_buffer(_NAME), ctypes.c_int(_NAME)
        _check(lib.MPI_T_enum_get_item(enumtype, i, ctypes.byref(value), item, ctypes.byref(length)), "get_item")
        items.append((value.value, item.value.decode()))
    return tuple(items)
