"""Drills: rehearse partitions, kills and couriers on real local nodes, then check invariants."""
