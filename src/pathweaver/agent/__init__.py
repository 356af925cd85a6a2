"""The domain as data: agent config, pathway, validation, files. No I/O beyond files."""
