"""The secret that keys value hashes: random, per machine, never written into any output.

Hashes of detected values (PII findings) must not be reversible from a version directory: a
phone number or an ID has so few possible values that an unkeyed (or publicly seeded) hash is
found by trying them all. They are keyed BLAKE2b digests instead; the 32-byte key lives in
``$MIXGATE_SECRET_FILE`` if set, else ``$PREFECT_HOME/mixgate-hash.key`` (``~/.prefect`` when
``PREFECT_HOME`` is unset), created on first use with mode 0600. The manifest records no seed
and no key. Equal values still hash equally on one machine (findings can be matched across
records and builds); copy the key file to reproduce a ledger's hashes byte for byte elsewhere.

>>> len(keyed_hash("555-0100", key=b"k" * 32))
16
"""

from __future__ import annotations

import functools
import hashlib
import os
import tempfile
import threading
from pathlib import Path

KEY_BYTES = 32


def secret_path() -> Path:
    """Where the key lives (see the module docstring)."""
    explicit = os.environ.get("MIXGATE_SECRET_FILE")
    if explicit:
        return Path(explicit)
    home = os.environ.get("PREFECT_HOME") or str(Path.home() / ".prefect")
    return Path(home) / "mixgate-hash.key"


_LOCK = threading.Lock()


@functools.cache
def _load_once(path: Path) -> bytes:
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        # A unique temp name per call: threads of one process (a flow's task pool) and other
        # processes may all create the key at once; the first link wins, the rest read it.
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        tmp = Path(tmp_name)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(os.urandom(KEY_BYTES))
            try:
                os.link(tmp, path)  # atomic, and never replaces a key another process made first
            except FileExistsError:
                pass
        finally:
            tmp.unlink(missing_ok=True)
        key = path.read_bytes()
    return key[:KEY_BYTES]


def _load(path: Path) -> bytes:
    with _LOCK:  # functools.cache does not stop two threads from computing one entry at once
        return _load_once(path)


def hash_key() -> bytes:
    """Return this machine's value-hash key, creating it on first use."""
    return _load(secret_path())


def keyed_hash(value: str, *, key: bytes | None = None) -> str:
    """Return the keyed BLAKE2b-64 hex digest of `value` (the only trace of it ever kept)."""
    digest = hashlib.blake2b(
        value.encode("utf-8", "surrogatepass"), key=key or hash_key(), digest_size=8
    )
    return digest.hexdigest()
