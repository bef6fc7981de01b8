"""The feedback loop: what was shown (impressions), what users did with it (labels), and the
online update of the fused model's weights W from those labels, with guard rails."""
