"""Background work, owned by the app and driven by database rows.

:mod:`.runner` is the cleanup context that starts the loops and stops them gracefully; :mod:`.jobs`
holds what each loop does with one due row (expire a payment, sync an attempt or a refund, deliver an
event); :mod:`.schedule` the (time-compressible) schedules. No loop keeps state in memory: due times
and leases live in the rows (see :mod:`gateway.store.leases`), so any number of gateway processes can
run them and a killed process's work is taken over when its leases expire.
"""
