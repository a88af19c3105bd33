"""Scaffolding: `gitops new` (new.py) and the synthetic fleets of the bench and tests (fleetgen.py)."""
