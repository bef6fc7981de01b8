"""User interest in the text-embedding space: state, online update, transfer, segments."""

from driftrec.interest.config import InterestConfig
from driftrec.interest.state import Event, InterestState, new_state, update
from driftrec.interest.tracker import InterestTracker

__all__ = ["Event", "InterestConfig", "InterestState", "InterestTracker", "new_state", "update"]
