"""What skakd's text embedders share: texts in, float32 rows out."""

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
)

__all__ = ["TextEmbedder"]


class TextEmbedder(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Base of the text embedders: string input, ``n_features_out_`` named
    columns, and rows L2-normalised when ``normalize`` is set."""

    @property
    def _n_features_out(self):
        return self.n_features_out_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        return tags

    def _normalized(self, out):
        """``out``, its rows scaled to unit length in place if ``normalize``
        (a zero row, e.g. of an empty text, stays zero)."""
        if self.normalize:
            norms = np.linalg.norm(out, axis=1, keepdims=True)
            out /= np.maximum(norms, 1e-12)
        return out
