"""HTTP only: the app factory, routes, auth, error mapping."""
