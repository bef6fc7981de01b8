"""The serving pipeline: candidates, filters, diversity re-ranking and reasons."""

from driftrec.recommend.models import LoadedModel, ModelHolder, ModelLoadError, load_model
from driftrec.recommend.pipeline import Recommendation, RecommendationEngine
from driftrec.recommend.served_items import Catalogue

__all__ = ["Catalogue", "LoadedModel", "ModelHolder", "ModelLoadError", "Recommendation",
           "RecommendationEngine", "load_model"]
