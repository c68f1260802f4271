"""The console fixtures, for the console part of the API-key tests."""
from tests.admin.conftest import consoles  # noqa: F401
