"""`PiiScanner`: one presidio analyzer, a prefilter, a cache, and an optional process pool.

A finding is ``(entity_type, start, end, score)``: offsets into the scanned text, never the value.
"""

from __future__ import annotations

import ipaddress
import multiprocessing
import re
import threading
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import NamedTuple, cast

import polars as pl
import xxhash
from presidio_analyzer.nlp_engine import NlpArtifacts
from presidio_analyzer.predefined_recognizers import PhoneRecognizer

from pipeline.errors import ConfigError
from pipeline.stages.pii.config import PiiConfig
from pipeline.stages.pii.credentials import (
    SECRET_ENTITIES,
    find_secrets,
    secret_candidates,
    secret_gate,
)
from pipeline.stages.pii.engine import LANGUAGE, LazyNlpArtifacts, shared_analyzer
from pipeline.stages.pii.filters import UNFORMATTED_SCORE, phone_score, reject_reason
from pipeline.stages.pii.phone_check import PhoneCheck
from pipeline.stages.pii.prefilter import (
    TRIGGERED_ENTITIES,
    DigitMap,
    digit_maps,
    find_windows,
    trigger_gate,
)
from pipeline.stages.pii.recognizers import SPECIFIC_OVER_PHONE

_CHUNK = 128  # texts per task sent to a worker process


def _text_key(text: str) -> int:
    return xxhash.xxh3_128_intdigest(text.encode("utf-8", "surrogatepass"))


class Finding(NamedTuple):
    """One detected entity: where it is and how sure presidio is (never what it is)."""

    entity_type: str
    start: int
    end: int
    score: float


