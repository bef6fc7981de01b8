"""The serving pipeline: candidates, filters, diversity re-ranking and reasons."""

from driftrec.recommend.catalogue import Catalogue
from driftrec.recommend.models import LoadedModel, ModelHolder, ModelLoadError, load_model
from driftrec.recommend.pipeline import Recommendation, RecommendationEngine

__all__ = ["Catalogue", "LoadedModel", "ModelHolder", "ModelLoadError", "Recommendation",
           "RecommendationEngine", "load_model"]
