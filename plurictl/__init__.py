"""plurictl: the field operator's command line for the Plurigrid toolkit.

Importing this package must stay cheap (no pandapower, no zmq): ``plurictl --help``
answers in well under half a second on a field laptop.
"""

__version__ = "0.1.0"
