"""Test support shared by test modules and benchmarks (mock servers, fakes)."""
