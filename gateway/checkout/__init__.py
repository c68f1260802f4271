"""The hosted checkout: what shoppers see.

* ``/pay/{id}`` -- the cashier page (:mod:`.pages`): merchant, subject, amount, countdown, pay methods
  suited to the shopper's browser (:mod:`.agent`): QR codes on a desktop, H5/WAP redirects on a phone,
  JSAPI inside WeChat (after the OAuth2 openid flow, :mod:`.oauth`), WAP inside Alipay;
* ``/pay/{id}/scan`` -- the aggregated code: one QR that continues in whichever app scanned it;
* ``/pay/{id}/status`` -- tiny JSON with ETag/304 and long-poll (:mod:`.status`), fed by the StatusBus;
* ``/l/{slug}`` -- reusable payment links and their printable posters (:mod:`.links`).

Pages carry a strict CSP with a per-request nonce (:mod:`.security`); nothing about a payment's state is
taken from a query parameter -- the page always shows our own records.
"""
