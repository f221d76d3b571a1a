"""Where a track stands in its library: the percentile of each value among every analysed track."""

from __future__ import annotations

import numpy as np

#: ``show`` prints percentiles only when the library has at least this many
#: analysed tracks; below it a percentile says more about chance than the track.
MIN_ROWS_FOR_PERCENTILES = 20


def percentile_ranks(matrix: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Percentile of each of ``values`` within its column of ``matrix`` (0–100).

    The mid-rank definition: the share of rows below the value plus half the
    share equal to it, so the median row reads 50 and ties do not favour
    either side.

    Examples
    --------
    >>> m = np.array([[1.0], [2.0], [3.0], [4.0]])
    >>> percentile_ranks(m, np.array([3.0])).tolist()
    [62.5]
    """
    n = matrix.shape[0]
    if n == 0:
        raise ValueError("percentile of an empty library")
    below = np.count_nonzero(matrix < values, axis=0)
    equal = np.count_nonzero(matrix == values, axis=0)
    return 100.0 * (below + 0.5 * equal) / n
