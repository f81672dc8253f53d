"""Wavelength unit normalisation: every source unit becomes nm once, at load time."""
import numpy as np
import pytest

from hsimin.core import WavelengthError, check_wavelengths, normalise_unit, sort_order, to_nanometers


@pytest.mark.parametrize("unit,values,want", [
    ("Nanometers", [1000.0, 2500.0], [1000.0, 2500.0]),
    ("nm", [1000.0, 2500.0], [1000.0, 2500.0]),
    ("Micrometers", [1.0, 2.5], [1000.0, 2500.0]),
    ("um", [1.0, 2.5], [1000.0, 2500.0]),
    ("µm", [1.0, 2.5], [1000.0, 2500.0]),
    ("microns", [1.0, 2.5], [1000.0, 2500.0]),
    ("cm-1", [10000.0, 4000.0], [1000.0, 2500.0]),
    ("Unknown", [1.0, 2.5], [1000.0, 2500.0]),     # inferred from magnitude
    (None, [1000.0, 2500.0], [1000.0, 2500.0]),
])
def test_to_nanometers(unit, values, want):
    got = to_nanometers(values, unit)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)


def test_unknown_unit_is_an_error_that_names_the_fix():
    with pytest.raises(WavelengthError, match="nm, micrometers"):
        normalise_unit("furlongs")


def test_sort_order_reorders_descending_and_rejects_duplicates():
    assert sort_order(np.array([1.0, 2.0, 3.0])) is None
    np.testing.assert_array_equal(sort_order(np.array([3.0, 1.0, 2.0])), [1, 2, 0])
    with pytest.raises(WavelengthError, match="repeat"):
        sort_order(np.array([1.0, 2.0, 2.0]))


def test_check_wavelengths_count_and_order():
    with pytest.raises(WavelengthError, match="3 values for 4 bands"):
        check_wavelengths([1.0, 2.0, 3.0], 4)
    with pytest.raises(WavelengthError, match="strictly increasing"):
        check_wavelengths([1.0, 3.0, 2.0])
    with pytest.raises(WavelengthError, match="NaN"):
        check_wavelengths([1.0, np.nan])


def test_a_table_of_wavelengths_is_refused_for_its_shape():
    """A (270, 3) wavelength array was reported as 'wavelengths repeat'."""
    import numpy as np
    import pytest

    from hsimin.core import WavelengthError, sort_order
    with pytest.raises(WavelengthError, match=r"shape \(270, 3\)"):
        sort_order(np.tile(np.linspace(1000, 2500, 270)[:, None], (1, 3)))
