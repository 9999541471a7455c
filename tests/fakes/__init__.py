"""Fakes of third parties nobody can reach from tests: real HTTP servers on 127.0.0.1."""
