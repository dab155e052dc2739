"""Non-market planner: fuel-constrained multi-period OPF (pandapower + HiGHS).

Imports no sibling package. Importing ``planner`` itself is cheap; pandapower is
imported only where networks are loaded or validated.
"""
