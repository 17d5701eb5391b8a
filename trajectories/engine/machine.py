"""Hand nutpie's Rust NUTS a log-density that is machine code all the way down.

nutpie's Python-function interface (used by the collapsed path) calls back into Python at
every gradient, holding the interpreter lock: 20-40 microseconds per call, and chains run
in parallel only between calls. nutpie's own PyMC backend instead gives the sampler the
address of a numba C callback. :class:`MachineModel` does the same for a log-density of our
own (:func:`machine_model`): a ``numba.cfunc`` compiled once per install (``cache=True``)
that reads the data of one fit through a pointer to an int64 *header* of addresses and
sizes. Nothing is compiled
per data set or per process, and no Python runs while sampling.

The callback signatures are nutpie's (``nutpie.compile_pymc``): ``logp(dim, x, grad_out,
logp_out, user_data) -> int64`` (0 on success) and ``expand(dim, n_expanded, x, out,
user_data)``. This module uses nutpie's internal ``_lib`` classes exactly as
``nutpie.compile_pymc.CompiledPyMCModel`` does; :func:`available` says whether the
installed nutpie has them (otherwise the Python-function interface is used).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numba as nb
import numpy as np
from numba.core import cgutils, types
from numba.extending import intrinsic

__all__ = ["LOGP_SIGNATURE", "address", "available", "callback", "header_of", "machine_model"]

#: ``int64 logp(uint64 dim, double *x, double *grad_out, double *logp_out, void *user)``
LOGP_SIGNATURE = types.int64(types.uint64, types.CPointer(types.double),
                             types.CPointer(types.double), types.CPointer(types.double),
                             types.voidptr)
_EXPAND_SIGNATURE = types.int64(types.uint64, types.uint64, types.CPointer(types.double),
                                types.CPointer(types.double), types.voidptr)


@intrinsic
def address(typingctx, src):  # noqa: ANN001, ANN201, ARG001
    """Make a void pointer from an integer address (inside numba code)."""
    sig = types.voidptr(src)

    def codegen(cgctx, builder, sig, args):  # noqa: ANN001, ANN202, ARG001
        return builder.inttoptr(args[0], cgutils.voidptr_t)

    return sig, codegen


def _expand(dim, expanded, x_, out_, user_):  # noqa: ANN001, ANN202, ARG001
    """Copy the draws into ``out`` as they are: the sampler's coordinates are stored unchanged."""
    x = nb.carray(x_, (dim,))
    out = nb.carray(out_, (expanded,))
    for j in range(dim):
        out[j] = x[j]
    return 0


@functools.cache
def callback(logp: Callable, signature: object = LOGP_SIGNATURE) -> nb.core.ccallback.CFunc:
    """``logp`` (a module-level Python function in numba's subset) as a C callback.

    Compiled, or loaded from numba's on-disk cache, on first use rather than when its
    module is imported: a growth fit never pays for the joint model's callback. The
    result is kept here so that its machine code lives as long as the process.

    Examples
    --------
    >>> from trajectories.engine.machine import _expand, callback
    >>> callback(_expand, _EXPAND_SIGNATURE).address > 0
    True
    """
    return nb.cfunc(signature, cache=True)(logp)


@functools.cache
def available() -> bool:
    """Whether the installed nutpie exposes the classes this module needs.

    Examples
    --------
    >>> available()  # nutpie 0.16, the range pyproject allows, has them
    True
    """
    try:
        from nutpie import _lib
        from nutpie.sample import CompiledModel  # noqa: F401
    except ImportError:
        return False
    return all(hasattr(_lib, n) for n in ("LogpFunc", "ExpandFunc", "PyMcModel", "PySampler",
                                          "PyVariable"))


@functools.cache
def _model_class() -> type:
    """:class:`MachineModel`'s class, built on first use (importing nutpie takes a second)."""
    from nutpie.sample import CompiledModel

    @dataclass(frozen=True)
    class MachineModel(CompiledModel):
        """A nutpie model whose log-density is a numba C callback (one variable ``theta``).

        ``header`` is the int64 array the callback receives as ``user_data``; ``keep``
        holds every array whose address it contains, so they live as long as the model.
        """

        logp_address: int
        header: np.ndarray
        keep: tuple
        n_parameters: int
        initial_point: Callable[[int], np.ndarray]

        @property
        def n_dim(self) -> int:  # noqa: D102
            return self.n_parameters

        @property
        def shapes(self) -> dict:  # noqa: D102
            return {"theta": (self.n_parameters,)}

        @property
        def coords(self) -> dict:  # noqa: D102
            return {"theta_dim_0": np.arange(self.n_parameters)}

        def _make_sampler(self, settings, init_mean, cores, progress_type,  # noqa: ANN001, ANN202
                          extra_callback, extra_callback_rate, store):
            from nutpie import _lib

            return _lib.PySampler.from_pymc(settings, cores, self._make_model(init_mean),
                                            progress_type, extra_callback,
                                            extra_callback_rate, store)

        def _make_model(self, init_mean):  # noqa: ANN001, ANN202, ARG002
            from nutpie import _lib

            n = self.n_parameters
            data = self.header.ctypes.data
            expand_fn = _lib.ExpandFunc(n, n, callback(_expand, _EXPAND_SIGNATURE).address,
                                         data, self)
            logp_fn = _lib.LogpFunc(self.logp_address, data, self)
            sizes = {"theta_dim_0": n}
            variables = _lib.PyVariable.new_variables(["theta"], ["float64"], [(n,)], sizes,
                                                      {"theta": ("theta_dim_0",)})

            def make_adapter(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
                from nutpie.transform_adapter import make_transform_adapter

                return make_transform_adapter()(*args, **kwargs, logp_fn=None)

            return _lib.PyMcModel(logp_fn, expand_fn, variables, n, sizes, self.coords,
                                  self.initial_point, make_adapter)

    return MachineModel


def machine_model(logp: Callable, header: np.ndarray, keep: tuple, n_parameters: int,
                  initial_point: Callable[[int], np.ndarray]) -> object:
    """Make a nutpie model calling ``logp`` compiled as a C callback (:func:`callback`).

    ``header`` is its user data (see the module docstring); sample it with ``nutpie.sample``.

    Examples
    --------
    >>> problem = small_fit.design.collapsed()
    >>> model = problem.machine_model()  # built by machine_model; nutpie.sample runs it
    >>> type(model).__name__
    'MachineModel'
    """
    return _model_class()(dims={}, logp_address=callback(logp).address, header=header, keep=keep,
                          n_parameters=n_parameters, initial_point=initial_point)


def header_of(arrays: list[np.ndarray], ints: list[int]) -> tuple[np.ndarray, tuple]:
    """Pack an int64 header: the address of each (C-contiguous) array, then the integers.

    Returns the header and the tuple of arrays it points into (keep it alive).

    Examples
    --------
    >>> x = np.arange(3.0)
    >>> header, keep = header_of([x], [7, 8])
    >>> header.dtype, len(header), int(header[1]), int(header[2])
    (dtype('int64'), 3, 7, 8)
    >>> int(header[0]) == keep[0].ctypes.data
    True
    """
    keep = tuple(np.ascontiguousarray(a) for a in arrays)
    header = np.array([a.ctypes.data for a in keep] + [int(v) for v in ints], dtype=np.int64)
    return header, keep
