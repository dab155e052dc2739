"""Peer-to-peer ZeroMQ mesh: CURVE/ZAP admission, anti-entropy sync, discovery, faults."""
