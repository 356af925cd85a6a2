"""Pathweaver: a self-hosted server for conversational AI agents built as pathways."""

__version__ = "0.1.0"
