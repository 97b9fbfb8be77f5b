"""Flows: what crosses domains, sequenced in one place.

Each flow calls the services of the domains it touches, in order, inside the caller's
unit of work; none commits (the request, job run or command does, at its edge).
"""
