"""What happens around a session: the end-of-session pipeline and webhook deliveries."""
