"""The progress bar of a running study, kept out of the runner (STYLE.md §6)."""

from __future__ import annotations

from typing import Any

__all__ = ["progress_bar"]


def _tqdm_class(enabled: bool) -> Any:
    """``tqdm.auto`` (a widget in notebooks) only when a bar is shown and ipywidgets exists.

    Importing ``tqdm.auto`` in a notebook without ipywidgets warns (``TqdmWarning: IProgress
    not found``), even for a bar that is disabled; the text bar works everywhere.
    """
    if enabled:
        try:
            import ipywidgets  # noqa: F401
            from tqdm.auto import tqdm
            return tqdm
        except ImportError:
            pass
    from tqdm.std import tqdm

    return tqdm


def progress_bar(total: int, *, enabled: bool, description: str = "replications") -> Any:
    """Make a ``tqdm`` bar over replications with rate and ETA; silent unless ``enabled``.

    Examples
    --------
    >>> bar = progress_bar(10, enabled=False)
    >>> bar.update(4)
    >>> bar.close()
    """
    return _tqdm_class(enabled)(total=total, disable=not enabled, desc=description, unit="rep",
                                dynamic_ncols=True, smoothing=0.1)
