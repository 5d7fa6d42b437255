"""The signup webhook: events (body, signature) and their delivery with retries."""
