"""The channel contract suite: one set of tests that every channel passes, through a small driver per
channel (``drivers/``). A new channel adds a driver and one line in ``drivers/__init__.py``."""
