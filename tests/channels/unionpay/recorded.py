"""Payloads recorded from UnionPay's test environment, as published in public integrations' tests.

``TEST_ENV_NOTIFY`` is a genuine consume notify (backUrl) of test merchant 777290058167151, signed by
UnionPay's test signing certificate (issuer "CFCA TEST OCA1"); it appears in yansongda/pay's
``tests/Plugin/Unipay/Open/CallbackPluginTest.php``. Its signature was made by UnionPay, not by us: it
checks our reading of the 5.1.0 sign rule (sorted fields, SHA-256 hex, SHA256withRSA) against the real thing.
"""
from __future__ import annotations

_CERT = "\r\n".join([
    "-----BEGIN CERTIFICATE-----",
    "MIIEYzCCA0ugAwIBAgIFEDkwhTQwDQYJKoZIhvcNAQEFBQAwWDELMAkGA1UEBhMC",
    "Q04xMDAuBgNVBAoTJ0NoaW5hIEZpbmFuY2lhbCBDZXJ0aWZpY2F0aW9uIEF1dGhv",
    "cml0eTEXMBUGA1UEAxMOQ0ZDQSBURVNUIE9DQTEwHhcNMjAwNzMxMDExOTE2WhcN",
    "MjUwNzMxMDExOTE2WjCBljELMAkGA1UEBhMCY24xEjAQBgNVBAoTCUNGQ0EgT0NB",
    "MTEWMBQGA1UECxMNTG9jYWwgUkEgT0NBMTEUMBIGA1UECxMLRW50ZXJwcmlzZXMx",
    "RTBDBgNVBAMMPDA0MUA4MzEwMDAwMDAwMDgzMDQwQOS4reWbvemTtuiBlOiCoeS7",
    "veaciemZkOWFrOWPuEAwMDAxNjQ5NTCCASIwDQYJKoZIhvcNAQEBBQADggEPADCC",
    "AQoCggEBAMHNa81t44KBfUWUgZhb1YTx3nO9DeagzBO5ZEE9UZkdK5+2IpuYi48w",
    "eYisCaLpLuhrwTced19w2UR5hVrc29aa2TxMvQH9s74bsAy7mqUJX+mPd6KThmCr",
    "t5LriSQ7rDlD0MALq3yimLvkEdwYJnvyzA6CpHntP728HIGTXZH6zOL0OAvTnP8u",
    "RCHZ8sXJPFUkZcbG3oVpdXQTJVlISZUUUhsfSsNdvRDrcKYY+bDWTMEcG8ZuMZzL",
    "g0N+/spSwB8eWz+4P87nGFVlBMviBmJJX8u05oOXPyIcZu+CWybFQVcS2sMWDVZy",
    "sPeT3tPuBDbFWmKQYuu+gT83PM3G6zMCAwEAAaOB9DCB8TAfBgNVHSMEGDAWgBTP",
    "cJ1h6518Lrj3ywJA9wmd/jN0gDBIBgNVHSAEQTA/MD0GCGCBHIbvKgEBMDEwLwYI",
    "KwYBBQUHAgEWI2h0dHA6Ly93d3cuY2ZjYS5jb20uY24vdXMvdXMtMTQuaHRtMDkG",
    "A1UdHwQyMDAwLqAsoCqGKGh0dHA6Ly91Y3JsLmNmY2EuY29tLmNuL1JTQS9jcmw3",
    "NTAwMy5jcmwwCwYDVR0PBAQDAgPoMB0GA1UdDgQWBBTmzk7XEM/J/sd+wPrMils3",
    "9rJ2/DAdBgNVHSUEFjAUBggrBgEFBQcDAgYIKwYBBQUHAwQwDQYJKoZIhvcNAQEF",
    "BQADggEBAJLbXxbJaFngROADdNmNUyVxPtbAvK32Ia0EjgDh/vjn1hpRNgvL4flH",
    "NsGNttCy8afLJcH8UnFJyGLas8v/P3UKXTJtgrOj1mtothv7CQa4LUYhzrVw3UhL",
    "4L1CTtmE6D1Kf3+c2Fj6TneK+MoK9AuckySjK5at6a2GQi18Y27gVF88Nk8bp1lJ",
    "vzOwPKd8R7iGFotuF4/8GGhBKR4k46EYnKCodyIhNpPdQfpaN5AKeS7xeLSbFvPJ",
    "HYrtBsI48jUK/WKtWBJWhFH+Gty+GWX0e5n2QHXHW6qH62M0lDo7OYeyBvG1mh9u",
    "Q0C300Eo+XOoO4M1WvsRBAF13g9RPSw=",
    "-----END CERTIFICATE-----",
])

TEST_ENV_NOTIFY: dict[str, str] = {
    "accNo": "ORRSXWY1kMr8UJNxGx9xKPuO0Uhm8JT8aQV3sWswJfIsj/grkjauH4soyAtiqB9XwQotZOwmUAs/pkMupUkfiX9npdFGGEUEc5gq"
             "q+lcEwyD7tLmd2WBzRvcEvvjAKMKwTCFDxmQbIrP48ocIVhPoZ87ZQtQM5MIyJYedrzPRlt6BzRddUPGU1gJwDA8APDx3iyNl8EA"
             "fenJw7DUDZimmhbE1VSRmQm/iqgJurI7juq/6ztDHZHv4ys1eN9JYkwhcKxCjsWpwXTSy0PGvDXhsAZsDuNXHsjI8JLhHXvTDaU2"
             "+gc289LZPiwpr4Ah/reIuPWrIHubchYm2XTqQlUAaw==",
    "accessType": "0",
    "bizType": "000201",
    "currencyCode": "156",
    "encoding": "utf-8",
    "exchangeRate": "0",
    "merId": "777290058167151",
    "orderId": "yansongda20220908132206",
    "queryId": "782209081322060674028",
    "respCode": "00",
    "respMsg": "success",
    "settleAmt": "1",
    "settleCurrencyCode": "156",
    "settleDate": "0908",
    "signMethod": "01",
    "signPubKeyCert": _CERT,
    "signature": "JeA4S2+6TbGo9yjXDUvV5A2E3oJbunoCcZ66exN6xR3OH/5PNDK1VSV1Mq7XhVdxzkTeREUveiOYHalqoagRkh71nsHVvruwGbk6"
                 "azygXSaawuO5tF67UIqNd4Mbufwh1KhbVpEkKbOETUvRhFcdon0fulE97I83eMSk52INHt8E1xk8NdbhyUadSlp+Uv30AKx70PpQ"
                 "bTGmVS3PJfd+Whj0b7LnvZKeC+BS1kUOtIKlcZO+gBoTigvCIJqj51kBrcBCs+x+VaeGm7EYBBhGSERpfQhQ4n+eJBwLdBeZ0/dN"
                 "bo3iELjvVMx0n9KoW4klvUJhaH5LALA8pV02SbZv4Q==",
    "traceNo": "067402",
    "traceTime": "0908132206",
    "txnAmt": "1",
    "txnSubType": "01",
    "txnTime": "20220908132206",
    "txnType": "01",
    "version": "5.1.0",
}
