"""Payment rails: how a quote gets paid.

``fake`` settles a quote with no money (tests and demos, off unless
``fake_switch`` turns it on); ``stripe_checkout`` opens a Checkout Session and
fulfills it from a verified webhook, talking to Stripe through ``stripe_api``.
Both end in ``credits.fulfillment.grant_for_quote``.
"""
