"""Who may do what and the station's secrets: roles, users and tokens, the login throttle, template keys, the
station CA and TLS, atomic and private (0600) files."""
