"""The dashboard: server-rendered Jinja2 pages with Plotly charts (overview, users,
segments, items, search), served under ``/dashboard`` by the service."""
