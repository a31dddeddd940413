"""Tests of the shared foundation."""
