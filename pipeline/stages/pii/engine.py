"""Building a presidio `AnalyzerEngine` that never touches the network.

Presidio's defaults download a spaCy model and fetch the public suffix list at run time; both
fail offline. `build_analyzer` avoids both (`pipeline.stages.pii` points tldextract at its bundled
suffix list before presidio is imported): a blank English spaCy pipeline (tokens and lower-case
lemmas, so presidio's context words can raise scores) with only the pattern recognizers, or, when
the user names an installed spaCy model in `nlp_model`, that model with presidio's NER recognizer
(PERSON, LOCATION, ...). A model is never downloaded.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path

import spacy
from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
from presidio_analyzer.nlp_engine import NlpArtifacts, SpacyNlpEngine
from spacy.language import Language

from pipeline.errors import ConfigError
from pipeline.stages.pii.config import DEFAULT_REGIONS
from pipeline.stages.pii.national import DkCprRecognizer, country_recognizer
from pipeline.stages.pii.phone_match import MemoPhoneRecognizer
from pipeline.stages.pii.recognizers import CardNumberRecognizer

NER_RECOGNIZER = "SpacyRecognizer"
# presidio logs context words - i.e. the text around and including a detected value - at DEBUG.
PRESIDIO_LOGGERS = ("presidio-analyzer", "presidio-anonymizer")
LANGUAGE = "en"


@Language.component("mixgate_lower_lemma")
def _lower_lemma(doc):
    """Set each token's lemma to its lower-case form (a blank pipeline has no lemmatizer)."""
    for token in doc:
        token.lemma_ = token.lower_
    return doc


def _load_model(nlp_model: str) -> Language:
    """Load an installed spaCy package or a model directory, or raise `ConfigError`."""
    if not (spacy.util.is_package(nlp_model) or Path(nlp_model).is_dir()):
        msg = (
            f"`nlp_model` must be an installed spaCy package or a model directory "
            f"(mixgate never downloads models; install it yourself); got {nlp_model!r}"
        )
        raise ConfigError(msg)
    try:
        return spacy.load(nlp_model)
    except (OSError, ValueError) as exc:
        msg = f"`nlp_model` {nlp_model!r} could not be loaded by spaCy: {exc}".replace("\n", " ")
        raise ConfigError(msg) from exc


def quiet_presidio_logs() -> None:
    """Raise presidio's loggers to ERROR: below WARNING they print detected values, and its
    warnings are about recognizers for other languages."""
    for name in PRESIDIO_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)


def build_analyzer(
    *,
    nlp_model: str | None,
    score_threshold: float,
    regions: tuple[str, ...] = DEFAULT_REGIONS,
    recognizers: tuple[str, ...] = (),
) -> AnalyzerEngine:
    """Return an offline presidio analyzer.

    The registry holds presidio's predefined recognizers for English, with the phone recognizer
    for `regions` and without its context words (`pipeline.stages.pii.filters` scores phone
    matches itself), plus `CardNumberRecognizer`, `DkCprRecognizer` and the country
    `recognizers` named in the config.

    Parameters
    ----------
    nlp_model
        Name of an installed spaCy package or path to a model directory; ``None`` uses a blank
        English pipeline and pattern recognizers only (no PERSON / LOCATION / ORGANIZATION).
    score_threshold
        Presidio's global minimum score (per-entity thresholds are applied afterwards).
    regions
        Phone regions (ISO codes).
    recognizers
        Class names of presidio's predefined country recognizers to add.

    Raises
    ------
    ConfigError
        `nlp_model` is not installed or cannot be loaded.
    """
    quiet_presidio_logs()
    if nlp_model is None:
        nlp = spacy.blank(LANGUAGE)
        nlp.add_pipe("mixgate_lower_lemma")
    else:
        nlp = _load_model(nlp_model)
    engine = SpacyNlpEngine(models=[{"lang_code": LANGUAGE, "model_name": nlp_model or "blank_en"}])
    # injected: nothing is loaded from disk or network by presidio (which declares it None)
    engine.nlp = {LANGUAGE: nlp}  # type: ignore[assignment]
    registry = RecognizerRegistry(supported_languages=[LANGUAGE])
    registry.load_predefined_recognizers(nlp_engine=engine, languages=[LANGUAGE])
    if nlp_model is None:
        registry.remove_recognizer(NER_RECOGNIZER)  # a blank pipeline has no entities to offer
    registry.remove_recognizer("PhoneRecognizer")
    phone = MemoPhoneRecognizer(regions)  # presidio's, with remembered candidate verdicts
    phone.context = []  # an empty list in the constructor means presidio's default words
    registry.add_recognizer(phone)
    registry.add_recognizer(CardNumberRecognizer())
    registry.add_recognizer(DkCprRecognizer())
    for name in recognizers:
        registry.add_recognizer(country_recognizer(name))
    return AnalyzerEngine(
        nlp_engine=engine,
        registry=registry,
        supported_languages=[LANGUAGE],
        default_score_threshold=score_threshold,
    )


class LazyNlpArtifacts:
    """presidio's `NlpArtifacts` of `text`, made by the engine's spaCy pipeline on first use.

    presidio's `AnalyzerEngine.analyze` runs the NLP pipeline on every text before any
    recognizer, but pattern recognizers never read the artifacts: only the context enhancer
    (on a finding of a recognizer with context words) and the NER recognizer do. Passed as
    ``nlp_artifacts``, this object runs the pipeline only when one of them asks, so a window
    without findings costs no tokenization; what presidio reads is the same object it would have
    made (`test_lazy_nlp_artifacts_give_presidios_findings`). Not shared between threads.
    """

    __slots__ = ("_engine", "_real", "_text")

    def __init__(self, engine: AnalyzerEngine, text: str) -> None:
        self._engine = engine
        self._text = text
        self._real: NlpArtifacts | None = None

    def __bool__(self) -> bool:  # `analyze` tests `if not nlp_artifacts` before making its own
        return True

    def __getattr__(self, name: str) -> object:
        if self._real is None:
            self._real = self._engine.nlp_engine.process_text(self._text, LANGUAGE)
        return getattr(self._real, name)


# `build_analyzer`, built once per process and arguments. A build sends its stages to every shard
# task; a scanner unpickled there would otherwise rebuild its analyzer (~0.2 s of CPU) per shard.
# The engine keeps no per-call state (compiled patterns), so scanners with equal settings share it.
shared_analyzer = lru_cache(maxsize=8)(build_analyzer)
