"""The routing benchmark: labelled conversations over nine pathways (see bench/routing/README.md)."""
