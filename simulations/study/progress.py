"""The progress bar of a running study, kept out of the runner (STYLE.md §6)."""

from __future__ import annotations

from typing import Any

__all__ = ["progress_bar"]


def progress_bar(total: int, *, enabled: bool, description: str = "replications") -> Any:
    """A ``tqdm`` bar over replications with rate and ETA; silent when ``enabled`` is false.

    Examples
    --------
    >>> bar = progress_bar(10, enabled=False)
    >>> bar.update(4)
    >>> bar.close()
    """
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=not enabled, desc=description, unit="rep",
                dynamic_ncols=True, smoothing=0.1)
