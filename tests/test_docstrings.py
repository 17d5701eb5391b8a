"""Every public function and class of the three packages has an ``Examples`` section.

Public: not underscore-prefixed, defined in a module whose dotted path has no
underscore-prefixed part (and listed in its ``__all__`` when it has one). The examples
themselves run as doctests (``--doctest-modules`` in ``make test``); this test keeps every
new public name from arriving without one, and no example from being skipped.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

PACKAGES = ("trajectories", "simulations", "analyses")


def public_objects() -> dict[str, object]:
    """Map ``module.name`` to each public function and class of the packages."""
    found = {}
    for package in PACKAGES:
        root = importlib.import_module(package)
        for info in pkgutil.walk_packages(root.__path__, package + "."):
            if any(part.startswith("_") for part in info.name.split(".")):
                continue
            module = importlib.import_module(info.name)
            names = getattr(module, "__all__", None) or [
                n for n in vars(module) if not n.startswith("_")]
            for name in names:
                obj = getattr(module, name, None)
                if (inspect.isfunction(obj) or inspect.isclass(obj)) \
                        and obj.__module__ == module.__name__:
                    found[f"{module.__name__}.{name}"] = obj
    return found


def test_the_audit_sees_the_packages() -> None:
    # A broken walk would make the next test pass vacuously: hundreds of public names exist.
    assert len(public_objects()) > 300


def test_every_public_name_has_an_examples_section() -> None:
    missing = [name for name, obj in public_objects().items()
               if not re.search(r"^\s*Examples\n\s*-{8}", obj.__doc__ or "", re.MULTILINE)]
    assert not missing, f"{len(missing)} public names lack an Examples section:\n" + \
        "\n".join(missing)


def test_no_example_is_skipped() -> None:
    skipped = [name for name, obj in public_objects().items()
               if "+SKIP" in (obj.__doc__ or "")]
    assert not skipped, "examples that never run:\n" + "\n".join(skipped)
