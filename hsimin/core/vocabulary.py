"""hsimin's controlled mineral vocabulary: USGS sample names -> the names a core logger uses.

Every library, training set and mineral map in hsimin labels its classes with these lower-case names
(``white_mica``, ``chlorite``, ``calcite``...). :func:`mineral_name` maps a USGS splib07 sample name
(``Clinochlore_Fe_GDS157.b``), a spectrum title (``Kaolinite CM9  BECKb AREF``) or a bare token
(``Muscovite``, ``musc``) to its vocabulary name; :func:`mineral_group` gives its TSG-like group; :func:`is_mixture`
flags names of physical mixtures and coated samples.

Decisions (a spectral geologist's, stated so they can be argued with)
-------------------------------------------------------------------
- Solid-solution series and polytypes that a SWIR core scanner cannot tell apart share a name:
  clinochlore/chamosite/thuringite/penninite/ripidolite/prochlorite -> ``chlorite``;
  antigorite/lizardite/chrysotile -> ``serpentine``; muscovite/illite/phengite/paragonite/sericite ->
  ``white_mica`` (the 2200 nm AlOH position that separates them is a *scalar*, see hsimin.classical.features);
  actinolite/tremolite/hornblende/nephrite/... -> ``amphibole``; epidote/clinozoisite/zoisite -> ``epidote``;
  biotite/phlogopite/annite/siderophyllite -> ``biotite``; elbaite/schorl/dravite -> ``tourmaline``;
  opal/chalcedony (hydrous silica) -> ``opal``; goethite/limonite -> ``goethite``.
- Kaolin minerals stay separate (``kaolinite``, ``dickite``, ``halloysite``, ``nacrite``; group ``kaolin``): their
  2160-2210 nm doublets differ and the distinction matters for alteration zoning.
- Al/Mg smectites (montmorillonite, beidellite, saponite, hectorite, sauconite) -> ``smectite``; **nontronite is
  kept separate**: its diagnostic FeOH feature near 2285 nm differs from the AlOH 2205 nm of the Al smectites
  and it marks a different (Fe-rich, often supergene or mafic) setting.
- Carbonates keep their species (``calcite``, ``dolomite``, ``ankerite``, ``siderite``, ``magnesite``...; group
  ``carbonate``): the 2330-2345 nm CO3 position separates them and loggers report them separately.
- Rock-forming, mostly SWIR-featureless families get their group name: ``feldspar``, ``pyroxene``, ``garnet``,
  ``olivine``, ``zeolite`` (zeolites do have water features, but rarely matter individually in core).
- Tray artefacts: ``plastic``, ``wood``, ``metal``, ``cardboard``; and the non-mineral classes ``aspectral``
  (no diagnostic feature) and ``unknown`` (nothing fits).
- Names not in the tables map to their lower-case first token (``Zircon_WS522`` -> ``zircon``), so nothing is
  silently dropped; :func:`is_known` tells whether a name is curated.
- Mixtures (``Calcite.5+Dolomite.5 AMX8``, ``Kaol+Muscov_intimate``, ``Kaolinite coated on ...``) map to the
  name of their first-named component; :func:`is_mixture` flags them so libraries can leave them out.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass

__all__ = ["VOCABULARY", "VocabularyEntry", "GROUPS", "ARTEFACT_CLASSES", "ASPECTRAL", "NON_MINERAL_CLASSES",
           "NO_MINERAL", "UNKNOWN",
           "TSA_NON_ANSWERS", "answer_group", "is_artefact", "is_known", "is_mixture", "mineral_group",
           "mineral_name", "describe", "mixture_components", "tsa_mineral", "vocabulary_names"]


@dataclass(frozen=True)
class VocabularyEntry:
    """One vocabulary name.

    name : lower-case vocabulary name (``white_mica``)
    group : TSG-like group (``white_mica``, ``kaolin``, ``carbonate``, ``artefact``...)
    features : one line on the diagnostic SWIR (1000-2500 nm) features
    synonyms : lower-case USGS names/tokens that map to ``name`` (besides ``name`` itself)
    """

    name: str
    group: str
    features: str
    synonyms: tuple[str, ...] = ()


VOCABULARY: tuple[VocabularyEntry, ...] = (
    # ---- kaolin group
    VocabularyEntry("kaolinite", "kaolin", "AlOH doublet 2165 + 2207 nm, OH doublet 1395/1415 nm; 2320/2380 nm",
                    ("kaolin", "kaol", "kaolinite-wxl", "kaolin-wxl")),
    VocabularyEntry("dickite", "kaolin", "AlOH doublet 2178 + 2206 nm (deeper first minimum than kaolinite), "
                    "1380/1415 nm", ("dic",)),
    VocabularyEntry("halloysite", "kaolin", "weak kaolin doublet at 2165/2207 nm with strong 1415/1915 nm water",
                    ("endellite",)),
    VocabularyEntry("nacrite", "kaolin", "kaolin doublet near 2178/2206 nm, like dickite"),
    # ---- white mica and other micas
    VocabularyEntry("white_mica", "white_mica", "AlOH 2195-2225 nm (paragonite short, phengite long), "
                    "secondary 2350 and 2440 nm, 1410 nm OH",
                    ("muscovite", "illite", "phengite", "paragonite", "sericite", "musc", "muscov", "msc", "ill",
                     "white_mica", "white mica", "whitemica", "hialmsc", "halmsc", "hi-al_muscovite")),
    VocabularyEntry("illite_smectite", "smectite", "AlOH ~2205 nm with a deeper 1910 nm water band than illite",
                    ("rectorite", "ammonio-illite-smect", "ammonio-illite/smect", "illite-smectite",
                     "illite/smectite")),
    VocabularyEntry("biotite", "dark_mica", "FeOH ~2250 nm and MgOH ~2330-2380 nm, low albedo",
                    ("phlogopite", "annite", "siderophyllite", "biot")),
    VocabularyEntry("lepidolite", "white_mica", "AlOH ~2200 nm (Li mica), 1410 nm OH"),
    VocabularyEntry("margarite", "white_mica", "AlOH ~2210-2220 nm (Ca brittle mica)"),
    VocabularyEntry("glauconite", "dark_mica", "FeOH ~2255 nm and MgOH ~2350 nm, broad Fe2+ 1000 nm"),
    # ---- smectites
    VocabularyEntry("smectite", "smectite", "AlOH ~2205 nm (Mg smectites: MgOH ~2310 nm) with deep 1410/1910 "
                    "nm water", ("montmorillonite", "beidellite", "saponite", "hectorite", "sauconite",
                                 "ammonio-smectite", "mont", "montmor", "ca-mont", "na-mont", "na-mon",
                                 "ca-montmor", "ca-montmorillonite", "na-montmorillonite")),
    VocabularyEntry("nontronite", "smectite", "FeOH ~2285-2290 nm and ~2400 nm, Fe3+ near 950 nm, deep water"),
    # ---- chlorite and other Mg/Fe-OH
    VocabularyEntry("chlorite", "chlorite", "FeOH ~2250 nm and MgOH 2325-2360 nm (position shifts with Fe/Mg)",
                    ("clinochlore", "chamosite", "thuringite", "penninite", "pennine", "ripidolite",
                     "prochlorite", "chl", "chlor", "chlorit")),
    VocabularyEntry("corrensite", "chlorite", "chlorite FeOH/MgOH (2250/2330 nm) with smectite water bands"),
    VocabularyEntry("cookeite", "chlorite", "AlOH ~2200 nm with 2360 nm (Li-Al chlorite)"),
    VocabularyEntry("serpentine", "serpentine", "sharp MgOH 2320-2330 nm, 1385 nm OH, ~2100 nm shoulder",
                    ("antigorite", "lizardite", "chrysotile", "serpentinite", "cronstedtite", "serp")),
    VocabularyEntry("talc", "talc", "sharp MgOH 2310 nm plus 2290 and 2385 nm, 1395 nm OH"),
    VocabularyEntry("brucite", "brucite", "MgOH ~2450 nm and 1380 nm OH"),
    VocabularyEntry("amphibole", "amphibole", "MgOH doublet 2315 + 2385 nm (tremolite-actinolite), FeOH ~2250 nm",
                    ("actinolite", "tremolite", "hornblende", "nephrite", "smaragdite", "uralite", "richterite",
                     "anthophyllite", "cummingtonite", "glaucophane", "riebeckite", "edenite", "pargasite",
                     "trem", "actin")),
    VocabularyEntry("epidote", "epidote", "FeOH 2255 nm and 2335-2340 nm (with a 1550 nm OH band)",
                    ("clinozoisite", "zoisite", "epid", "epidot", "piemontite")),
    VocabularyEntry("allanite", "epidote", "weak epidote-like OH bands; often metamict and featureless"),
    VocabularyEntry("prehnite", "prehnite", "sharp 1477 nm OH and 2350 nm CaOH, 1930 nm water"),
    VocabularyEntry("vermiculite", "vermiculite", "MgOH ~2310 nm with deep water bands"),
    VocabularyEntry("palygorskite", "palygorskite", "AlOH/MgOH 2210 + 2300 nm, deep water (fibrous clay)"),
    VocabularyEntry("sepiolite", "sepiolite", "MgOH 2315 nm, deep water (fibrous clay)"),
    VocabularyEntry("pyrophyllite", "pyrophyllite", "sharp AlOH 2165-2168 nm and 1393 nm OH", ("pyro", "pyrophyl")),
    VocabularyEntry("gibbsite", "aloh_other", "AlOH 2265-2270 nm and 1525 nm"),
    VocabularyEntry("diaspore", "aloh_other", "broad AlOH ~2290 nm with 1750/2080 nm"),
    # ---- carbonates
    VocabularyEntry("calcite", "carbonate", "CO3 ~2335-2340 nm, weaker 2155-2160 and 1995 nm",
                    ("cal", "calc", "calcit", "limestone", "caco3")),
    VocabularyEntry("dolomite", "carbonate", "CO3 ~2315-2325 nm (shorter than calcite)", ("dolo", "dolomit")),
    VocabularyEntry("ankerite", "carbonate", "CO3 ~2320-2330 nm plus broad Fe2+ near 1000-1200 nm"),
    VocabularyEntry("siderite", "carbonate", "CO3 ~2330-2345 nm with a strong broad Fe2+ band near 1100 nm"),
    VocabularyEntry("magnesite", "carbonate", "CO3 ~2300 nm (shortest of the common carbonates)"),
    VocabularyEntry("aragonite", "carbonate", "CO3 ~2330 nm, like calcite"),
    VocabularyEntry("rhodochrosite", "carbonate", "CO3 ~2350 nm, Mn2+ bands in the VNIR"),
    VocabularyEntry("strontianite", "carbonate", "CO3 ~2330 nm"),
    VocabularyEntry("witherite", "carbonate", "CO3 ~2340 nm"),
    VocabularyEntry("malachite", "carbonate", "Cu2+ broad near 1000 nm with CO3/OH 2270-2350 nm"),
    # ---- sulfates
    VocabularyEntry("alunite", "sulfate", "1480 + 1760 nm and AlOH 2165-2170 nm, 2320 nm",
                    ("alun", "kalun", "alun_na", "natroalunite", "ammonio-alunite")),
    VocabularyEntry("jarosite", "sulfate", "FeOH ~2265 nm, 1470 nm and Fe3+ ~920 nm",
                    ("jr", "jaro", "kjar", "ammonio-jarosite", "natrojarosite")),
    VocabularyEntry("gypsum", "sulfate", "water triplet 1445/1490/1535 nm, 1750 nm, 2215/2265 nm",
                    ("gyp", "selenite")),
    VocabularyEntry("anhydrite", "sulfate", "nearly featureless in SWIR (weak water from hydration)"),
    VocabularyEntry("bassanite", "sulfate", "1430/1480 nm and 1930 nm water, 1750 nm"),
    VocabularyEntry("buddingtonite", "ammonium", "NH4 2020 and 2120 nm, 1560 nm"),
    # ---- other diagnostic silicates
    VocabularyEntry("topaz", "topaz", "AlOH ~2085 nm and 1400 nm, sharp 2150 nm shoulder"),
    VocabularyEntry("tourmaline", "tourmaline", "multiple sharp OH bands 2200-2380 nm (~2245 + 2300-2360 nm)",
                    ("elbaite", "schorl", "dravite", "uvite")),
    VocabularyEntry("opal", "silica", "hydrous silica: broad SiOH 2210-2260 nm, 1410/1910 nm water",
                    ("chalcedony", "hydrous_silica", "opaline")),
    VocabularyEntry("quartz", "silica", "no SWIR absorptions (fluid-inclusion water only)", ("qtz",)),
    VocabularyEntry("chert", "silica", "weak 1410/1910 nm water, otherwise featureless"),
    VocabularyEntry("zunyite", "aloh_other", "sharp AlOH 1640 nm and 2140 nm"),
    VocabularyEntry("feldspar", "feldspar", "no diagnostic SWIR feature (weak water from alteration)",
                    ("albite", "andesine", "anorthite", "bytownite", "labradorite", "oligoclase", "microcline",
                     "orthoclase", "sanidine", "perthite", "adularia", "plagioclase", "k-feldspar")),
    VocabularyEntry("pyroxene", "pyroxene", "broad Fe2+ bands near 1000 and 2000 nm",
                    ("augite", "diopside", "hedenbergite", "bronzite", "enstatite", "hypersthene", "pigeonite",
                     "acmite", "aegirine", "fassaite", "jadeite")),
    VocabularyEntry("garnet", "garnet", "broad Fe2+ band near 1000-1300 nm, otherwise featureless",
                    ("almandine", "andradite", "grossular", "spessartine", "uvarovite", "hydrogrossular",
                     "pyrope")),
    VocabularyEntry("olivine", "olivine", "broad composite Fe2+ band 850-1300 nm",
                    ("forsterite", "fayalite", "knebelite")),
    VocabularyEntry("zeolite", "zeolite", "deep water 1410/1910 nm bands, weak features near 2200-2400 nm",
                    ("analcime", "clinoptilolite", "heulandite", "laumontite", "mordenite", "natrolite",
                     "scolecite", "stilbite", "chabazite", "erionite", "thomsonite")),
    # ---- iron oxides and hydroxides
    VocabularyEntry("goethite", "iron_oxide", "Fe3+ ~900-940 nm (VNIR), featureless and dark in SWIR",
                    ("limonite", "goeth", "gth", "lepidocrocite", "ferrihydrite")),
    VocabularyEntry("hematite", "iron_oxide", "Fe3+ ~850-880 nm (VNIR), featureless in SWIR",
                    ("nanohematite", "hemat", "maghemite", "martite")),
    # ---- tray artefacts and non-mineral classes
    VocabularyEntry("plastic", "artefact", "hydrocarbon C-H bands 1210, 1730 and 2310 nm (tray, core bags)",
                    ("plastic_hdpe", "plastic_ldpe", "plastic_pvc", "plastic_abs", "plastic_pipe", "plastic_tarp",
                     "plastic_pete", "plastic_vinyl", "plastic_tyvek", "plastic_visqueen", "hdpe", "ldpe", "pvc",
                     "abs", "pete", "vinyl", "tyvek", "visqueen", "nylon", "nylon_carpet", "nylon_fabric",
                     "nylon_webbing", "fiberglass", "polystyrene", "plastic_polystyrene")),
    VocabularyEntry("wood", "artefact", "cellulose/lignin 1200, 1490, 1730, 2100 and 2270-2340 nm (core blocks, "
                    "wooden trays)", ("plywood", "wood_beam", "lumber", "particle_board", "strand_board", "cedar_shake")),
    VocabularyEntry("cardboard", "artefact", "cellulose 2100 nm, 1490/1930 nm water (core boxes, labels)",
                    ("paper", "paper_cotton_bond")),
    VocabularyEntry("metal", "artefact", "bright, spectrally flat or smoothly sloping (galvanised/aluminium "
                    "trays, rulers)", ("galvanizedsheetmetal", "sheet_metal", "aluminum", "aluminium",
                                       "painted_aluminum", "galvanized", "steel",
                                       "coated_steel_girder", "rusted_tin_can")),
    VocabularyEntry("aspectral", "none", "no diagnostic absorption above the noise (quartz, feldspar, dark core)"),
    VocabularyEntry("unknown", "none", "spectral features present, but no library mineral fits"),
)
"""Every curated name, in a stable order."""

ARTEFACT_CLASSES: tuple[str, ...] = tuple(e.name for e in VOCABULARY if e.group == "artefact")
"""Tray artefact classes: plastic, wood, cardboard, metal."""

ASPECTRAL = "aspectral"
"""The answer for a spectrum with no diagnostic absorption above its noise."""
UNKNOWN = "unknown"
"""The answer for features that no reference explains."""

NON_MINERAL_CLASSES: tuple[str, ...] = ARTEFACT_CLASSES + (ASPECTRAL, UNKNOWN)

_BY_NAME: dict[str, VocabularyEntry] = {e.name: e for e in VOCABULARY}
_SYNONYMS: dict[str, str] = {}
for _e in VOCABULARY:
    for _s in (_e.name, *_e.synonyms):
        _key = _s.lower()
        if _key in _SYNONYMS and _SYNONYMS[_key] != _e.name:  # pragma: no cover - guards the table itself
            raise RuntimeError(f"vocabulary synonym {_key!r} maps to both {_SYNONYMS[_key]!r} and {_e.name!r}")
        _SYNONYMS[_key] = _e.name

GROUPS: tuple[str, ...] = tuple(dict.fromkeys(e.group for e in VOCABULARY))
"""Group names in vocabulary order."""

# Multi-token prefixes of USGS names that the first token alone would get wrong (Sheet_Metal -> 'sheet').
_PREFIXES = ("sheet_metal", "painted_aluminum", "wood_beam", "paper_cotton_bond", "nylon_carpet", "nylon_fabric",
             "nylon_webbing", "particle_board", "strand_board", "cedar_shake", "coated_steel_girder",
             "rusted_tin_can")
_MIX_WORDS = {"mix", "mixture", "mixed", "intimate", "areal", "coated", "coating", "coat", "on", "with", "others",
              "and"}
_SPLIT = re.compile(r"[\s_]+")
_WORD = re.compile(r"[a-z][a-z\-/]*")


def _clean(name) -> str:
    s = name.decode() if isinstance(name, bytes) else str(name)
    return _SPLIT.sub("_", s.strip().lower()).strip("_")


def _lookup_token(token: str) -> str | None:
    """Vocabulary name of one token (exact synonym, then without trailing digits/dots), or None."""
    t = token.strip("._-+/ ")
    if not t:
        return None
    if t in _SYNONYMS:
        return _SYNONYMS[t]
    letters = re.match(r"[a-z][a-z\-/]*[a-z]|[a-z]", t)
    if letters:
        w = letters.group(0)
        if w in _SYNONYMS:
            return _SYNONYMS[w]
        # 'Fe-' / 'Ca-' style chemical prefixes: Clinochlore_Fe, Ca-Montmorillonite
        for part in w.split("-"):
            if part in _SYNONYMS and len(part) >= 4:
                return _SYNONYMS[part]
        # Unique prefix of a curated synonym (mixture abbreviations such as 'Epid', 'Muscov'), >= 4 letters.
        if len(w) >= 4:
            hits = {v for k, v in _SYNONYMS.items() if k.startswith(w)}
            if len(hits) == 1:
                return hits.pop()
    return None


def mixture_components(name) -> list[str]:
    """Vocabulary names of the components of a mixture name, in the order named (``[]`` if not a mixture).

    ``'Calcite.5+Dolomite.5 AMX8'`` -> ``['calcite', 'dolomite']``; components hsimin cannot resolve keep their
    lower-case letters (``'Erionite+Offretite'`` -> ``['zeolite', 'offretite']``).
    """
    if not is_mixture(name):
        return []
    s = _clean(name)
    head = s.split("_")[0]
    if "+" in head:
        parts, keep_unknown = head.split("+"), True
    elif "+" in s:
        parts, keep_unknown = [p.split("_")[0] for p in s.split("+")], True
    else:  # 'Jarosite coated on quartz': the tokens that are minerals
        parts, keep_unknown = [t for t in s.split("_") if t not in _MIX_WORDS], False
    out: list[str] = []
    for p in parts:
        m = _lookup_token(p)
        if m is None and keep_unknown:
            letters = re.search(r"[a-z]{3,}", p)
            if letters:  # abbreviation run into a sample code ('.50PyroPYS1A'): longest curated prefix
                w = letters.group(0)
                m = next((_SYNONYMS[w[:n]] for n in range(len(w), 2, -1) if w[:n] in _SYNONYMS), w)
        if m is not None and m not in out:
            out.append(m)
    return out


def is_mixture(name) -> bool:
    """True when a USGS name or title describes a physical mixture or a coated sample.

    Rules: a ``+`` joining two parts that each hold a word of at least 3 letters (so ``Alunite0.35K+.65Na``, a
    K/Na composition, and ``Fe3+`` are not mixtures); or a word ``mix``/``mixture``/``intimate``/``areal``/
    ``coated``/``coating``/``on``/``with``/``others`` among the name tokens (``Kaol+Muscov_intimate``,
    ``Jarosite coated on quartz``). Witherite and Chlorite_HS179 are not mixtures: whole words only. Tray
    artefact materials without a ``+`` (``Coated_Steel_Girder``) are single materials, not mixtures.
    """
    s = _clean(name)
    head = s.split("_")[0]
    if "+" not in s and mineral_name(s) in ARTEFACT_CLASSES:
        return False  # 'Coated_Steel_Girder' is one material, not a coated mineral
    for chunk in (head, s):
        if "+" in chunk:
            parts = chunk.split("+")
            wordy = [p for p in parts if re.search(r"[a-z]{3,}", p)]
            if len(wordy) >= 2:
                return True
    tokens = set(re.split(r"[_\s\-]+", s))
    return bool(tokens & _MIX_WORDS)


def mineral_name(usgs_name_or_token) -> str:
    """Vocabulary name (lower case) of a USGS sample name, spectrum title or mineral token.

    Examples: ``'Clinochlore_Fe_GDS157.b'`` -> ``'chlorite'``; ``'Kaolinite CM9  BECKb AREF'`` -> ``'kaolinite'``;
    ``'Muscovite'`` -> ``'white_mica'``; ``'Plastic_HDPE GDS351 BlkSheet ASDFRa AREF'`` -> ``'plastic'``;
    ``'Sheet_Metal GDS352'`` -> ``'metal'``; ``'white mica'`` -> ``'white_mica'`` (vocabulary names map to
    themselves). A mixture maps to its first-named component (``'Calcite.5+Dolomite.5'`` -> ``'calcite'``; see
    :func:`is_mixture`). A name not in the tables maps to its lower-case first token (``'Zircon_WS522'`` ->
    ``'zircon'``); use :func:`is_known` to tell the two apart.
    """
    return _mineral_name(_clean(usgs_name_or_token))


@functools.lru_cache(maxsize=8192)
def _mineral_name(s: str) -> str:
    if not s:
        return "unknown"
    if s in _SYNONYMS:
        return _SYNONYMS[s]
    for p in _PREFIXES:
        if s == p or s.startswith(p + "_"):
            hit = _SYNONYMS.get(p)
            if hit:
                return hit
    first = s.split("_")[0]
    if "+" in first:
        first = first.split("+")[0]
    hit = _lookup_token(first)
    if hit is not None:
        return hit
    letters = re.match(r"[a-z][a-z\-/]*", first)
    return letters.group(0).rstrip("-/") if letters else first


def is_known(name) -> bool:
    """True when ``name`` maps to a curated vocabulary entry (not just its first token)."""
    return mineral_name(name) in _BY_NAME


def is_artefact(name) -> bool:
    """True for tray artefact classes (plastic, wood, cardboard, metal) and names that map to them."""
    return mineral_name(name) in ARTEFACT_CLASSES


def mineral_group(name) -> str:
    """TSG-like group of a vocabulary name or any name :func:`mineral_name` accepts: ``'kaolin'``,
    ``'white_mica'``, ``'smectite'``, ``'chlorite'``, ``'carbonate'``, ``'sulfate'``, ``'artefact'``... (see
    :data:`GROUPS`); ``'other'`` for names outside the curated vocabulary."""
    entry = _BY_NAME.get(mineral_name(name))
    return entry.group if entry else "other"


# --------------------------------------------------------------------------- TSA (The Spectral Assistant) names

_TSA_NAMES = {
    # TSA SWIR (TSA 7.x) names that the general rules above do not resolve
    "muscoviticillite": "white_mica", "paragoniticillite": "white_mica", "phengiticillite": "white_mica",
    "illite": "white_mica", "rubellite": "tourmaline", "tourmaline-fe": "tourmaline",
    "alunite-k": "alunite", "alunite-na": "alunite", "alunite-nh": "alunite",
    "chlorite-fe": "chlorite", "chlorite-femg": "chlorite", "chlorite-mg": "chlorite", "fechlorite": "chlorite",
    "mgchlorite": "chlorite", "femgchlorite": "chlorite", "kaolinite-px": "kaolinite", "kaolinite-wx": "kaolinite",
    # tray, marker and plant matter that TSA names: hsimin's artefact classes of the same spectral family
    "wood": "wood", "vegetation-dry": "wood", "plasticchiptray": "plastic", "teflon": "plastic",
    "isawhite": "plastic", "isayellow": "plastic", "whitemarker": "plastic", "yellowmarker": "plastic",
    "galvanisediron": "metal", "odzincalume": "metal",
    "aspectral": "aspectral", "notinlibrary": "unknown",
}
TSA_NON_ANSWERS = frozenset({"", "dark", "noisy", "higherror", "maskedoff", "invalid", "null"})
"""TSA outcomes that are no interpretation at all (too dark, noisy, masked off): left out of any agreement."""

NO_MINERAL = "none"
"""Group of the answers that name no mineral: aspectral, unknown and the tray artefacts."""


def tsa_mineral(name) -> str:
    """hsimin vocabulary name of a TSA mineral name (``'Kaolinite-WX'`` -> ``'kaolinite'``, ``'MuscoviticIllite'``
    -> ``'white_mica'``, ``'Wood'`` -> ``'wood'``, ``'Aspectral'`` -> ``'aspectral'``); ``''`` for TSA's
    non-answers (``Dark``, ``Noisy``, ``HighError``, ``MaskedOff``, empty). Names outside both tables map as
    :func:`mineral_name` maps them."""
    key = _clean(name)
    if key in TSA_NON_ANSWERS:
        return ""
    return _TSA_NAMES.get(key.replace("_", "")) or _TSA_NAMES.get(key) or mineral_name(key)


def answer_group(name) -> str:
    """The group an answer is scored by: :func:`mineral_group` for minerals, :data:`NO_MINERAL` for aspectral,
    unknown and the tray artefacts (none of them names a mineral of the rock), ``''`` for no answer."""
    key = _clean(name)
    if not key or key in ("unclassified", "masked", "no_data", "nodata", "background", "tray"):
        return ""
    m = mineral_name(key)
    if m in NON_MINERAL_CLASSES:
        return NO_MINERAL
    return mineral_group(m)


def describe(name) -> str:
    """One line on the diagnostic SWIR features of a vocabulary name ('' if not curated)."""
    entry = _BY_NAME.get(mineral_name(name))
    return entry.features if entry else ""


def vocabulary_names(group: str | None = None) -> list[str]:
    """Curated vocabulary names, optionally only those of one group."""
    return [e.name for e in VOCABULARY if group is None or e.group == group]
