"""Share links and the typed settings they carry."""
