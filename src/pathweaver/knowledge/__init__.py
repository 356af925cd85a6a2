"""Knowledge bases: datasets -> text -> chunks -> embeddings -> search."""
