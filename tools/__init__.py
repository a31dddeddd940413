"""Build-time scripts of the repository (code generation); nothing at runtime imports them."""
