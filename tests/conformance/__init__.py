"""Independent client libraries from PyPI against the sandboxes as the gateway mounts them."""
