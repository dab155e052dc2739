"""The coordinator dashboard: a local web page over this laptop's ledger (`plurictl dashboard`).

Nothing here is imported when plurictl starts: the web libraries load only when
the dashboard itself starts.
"""
