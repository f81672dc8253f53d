"""hsimin's controlled mineral vocabulary: USGS names -> vocabulary names, groups, mixtures."""
import pytest

from hsimin.core.vocabulary import (ARTEFACT_CLASSES, GROUPS, VOCABULARY, describe, is_artefact, is_known,
                                    is_mixture, mineral_group, mineral_name, mixture_components, vocabulary_names)


@pytest.mark.parametrize("name,want", [
    # chlorite solid solution
    ("Clinochlore_Fe_GDS157.b", "chlorite"), ("Chlorite_HS179.3B", "chlorite"), ("Thuringite_SMR-15.b_80um", "chlorite"),
    ("Prochlorite_SMR-14.a_115um", "chlorite"), ("chamosite", "chlorite"), ("Penninite", "chlorite"),
    ("ripidolite", "chlorite"),
    # serpentine
    ("Antigorite_NMNH96917.a_gt250", "serpentine"), ("Lizardite_NMNHR4687.b_165um", "serpentine"),
    ("Chrysotile_HS323.1B", "serpentine"), ("Serpentine_HS8.3B", "serpentine"),
    # white mica
    ("Muscovite_GDS113_Ruby", "white_mica"), ("Illite_IMt-1.a", "white_mica"), ("Paragonite_GDS109", "white_mica"),
    ("phengite", "white_mica"), ("sericite", "white_mica"), ("white mica", "white_mica"), ("White_Mica", "white_mica"),
    # kaolin group kept apart
    ("Kaolinite_CM9", "kaolinite"), ("Dickite_NMNH106242", "dickite"), ("Halloysite_NMNH106236", "halloysite"),
    ("Endellite_GDS16", "halloysite"),
    # smectites; nontronite separate
    ("Montmorillonite_SWy-1", "smectite"), ("Beidellite_GDS123", "smectite"), ("Saponite_SapCa-1", "smectite"),
    ("Hectorite_SHCa-1", "smectite"), ("Nontronite_NG-1.a", "nontronite"),
    # amphibole, epidote, carbonates, sulfates, others
    ("Actinolite_HS116.1B", "amphibole"), ("Tremolite_HS18.3", "amphibole"), ("Hornblende_Fe_HS115.3B", "amphibole"),
    ("Epidote_GDS26.a_75-200um", "epidote"), ("Clinozoisite_HS299.3B", "epidote"), ("Zoisite_HS347.1B", "epidote"),
    ("Calcite_WS272", "calcite"), ("Dolomite_HS102.3B", "dolomite"), ("Siderite_HS271.3B", "siderite"),
    ("Ankerite", "ankerite"), ("Magnesite", "magnesite"),
    ("Alunite_HS295.3B", "alunite"), ("Jarosite_GDS99_K_200C_Syn", "jarosite"), ("Gypsum_HS333.3B_(Selenite)", "gypsum"),
    ("Talc_HS21.3B", "talc"), ("Topaz_Glen_Cove_#6", "topaz"), ("Elbaite_NMNH94217-1.c_lt74", "tourmaline"),
    ("Opal_TM8896_(Hyalite)", "opal"), ("Chalcedony_CU91-6A", "opal"), ("Goethite_WS222_Coarse_Gr.", "goethite"),
    ("Hematite_FE2602", "hematite"), ("Phlogopite_HS23.1B", "biotite"), ("Annite_WS661_Biotite", "biotite"),
    ("Albite_HS324.3B_Plagioclase", "feldspar"), ("Almandine_WS476_Garnet", "garnet"),
    # titles as USGS writes them, artefacts
    ("Kaolinite CM9  BECKb AREF", "kaolinite"), ("Plastic_HDPE GDS351 BlkSheet ASDFRa AREF", "plastic"),
    ("Plywood GDS365 Fresh Pine    ASDFRa AREF", "wood"), ("Wood_Beam GDS363 Nw Pine 2X4", "wood"),
    ("GalvanizedSheetMetal GDS334", "metal"), ("Sheet_Metal GDS352 crg Galvn", "metal"),
    ("Aluminum brushed 293K", "metal"), ("Painted_Aluminum GDS333 LgGr", "metal"), ("Cardboard GDS371", "cardboard"),
    # unmapped names: lower-case first token
    ("Zircon_WS522", "zircon"), ("Witherite_HS273.1B", "witherite"), ("Sphalerite_S26-34", "sphalerite"),
    # mixtures: first-named component
    ("Calcite.5+Dolomite.5 AMX8", "calcite"), ("Kaol+Muscov_intimate CU93-5C", "kaolinite"),
])
def test_mineral_name(name, want):
    assert mineral_name(name) == want


