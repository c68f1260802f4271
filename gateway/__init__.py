"""A self-hosted payment gateway for Chinese payment channels."""
