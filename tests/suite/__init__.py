"""Tests of the suite as CI and app developers use it: serve all, the container image, the pytest plugin."""
