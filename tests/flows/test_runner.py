"""flows/runner.py: what travels with a task, and what a finished task leaves behind."""

from __future__ import annotations

import pickle
from types import SimpleNamespace

from dask.base import tokenize

from flows.runner import QUIET_DASK, Call, release, run_stage


def test_a_call_pickles_whole_and_is_never_hashed_by_content():
    config = {"holdout": list(range(1000))}
    call = Call(("item",), {"config": config})
    back = pickle.loads(pickle.dumps(call))
    assert back.args == ("item",) and back.kwargs == {"config": config}
    # two calls with equal arguments are two tasks, and tokenizing never walks the arguments
    assert tokenize(call) != tokenize(Call(("item",), {"config": config}))
    assert tokenize(call) == tokenize(call)


def test_run_stage_unpacks_the_call():
    assert run_stage.fn(lambda a, *, b: a + b, Call((1,), {"b": 2})) == 3


def test_release_drops_a_dask_result_and_ignores_other_futures():
    released = []
    dask_like = SimpleNamespace(wrapped_future=SimpleNamespace(release=lambda: released.append(1)))
    release(dask_like)
    release(SimpleNamespace(wrapped_future=object()))  # a thread-pool future: nothing to drop
    release(object())
    assert released == [1]


def test_quiet_dask_names_real_settings():
    import dask
    import distributed  # noqa: F401 (registers the distributed defaults)

    for key in QUIET_DASK:
        assert dask.config.get(key, default=KeyError) is not KeyError, key
