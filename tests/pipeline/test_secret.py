"""The value-hash key: created once, atomically, even by many threads of one process at once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from pipeline import secret


def test_threads_creating_the_key_at_once_all_get_the_one_key_written(tmp_path):
    path = tmp_path / "home" / "mixgate-hash.key"
    with ThreadPoolExecutor(max_workers=8) as pool:
        keys = list(pool.map(lambda _: secret._load_once.__wrapped__(path), range(64)))
    assert len(set(keys)) == 1
    assert keys[0] == path.read_bytes()[: secret.KEY_BYTES]
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp file left behind
    assert path.stat().st_mode & 0o777 == 0o600
