"""Light constants of hsimin.classical (no scikit-learn import), so the CLI can build its help quickly."""

IDENTIFY_METHOD_NAMES = ("sam", "sid", "match", "mixture")
"""Method names of the scikit-learn library matchers (``mapping.IDENTIFY_METHODS`` maps them to estimators)."""

DEFAULT_METHOD = "unmix"
"""The default identification: the interpretation workflow (:mod:`hsimin.classical.interpretation`: SWIR Min1/Min2
with weights, aspectral, unknown, artefacts; VNIR; scalars). The benchmarks show every other method worse on real
scanner spectra (``benchmarks/realdata_bench.py``)."""

METHOD_NAMES = (DEFAULT_METHOD,) + IDENTIFY_METHOD_NAMES
"""Every ``hsimin identify --method`` (and ``hsimin batch --method``) choice."""

DEFAULT_FIT_RANGE_NM = (1300.0, 2480.0)
"""Bands used for identification (nm): the SWIR, where the diagnostic OH, H2O, AlOH, FeOH, MgOH and CO3
features lie; below 1300 nm the broad Fe2+/Fe3+ bands and the VNIR-SWIR detector join of core scanners and the
ASD add slope differences that say little about the SWIR-active mineral."""
