"""scikit-learn's own estimator checks, for every sampler the classifier can use."""

from sklearn.linear_model import LogisticRegression
from sklearn.utils.estimator_checks import parametrize_with_checks

from skakd import ActiveDistillationClassifier
from skakd.sampling import MRARU, RandomSampler, UncertaintySampler

# n_iter_ counts teacher rounds, and sklearn's checks fit without a pool, so
# there are none; scikit-learn marks the same check for SelfTrainingClassifier.
EXPECTED_FAILED = {"check_non_transformer_estimators_n_iter": "n_iter_ can be 0."}


@parametrize_with_checks(
    [
        ActiveDistillationClassifier(LogisticRegression(), sampler=MRARU()),
        ActiveDistillationClassifier(LogisticRegression(), sampler=RandomSampler()),
        ActiveDistillationClassifier(
            LogisticRegression(), sampler=UncertaintySampler(strategy="entropy")
        ),
        ActiveDistillationClassifier(),
    ],
    expected_failed_checks=lambda estimator: EXPECTED_FAILED,
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
