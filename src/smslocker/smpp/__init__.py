"""SMPP 3.4 without I/O: PDU codec, framing, text, long-message reassembly, receipts, sessions.

Nothing here touches a socket or a clock: callers feed bytes and pass ``now``
in, and get PDUs, events and deadlines back (see ``../shared/SMPP.md``).
"""
