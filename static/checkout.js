// The checkout page's only script: a countdown, a long-poll of /status, and (inside WeChat) the JSAPI
// call. Plain JS, no framework, no inline handlers -- the CSP allows this file by nonce and nothing else.
(function () {
  "use strict";
  var main = document.getElementById("checkout");
  if (!main || main.getAttribute("data-state") !== "pending") { return; }
  var statusUrl = main.getAttribute("data-status-url");
  var deadline = Date.now() + 1000 * parseInt(main.getAttribute("data-remaining"), 10);
  var clock = document.getElementById("countdown");
  var line = document.getElementById("status");
  var texts = document.getElementById("texts");

  function tick() {
    var left = Math.max(0, Math.round((deadline - Date.now()) / 1000));
    if (clock) { clock.textContent = Math.floor(left / 60) + ":" + ("0" + (left % 60)).slice(-2); }
    if (left === 0) { window.location.reload(); return; }  // the server says "expired"
    window.setTimeout(tick, 1000);
  }

  var etag = '"pending"';
  function poll() {
    fetch(statusUrl + "?wait=25", { headers: { "If-None-Match": etag }, cache: "no-store", credentials: "omit" })
      .then(function (r) {
        if (r.status === 304) { poll(); return; }
        if (!r.ok) { throw new Error("status " + r.status); }
        etag = r.headers.get("ETag") || etag;
        return r.json().then(function (body) {
          if (body.status === "pending") { poll(); return; }
          if (line && texts) { line.textContent = texts.getAttribute("data-" + body.status) || body.status; }
          window.location.reload();  // the server renders the outcome and the way back
        });
      })
      .catch(function () { window.setTimeout(poll, 2000); });
  }

  var payNow = document.getElementById("pay-now");
  var params = document.getElementById("jsapi-params");
  if (payNow && params && payNow.tagName === "BUTTON") {
    payNow.addEventListener("click", function () {
      if (!window.WeixinJSBridge) { return; }
      window.WeixinJSBridge.invoke("getBrandWCPayRequest", JSON.parse(params.textContent), function () {
        poll();  // the bridge's answer is a hint; the status endpoint tells what happened
      });
    });
  }

  tick();
  poll();
})();
