"""Test helpers shared by every test folder: one of each.

* :mod:`.net` -- a free local port;
* :mod:`.waiting` -- the one poller, :func:`~.waiting.eventually`;
* :mod:`.receiver` -- a real local HTTP server that records what it receives (webhooks, channel callbacks);
* :mod:`.forge` -- channel callbacks built from the channel's side with the sandbox's keys;
* :mod:`.paying` -- the only reader of a payment's pay data: the sandbox page a shopper's phone opens, and
  pressing its button.
"""
