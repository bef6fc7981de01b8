"""Interest-evolution sequence model: a causal transformer over each user's items."""

from driftrec.models.sequence.config import SequenceConfig
from driftrec.models.sequence.model import SASRec, SASRecText, SequenceRecommender

__all__ = ["SASRec", "SASRecText", "SequenceConfig", "SequenceRecommender"]
