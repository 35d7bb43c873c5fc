"""Notices to the sender (email) and events for the operator (webhook), issue #12.

The storage queues a notice in the same atomic step that spends a view, burns
or expires a secret (storage/base.py); ``worker`` delivers the queue in the
background, in a uWSGI mule that ``mayfly serve`` starts when notices are
configured; ``mail`` and ``webhook`` are the two ways out.
"""
