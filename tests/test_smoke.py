import numpy as np
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from skakd import ActiveDistillationClassifier
from skakd.sampling import MRARU
from skakd.teachers import OracleTeacher


def test_mraru_loop_adds_teacher_labels_each_round():
    X, y = make_classification(n_samples=600, random_state=0)
    clf = ActiveDistillationClassifier(
        LogisticRegression(), teacher=OracleTeacher(X, y),
        sampler=MRARU(batch_size=10), max_iter=3, random_state=0,
    ).fit(X[:10], y[:10], X_pool=X[10:500])
    assert clf.history_[:, "n_labeled"] == [10, 20, 30, 40]
    pool_labels = y[10:500][clf.labeled_pool_index_[10:]]
    np.testing.assert_array_equal(clf.labeled_y_[10:], pool_labels)
    assert clf.termination_condition_ == "max_iter"
