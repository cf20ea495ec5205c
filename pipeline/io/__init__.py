"""Reading raw input files, row by row, with every failure turned into a row-level reason.

Formats are inferred from the extension: ``.jsonl``, ``.json``, ``.csv``, ``.parquet``, each
optionally followed by ``.gz``. `iter_rows` yields ``(row, record_or_error)`` where ``row`` is the
0-based index of the record in its file (for JSONL, the 0-based line number; blank lines are
skipped but counted). Problems with one record become a `RowError` with a reason code; a file
that cannot be read on (not gzip, truncated, corrupt, over a size guard) raises `FileReadError`
(an `InputError` carrying a ledger reason) after the rows read before the problem.

Resource guards (`ReadLimits`, the spec's ``reading`` section) bound what one file can cost:
a line or CSV record over `max_record_bytes` is one `record_too_large` row and is never held
in memory whole; a gzip stream stops at `max_decompressed_bytes` (gzip bombs); JSON nested
deeper than `max_depth` is `nesting_too_deep`.

Modules: `limits` (`ReadLimits`, `RowError`, `FileReadError`), `files` (format from the name,
globs, hashes), `json_values` (decoding and checking one JSON value), `streams` (bounded byte
and text lines, gzip failures), `readers` (`iter_rows`, one reader per format), `counting`
(`count_rows`, `SHARD_ROWS`). Names with a leading underscore are shared between these modules
only.
"""
