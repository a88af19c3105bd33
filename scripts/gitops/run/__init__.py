"""The run: its context, the one sequencer, where objects come from, and the stages."""
