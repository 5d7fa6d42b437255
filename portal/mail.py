"""Emails in development: each one a file of its own under EMAIL_FILE_PATH."""

import os
import uuid
from collections.abc import Sequence
from datetime import datetime

from django.core.mail import EmailMessage
from django.core.mail.backends import filebased


class MessageFileBackend(filebased.EmailBackend):
    """Django's file backend writes a file per connection, named by the second and the
    backend object's id(), and appends to it: two emails sent in the same second by backends
    at the same address (one freed, the next made) shared a file, where the newest file showed
    only the first. Here each email gets a new file, whatever the connection."""

    def open(self) -> bool:
        return False  # nothing to open ahead: a file is made for each message

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        sent = 0
        with self._lock:
            for message in email_messages:
                name = f"{datetime.now():%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:12]}.log"
                with open(os.path.join(self.file_path, name), "xb") as self.stream:
                    self.write_message(message)
                sent += 1
            self.stream = None
        return sent
