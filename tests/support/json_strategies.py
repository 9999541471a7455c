"""Hypothesis strategies for arbitrary JSON, as json.loads could return it."""

from __future__ import annotations

from hypothesis import strategies as st

# Python's json module accepts NaN and Infinity and integers of any size: so must we.
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
)


def json_values(max_leaves: int = 30) -> st.SearchStrategy:
    return st.recursive(
        _SCALARS,
        lambda children: (
            st.lists(children, max_size=5)
            | st.dictionaries(st.text(max_size=8), children, max_size=5)
        ),
        max_leaves=max_leaves,
    )


def json_objects(max_leaves: int = 30) -> st.SearchStrategy:
    return st.dictionaries(st.text(max_size=8), json_values(max_leaves), max_size=8)
