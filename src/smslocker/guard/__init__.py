"""Guard: rate limits, rental quotas, abuse rules and alerts, renter reports, audit trail.

- :mod:`.counters`: token buckets and sliding windows, in memory or in Redis;
- :mod:`.limits`: API call limits, rental quotas by tier, slow-down;
- :mod:`.rules` and :mod:`.standing`: abuse rules and their escalating actions;
- :mod:`.alerts`: what the rules did, for the operator;
- :mod:`.reports`: renter feedback on numbers that did not work;
- :mod:`.audit`: the hash-chained audit trail (``smslocker audit``, :mod:`.cli`).

This package talks to the store (and the pool's tags and lifecycle); the API glue is
:mod:`smslocker.api.guard`. Nothing is imported here, so that the domain packages that
write audit entries (``accounts``, ``rentals``) can import :mod:`.audit` without
pulling the rest in.
"""
