"""Doubles of outside systems: real HTTP servers on loopback that follow the documented APIs."""
