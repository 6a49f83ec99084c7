"""Scripts that train the bundled feature networks and convert external weights."""
