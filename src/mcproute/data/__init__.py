"""Small data files shipped with mcproute (learned routing parameters; see NOTICE for sources)."""
