"""The model port and its implementations."""
