"""Settings of the feedback loop (``[feedback]`` in the settings file,
``DRIFTREC_FEEDBACK__<NAME>`` in the environment)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class UpdateConfig(BaseModel):
    """Settings of the online update (``feedback_*`` in the service settings)."""

    model_config = ConfigDict(extra="forbid")

    # Chosen on the feedback replay's validation-period events (docs/feedback.md): the
    # mean gradient of rows that are ~98% negatives is small, so the rate is large and the
    # step cap and the rollback check are what keep W in bounds.
    lr: float = Field(5.0, gt=0, description="learning rate of the first update")
    decay_updates: float = Field(200.0, gt=0, description="updates until the rate halves")
    l2: float = Field(0.001, ge=0, description="pull towards the offline weights")
    max_step: float = Field(0.5, gt=0, description="largest norm of one step")
    window: int = Field(2000, ge=10, description="rows in the champion/challenger window")
    min_rows: int = Field(200, ge=1, description="rows before a rollback can trigger")
    margin: float = Field(0.01, ge=0, description="log-loss the online W may lose")


class FeedbackConfig(UpdateConfig):
    """The loop's settings: the update's, plus attribution, batching and retention."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="learn W online from recorded impressions")
    record: bool = Field(True, description="record every served list (an impression); "
                                           "off: no recommendation_id, nothing to learn from")
    window_s: float = Field(1800.0, gt=0, description="attribution window after a list")
    batch: int = Field(500, ge=1, description="impressions labelled per pass")
    interval_s: float = Field(5.0, gt=0, description="seconds between passes")
    negative_weight: float = Field(1.0, ge=0)
    position_decay: float = Field(0.0, ge=0, description="inverse-propensity exponent")
    retention_days: float = Field(30.0, gt=0)
    retention_rows: int = Field(1_000_000, ge=1)
    explore_slots: int = Field(0, ge=0, le=5, description="last slots of a list given to "
                               "rarely shown items by Thompson sampling (0: off)")
    explore_pool: int = Field(50, ge=1, description="how far below the list explored "
                              "items are drawn from (the user's own ranking)")
    explore_max_impressions: int = Field(100, ge=1, description="items shown this often "
                                         "are no longer explored")
