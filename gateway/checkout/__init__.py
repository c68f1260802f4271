"""The hosted checkout: what shoppers see.

* ``/pay/{id}`` -- the cashier page (:mod:`.pages`): merchant, subject, amount, countdown, pay methods
  suited to the shopper's browser (:mod:`.agent`): one QR code on a desktop (the aggregated one, or a
  channel's), H5/WAP redirects on a phone, JSAPI inside WeChat (after the OAuth2 openid flow,
  :mod:`.oauth`), WAP inside Alipay; the customer's balance with a merchant-issued token (:mod:`.balance`);
* ``/pay/{id}/scan`` -- the aggregated code: one QR that continues in whichever app scanned it;
* ``/pay/{id}/status`` -- tiny JSON with ETag/304 and long-poll (:mod:`.status`), fed by the StatusBus;
* ``/l/{slug}`` -- reusable payment links (a page with a pay button; never a payment on a GET) and their
  printable SVG posters (:mod:`.link_pages`, :mod:`.poster`).

Pages carry a strict CSP with a per-request nonce (:mod:`.security`), forms a CSRF token bound to the
browser's cookie (:mod:`.browser`); nothing about a payment's state is taken from a query parameter --
the page always shows our own records.
"""
