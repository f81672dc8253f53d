"""The library matchers honour the scikit-learn estimator contract (ARCHITECTURE §5).

``parametrize_with_checks`` fits them on scikit-learn's generic check data: 2-10 anonymous features, blobs with
negative values, a single class, random test points. Two settings differ from the defaults, for reasons of the
data, not of the contract:

* thresholds (``max_angle``, ``max_divergence``, ``min_similarity``, ``max_error``, ``min_feature_depth``) are
  None: on random points far from every training point the defaults rightly answer 'unknown', while the
  checks demand one of the training classes (e.g. ``check_classifiers_one_label``);
* ``FeatureMatcher`` and ``MixtureFitter`` run with ``continuum="none"`` (the input is taken as continuum-removed):
  the upper hull of 2-band data passes through both bands, so continuum-removed 2-band "spectra" are all
  identical and no method could learn them. The continuum path is tested on real spectra in test_matching.py
  and test_mixture.py.
"""
from sklearn.utils.estimator_checks import parametrize_with_checks

from hsimin.classical import FeatureMatcher, MixtureFitter, SpectralAngleMapper, SpectralInformationDivergence

ESTIMATORS = [
    SpectralAngleMapper(max_angle=None),
    SpectralInformationDivergence(max_divergence=None),
    FeatureMatcher(continuum="none", min_similarity=None, min_feature_depth=None),
    MixtureFitter(continuum="none", max_error=None, min_feature_depth=None),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_contract(estimator, check):
    check(estimator)
