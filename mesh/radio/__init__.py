"""The narrowband bridge: the ledger over LoRa, packet radio and serial links.

Layers, from the air up (guide: ``field_guides/radio.md``):

* the protocol core, pure and I/O-free: :mod:`~mesh.radio.wire` (frames and
  records), :mod:`~mesh.radio.compact` (entries made small, rebuilt byte for
  byte), :mod:`~mesh.radio.crypto` (pair keys from the roster, sealed and clear
  frames, replay windows), :mod:`~mesh.radio.summary` (digest, bucket digests,
  compact heads), :mod:`~mesh.radio.priority` (what goes first),
  :mod:`~mesh.radio.budget` (airtime never exceeded), :mod:`~mesh.radio.arq`
  (segments, selective acknowledgement, retry);
* :mod:`~mesh.radio.session` and :mod:`~mesh.radio.station`: the conversation
  with each station heard, sans I/O; what a peer lacks is decided by the same
  frontier plan as the mesh and courier bundles (:func:`ledger.courier.frontier.plan`);
* :mod:`~mesh.radio.ledger_port`: the only contact with the store; entries from
  the air go through the store's verified ingest;
* links: :mod:`~mesh.radio.kiss` (KISS TNCs, serial), :mod:`~mesh.radio.meshtastic_link`,
  :mod:`~mesh.radio.sim` / :mod:`~mesh.radio.simhub` / :mod:`~mesh.radio.simnet`
  (the link simulator: simulated clock for tests, real time for drills);
* :mod:`~mesh.radio.bridge`: the ``plurictl radio up`` process.
"""
