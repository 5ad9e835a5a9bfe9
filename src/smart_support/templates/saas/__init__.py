"""The `saas` template's demo API, Pulseboard (`api.py`, data and rules in `state.py`)."""
