"""Tests of the strategy's two phases (apply fills, decide), the simulated executor and snapshots."""