class PiiScanner:
    """Detect PII in texts with presidio, offline.

    The analyzer is built at construction (so a bad `nlp_model` or an unsupported entity type
    fails early with `ConfigError`), once per process and settings (`shared_analyzer`). Pickling
    keeps only the configuration; unpickling takes the process's analyzer (built on first use,
    ~0.2 s), so a scanner can be sent to a worker process for every shard at no extra cost.

    Parameters
    ----------
    config
        What to detect; default `PiiConfig()`.
    workers
        Processes used by `scan_texts` (1 = in this process). The pool starts on the first call
        with more than `_CHUNK` texts to analyse and lives until `close()` (or the end of a
        ``with`` block). Its workers are forked from this process when it runs no other thread,
        so they start with this scanner's analyzer (~0.05 s); otherwise they are spawned and
        import presidio and build an analyzer (~3 s of CPU each), as forking a threaded process
        is unsafe.
    cache_size
        Texts whose findings are remembered, keyed by the xxh3-128 hash of the text.
    """

    def __init__(
        self, config: PiiConfig | None = None, *, workers: int = 1, cache_size: int = 100_000
    ) -> None:
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            msg = f"`workers` must be an integer >= 1; got {workers!r}"
            raise ConfigError(msg)
        self.config = config if config is not None else PiiConfig()
        self.workers = workers
        self.cache_size = cache_size
        self._analyzer = shared_analyzer(
            nlp_model=self.config.nlp_model,
            score_threshold=self.config.min_threshold,
            regions=self.config.regions,
            recognizers=self.config.recognizers,
        )
        supported = set(self._analyzer.get_supported_entities(language=LANGUAGE))
        supported |= set(SECRET_ENTITIES)
        missing = sorted(set(self.config.entities) - supported)
        if missing:
            hint = (
                " (NER entities need `nlp_model`; country identifiers need their presidio "
                "recognizer in `recognizers`)"
                if self.config.nlp_model is None
                else ""
            )
            msg = (
                f"`actions` names entity types this analyzer cannot detect{hint}: {missing}; "
                f"supported: {sorted(supported)}"
            )
            raise ConfigError(msg)
        self._entities = frozenset(self.config.entities) - set(SECRET_ENTITIES)  # for presidio
        self._secrets = tuple(e for e in self.config.entities if e in SECRET_ENTITIES)
        self._allow_values = frozenset(self.config.allow_values)
        self._allow_patterns = [re.compile(p) for p in self.config.allow_patterns]
        self._allow_networks = [
            ipaddress.ip_network(n, strict=False) for n in self.config.allow_ip_networks
        ]
        self._allow_domains = tuple(d.lower().strip(".") for d in self.config.allow_email_domains)
        phone = [r for r in self._analyzer.registry.recognizers if isinstance(r, PhoneRecognizer)]
        # Without an NER model, PhoneRecognizer is the only source of PHONE_NUMBER findings, so a
        # window where its matcher finds nothing need not be sent to presidio for that type.
        self._phone = (
            PhoneCheck(phone[0]) if len(phone) == 1 and self.config.nlp_model is None else None
        )
        self._prune = self.config.threshold_for("PHONE_NUMBER") > UNFORMATTED_SCORE
        self._cache: dict[int, tuple[Finding, ...]] = {}
        self._pool: ProcessPoolExecutor | None = None
        self._pool_workers = 0

    # --- pickling: configuration only --------------------------------------------------------
    def __getstate__(self) -> dict[str, object]:
        return {"config": self.config, "workers": self.workers, "cache_size": self.cache_size}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__init__(state["config"], workers=state["workers"], cache_size=state["cache_size"])  # type: ignore[misc, arg-type]

    def __enter__(self) -> PiiScanner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def clear_cache(self) -> None:
        """Forget cached findings and phone pre-check results (in this process)."""
        self._cache.clear()
        if self._phone is not None:
            self._phone.clear()

    def close(self) -> None:
        """Shut down the worker pool, if one was started."""
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    # --- scanning ----------------------------------------------------------------------------
    def scan(self, text: str) -> tuple[Finding, ...]:
        """Return the findings in `text`, sorted by position (cached by text hash)."""
        key = _text_key(text)
        hit = self._cache.get(key)
        if hit is None:
            hit = self.analyze_text(text)
            self._remember(key, hit)
        return hit

    def scan_texts(
        self,
        texts: Sequence[str],
        *,
        workers: int | None = None,
        gates: tuple[list[bool], list[bool]] | None = None,
    ) -> list[tuple[Finding, ...]]:
        """Return the findings of every text, in order; uses `workers` processes when > 1.
        `gates`: the texts' (`may_find`, `secret_gate`), when the caller made them already
        (`column_gates`)."""
        workers = self.workers if workers is None else workers
        # here: polars must not run in a forked worker
        maybe, secret = self._gates(texts) if gates is None else gates
        # -1 (no hash is negative): a text `may_find` rules out, with no findings
        keys = [_text_key(t) if m else -1 for t, m in zip(texts, maybe, strict=True)]
        known: dict[int, tuple[Finding, ...]] = {-1: ()}  # taken now: remembering may evict
        todo: dict[int, tuple[str, bool]] = {}  # text, secret gate
        for key, text, gate in zip(keys, texts, secret, strict=True):
            if key in known or key in todo:
                continue
            hit = self._cache.get(key)
            if hit is None:
                todo[key] = (text, gate)
            else:
                known[key] = hit
        todo_texts = [text for text, _ in todo.values()]
        todo_gates = [gate for _, gate in todo.values()]
        if workers > 1 and len(todo) > _CHUNK:
            found = self._scan_in_pool(todo_texts, workers, todo_gates)
        else:
            found = self.analyze_texts(todo_texts, todo_gates)
        for key, findings in zip(todo, found, strict=True):
            known[key] = findings
            self._remember(key, findings)
        return [known[k] for k in keys]

    def _gates(self, texts: Sequence[str]) -> tuple[list[bool], list[bool]]:
        """(`may_find`, `secret_candidates`) of `texts`, from one column; a lone surrogate
        (not UTF-8) makes every text a candidate."""
        try:
            column = pl.Series(texts, dtype=pl.String)
        except UnicodeEncodeError:
            return [True] * len(texts), [bool(self._secrets)] * len(texts)
        maybe, secret = self.column_gates(column)
        return maybe.to_list(), secret.to_list()

    def column_gates(self, texts: pl.Series) -> tuple[pl.Series, pl.Series]:
        """(`may_find`, `secret_gate`) of a text column, the secret gate made once for both
        (all ``False`` when no secret type is screened)."""
        if self._secrets:
            secret = secret_gate(texts)
        else:
            secret = pl.repeat(False, texts.len(), dtype=pl.Boolean, eager=True)
        return self.may_find(texts, secret), secret

    def may_find(self, texts: pl.Series, secrets: pl.Series | None = None) -> pl.Series:
        """Whether each text of a column can hold a finding: ``False`` only where
        `analyze_text` finds nothing, as no trigger (`trigger_gate`) and no secret gate
        (`secret_gate`) is in it; a text to be analysed whole (an entity type without a
        trigger, e.g. PERSON) is always ``True``. One pass over the column, no Python objects;
        `secrets`: the column's `secret_gate`, when already made."""
        if self._entities - TRIGGERED_ENTITIES:
            return pl.repeat(True, texts.len(), dtype=pl.Boolean, eager=True)
        gate = trigger_gate(texts)
        if not self._secrets:
            return gate
        return gate | (secret_gate(texts) if secrets is None else secrets)

    def analyze_texts(
        self, texts: list[str], gates: list[bool] | None = None
    ) -> list[tuple[Finding, ...]]:
        """`analyze_text` of every text (no cache); the secret patterns run only on the texts
        that `secret_candidates` keeps (one pass over the list, or `gates` when given), with the
        same findings."""
        if gates is None:
            gates = self._secret_gates(texts)
        maps = digit_maps(texts)  # one numpy pass instead of a regex scan per text
        return [
            self.analyze_text(t, secrets=g, digits=m)
            for t, g, m in zip(texts, gates, maps, strict=True)
        ]

    def _secret_gates(self, texts: list[str]) -> list[bool]:
        return secret_candidates(texts) if self._secrets else [False] * len(texts)

    def analyze_text(
        self,
        text: str,
        *,
        prune: bool | None = None,
        secrets: bool = True,
        digits: DigitMap | None = None,
    ) -> tuple[Finding, ...]:
        """Return the kept findings of `text` (no cache): detect, then apply thresholds and rules.

        A finding is kept when its score reaches the entity's threshold, its value is not on the
        allow-list, and it is not a PHONE_NUMBER overlapping a more specific finding
        (`SPECIFIC_OVER_PHONE`). `prune` (default: when the phone threshold allows it) skips bare
        digit runs that could only score below it (see `detect`). ``secrets=False`` skips the
        secret patterns (for a text `secret_candidates` rejected: they would find nothing);
        `digits` is the text's `digit_maps` entry, when made for a batch.
        """
        raw = [
            f
            for f in self._judged(text, self._prune if prune is None else prune, secrets, digits)
            if f.score >= self.config.threshold_for(f.entity_type)
        ]
        specific = [f for f in raw if f.entity_type in SPECIFIC_OVER_PHONE]
        kept = [
            f
            for f in raw
            if not self._allowed(f.entity_type, text[f.start : f.end])
            and not (
                f.entity_type == "PHONE_NUMBER"
                and any(s.start < f.end and f.start < s.end for s in specific)
            )
        ]
        return tuple(kept)

    def _judged(
        self, text: str, prune: bool, secrets: bool = True, digits: DigitMap | None = None
    ) -> list[Finding]:
        """Raw findings minus the shape/context rejects of `filters`, phones re-scored."""
        judged = []
        for f in self.detect(text, prune=prune, secrets=secrets, digits=digits):
            if reject_reason(f.entity_type, text, f.start, f.end) is not None:
                continue
            if f.entity_type == "PHONE_NUMBER":
                f = f._replace(score=phone_score(text, f.start, f.end))
            judged.append(f)
        return judged

    def detect(
        self,
        text: str,
        *,
        prune: bool = False,
        secrets: bool = True,
        digits: DigitMap | None = None,
    ) -> tuple[Finding, ...]:
        """Run presidio on the prefiltered windows of `text` and the secret patterns on the whole
        text; raw findings, sorted by position.

        With `prune`, digit runs that can only yield a phone finding below the threshold (a bare
        digit run without a context word scores `UNFORMATTED_SCORE`) are not sent to presidio;
        `analyze_text` prunes when the phone threshold is above that score, so its findings are
        the same either way (`test_pruning_bare_digit_runs_changes_no_kept_finding`).
        """
        findings = (
            {Finding(e, start, end, 1.0) for e, start, end in find_secrets(text, self._secrets)}
            if secrets
            else set()
        )
        for window in find_windows(text, self._entities, digits):
            piece = text[window.start : window.end]
            entities = window.entities
            runs = window.phone_runs
            if (
                "PHONE_NUMBER" in entities
                and self._phone is not None
                and not self._phone.candidate(text, runs, prune=prune)
            ):
                entities = entities - {"PHONE_NUMBER"}
                if not entities:
                    continue
            artifacts = LazyNlpArtifacts(self._analyzer, piece)
            for r in self._analyzer.analyze(
                piece,
                language=LANGUAGE,
                entities=sorted(entities),
                nlp_artifacts=cast(NlpArtifacts, artifacts),  # duck-typed: computed on first use
            ):
                start, end = window.start + r.start, window.start + r.end
                findings.add(Finding(r.entity_type, start, end, round(float(r.score), 4)))
        return tuple(sorted(findings, key=lambda f: (f.start, f.end, f.entity_type)))

    def _allowed(self, entity: str, value: str) -> bool:
        if value in self._allow_values or any(p.fullmatch(value) for p in self._allow_patterns):
            return True
        if entity == "EMAIL_ADDRESS":
            domain = value.rpartition("@")[2].lower().rstrip(".")
            return any(domain == d or domain.endswith("." + d) for d in self._allow_domains)
        if entity == "IP_ADDRESS":
            try:
                address = ipaddress.ip_address(value.split("/")[0].split("%")[0])
            except ValueError:
                return False
            return any(
                address in net for net in self._allow_networks if net.version == address.version
            )
        return False

    def _remember(self, key: int, findings: tuple[Finding, ...]) -> None:
        if len(self._cache) >= self.cache_size:
            self._cache.clear()
        self._cache[key] = findings

    def _scan_in_pool(
        self, texts: list[str], workers: int, gates: list[bool]
    ) -> list[tuple[Finding, ...]]:
        if self._pool is None or self._pool_workers != workers:
            self.close()
            self._pool_workers = workers
            forking = threading.active_count() == 1 and "fork" in _START_METHODS
            self._pool = ProcessPoolExecutor(
                max_workers=workers,
                mp_context=multiprocessing.get_context("fork" if forking else "spawn"),
                initializer=_init_worker,
                # fork: the scanner is inherited, not pickled; spawn: the config is sent
                initargs=(self if forking else self.config,),
            )
        chunks = [
            (texts[i : i + _CHUNK], gates[i : i + _CHUNK]) for i in range(0, len(texts), _CHUNK)
        ]
        return [f for part in self._pool.map(_scan_chunk, chunks) for f in part]


_START_METHODS = multiprocessing.get_all_start_methods()
# One scanner per worker process, set once by the pool initializer.
_WORKER_SCANNER: PiiScanner | None = None


def _init_worker(source: PiiScanner | PiiConfig) -> None:
    global _WORKER_SCANNER
    if isinstance(source, PiiScanner):  # forked: use the parent's scanner as it was at fork
        source._pool = None  # the parent's pool is not this process's to shut down
        _WORKER_SCANNER = source
    else:
        _WORKER_SCANNER = PiiScanner(source, cache_size=0)


def _scan_chunk(chunk: tuple[list[str], list[bool]]) -> list[tuple[Finding, ...]]:
    scanner = _WORKER_SCANNER if _WORKER_SCANNER is not None else PiiScanner()
    return scanner.analyze_texts(*chunk)
