"""The runtime: a turn as a bounded loop over the pathway, yielding events. No HTTP, no SQL."""
