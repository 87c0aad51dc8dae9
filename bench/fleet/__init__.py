"""A factory of stations: every station's records forwarded into one PostgreSQL database.

The station's HDF5 store stays the source of truth; `bench sync` (bench.fleet.forwarder) sends
what the server has not acknowledged, and the views in bench.fleet.queries answer yield,
first-pass yield, failure causes, IL per position, retests and SUSPECT records fleet-wide.
Guide: docs/fleet.md. Needs the `fleet` extra (psycopg 3).
"""
