"""The stages the sequencer (run/pipeline.py) orders: build, parse, names, stale, schema, policies, waivers."""