def test_vocabulary_names_map_to_themselves_and_have_groups_and_features():
    names = [e.name for e in VOCABULARY]
    assert len(names) == len(set(names))
    for e in VOCABULARY:
        assert e.name == e.name.lower() and " " not in e.name
        assert mineral_name(e.name) == e.name
        assert e.group in GROUPS and e.features
        assert describe(e.name) == e.features
        for s in e.synonyms:
            assert mineral_name(s) == e.name, s
    for wanted in ("kaolinite", "white_mica", "chlorite", "calcite", "dolomite", "epidote", "smectite", "talc",
                   "serpentine", "alunite", "jarosite", "gypsum", "topaz", "tourmaline", "amphibole", "plastic",
                   "wood", "metal", "aspectral", "unknown"):
        assert wanted in names


@pytest.mark.parametrize("name,group", [
    ("white_mica", "white_mica"), ("Muscovite", "white_mica"), ("kaolinite", "kaolin"), ("Dickite", "kaolin"),
    ("Clinochlore", "chlorite"), ("Calcite", "carbonate"), ("Siderite", "carbonate"), ("Nontronite", "smectite"),
    ("Gypsum", "sulfate"), ("Goethite", "iron_oxide"), ("Plastic_HDPE", "artefact"), ("unknown", "none"),
    ("Zircon_WS522", "other"),
])
def test_mineral_group(name, group):
    assert mineral_group(name) == group


@pytest.mark.parametrize("name,mixed", [
    ("Calcite.5+Dolomite.5 AMX8", True),
    ("Kaol+Muscov_intimate CU93-5C", True),
    ("Alun.33+Kaol.33+Musc.33 AMX2", True),
    ("Illite CU00-5B Hi-Al+Quartz", True),
    ("Jarosite coated on quartz", True),
    ("Kaolinite_mix_smectite", True),
    ("Alunite0.35K+.65Na CU91-217H", False),     # K/Na composition, not a mixture
    ("Acid_Mine_Dr Assemb1-Fe3+", False),         # an ion charge
    ("Witherite_HS273.1B", False),                # 'with' inside a word
    ("Chlorite_HS179.3B", False),
    ("Coated_Steel_Girder WTC01-8", False),       # one artefact material
    ("Kaolinite_CM9", False),
])
def test_is_mixture(name, mixed):
    assert is_mixture(name) is mixed


def test_mixture_components():
    assert mixture_components("Calcite.5+Dolomite.5 AMX8") == ["calcite", "dolomite"]
    assert mixture_components("Chl.33+Epid.33+Cal.33 GDS319") == ["chlorite", "epidote", "calcite"]
    assert mixture_components("Alun366+.50PyroPYS1A GDS222") == ["alunite", "pyrophyllite"]
    assert mixture_components("Jarosite coated on quartz") == ["jarosite", "quartz"]
    assert mixture_components("Kaolinite_CM9") == []


def test_known_artefacts_and_listing():
    assert is_known("Clinochlore_GDS158_Flagstaff") and not is_known("Zircon_WS522")
    assert set(ARTEFACT_CLASSES) == {"plastic", "wood", "cardboard", "metal"}
    assert is_artefact("Plastic_Pipe GDS342 Black") and not is_artefact("Calcite_WS272")
    assert vocabulary_names("kaolin") == ["kaolinite", "dickite", "halloysite", "nacrite"]
    assert mineral_name("") == "unknown" and mineral_name(b"Talc_GDS23") == "talc"
