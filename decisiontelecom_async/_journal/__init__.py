"""Campaign journals: the record that lets ``send_many`` survive its own process.

:mod:`._base` holds the interface every backend implements and the record
types; :mod:`._sqlite` the embedded SQLite backend; :mod:`._run` wraps the
bulk engine so that a claim is durable before its request leaves.
"""
