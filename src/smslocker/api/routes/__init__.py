"""One router per file; :func:`smslocker.api.app.create_app` includes them all."""
