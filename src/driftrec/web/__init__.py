"""A small dashboard (server-rendered Jinja2, no build step): users' interest and segments."""
