"""driftrec: recommendations from a living, language-model interest state."""

__version__ = "0.1.0"
