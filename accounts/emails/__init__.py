"""The emails people receive from the portal, in three parts:

- messages: what each email says, built from the templates under templates/emails/;
- outbox: which email an account gets, handed to the mail server at most once (EmailDelivery);
- smtp: the handing over itself, on one mail server connection per worker process;

and requests: the emails a person asks for (a new verification link, a password reset).
"""
