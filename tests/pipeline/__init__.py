"""Test package. Import shared helpers as `from tests.conftest import require` and sibling helpers
relatively (`from .helpers import x`): several conftest.py exist, so `from conftest import ...` is
ambiguous and breaks."""
