"""Planning a build: expand each source's glob into hashed files, then cut large files into shards.

The plan is known before any work runs: every input's sha256 keys the caches and the manifest,
and a rebuild checks the files pinned by a manifest against it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from pipeline.errors import ConfigError, InputChangedError, InputError, InternalError
from pipeline.io.counting import count_rows
from pipeline.io.files import file_sha256, resolve_paths
from pipeline.io.limits import DEFAULT_LIMITS, ReadLimits
from pipeline.spec import MixtureSpec, SourceSpec


@dataclass(frozen=True)
class FileTask:
    """One input file of one source, hashed when planned (the hash keys caches and manifests).

    `rows` is the shard's half-open range of row indexes ``(start, stop)`` (``stop`` None: to
    the end of the file), or None for the whole file.
    """

    source: SourceSpec
    path: Path
    base_dir: Path
    sha256: str
    rows: tuple[int, int | None] | None = None
    counted: int | None = None  # the file's records by `pipeline.io.counting.count_rows`

    def __post_init__(self) -> None:
        if self.rows is not None:
            start, stop = self.rows
            if start < 0 or (stop is not None and stop <= start):
                msg = f"`rows` must be (start >= 0, stop > start or None); got {self.rows!r}"
                raise InternalError(msg)


def plan_files(
    spec: MixtureSpec, *, base_dir: Path, pinned: dict[str, list[dict[str, str]]] | None = None
) -> list[FileTask]:
    """Expand every source's path into hashed files, or check the pinned list from a manifest.

    Raises
    ------
    InputError
        A file is missing or unreadable.
    InputChangedError
        A pinned file's sha256 differs from the one recorded.
    """
    tasks = []
    for source in spec.sources:
        if pinned is None:
            for path in resolve_paths(source.path, base_dir=base_dir):
                tasks.append(FileTask(source, path, base_dir, file_sha256(path)))
            continue
        for entry in pinned.get(source.name, []):
            path = base_dir / entry["path"]
            if not path.is_file():
                msg = f"input file recorded in the manifest is missing: {path}"
                raise InputError(msg)
            actual = file_sha256(path)
            if actual != entry["sha256"]:
                msg = (
                    f"input file changed since the version was built: {path} "
                    f"(sha256 {actual[:12]}…, manifest has {entry['sha256'][:12]}…)"
                )
                raise InputChangedError(msg)
            tasks.append(FileTask(source, path, base_dir, actual))
    return tasks


def shard_file(
    task: FileTask, *, shard_rows: int, limits: ReadLimits = DEFAULT_LIMITS
) -> list[FileTask]:
    """Count `task`'s records, then cut it into row ranges of `shard_rows` (the last open-ended).

    Small files, JSON documents and files that cannot be counted to their end stay whole. Every
    returned task carries the file's independent record count (`FileTask.counted`).
    """
    if shard_rows < 1:
        msg = f"`shard_rows` must be a positive integer; got {shard_rows!r}"
        raise ConfigError(msg)
    slots, counted = count_rows(task.path, limits=limits)
    task = replace(task, counted=counted)
    if slots is None or slots <= shard_rows:
        return [task]
    starts = range(0, slots, shard_rows)
    return [
        replace(task, rows=(start, start + shard_rows if start + shard_rows < slots else None))
        for start in starts
    ]


def estimated_rows(task: FileTask) -> int:
    """Rows a file task will read: its row range, else the file's record count (0 if unknown)."""
    counted = task.counted or 0
    if task.rows is None:
        return counted
    start, end = task.rows
    return max(0, (end if end is not None else max(counted, start)) - start)


def largest_first(tasks: Sequence[FileTask], *, cached: Sequence[bool] = ()) -> list[int]:
    """Indexes of `tasks`, the largest first (ties and `cached` ones, which only load, in
    their order): the order to submit them in.

    Workers take tasks in submission order; in spec order a large shard can be the last task,
    one worker idle while the other finishes it. Largest first, the workers finish within
    about the smallest task of each other (the longest-processing-time rule). Results are put
    back in `tasks` order, so the output never depends on it.
    """
    skip = list(cached) + [False] * (len(tasks) - len(cached))
    size = [0 if skip[i] else estimated_rows(t) for i, t in enumerate(tasks)]
    return sorted(range(len(tasks)), key=lambda i: (-size[i], i))
