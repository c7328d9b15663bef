/* One request at a time per poll: the gate behind deepling/web/polling.py.
 *
 * A dcc.Interval whose callback answers slower than its interval never shows an answer:
 * every tick asks again, and Dash drops the answer of a callback asked again while it
 * runs. On a loaded server every progress bar then stays at its first words ("starting…").
 * So an Interval ticks a Store instead (polling.ticks), through Deepling.pollGate, which
 * lets a tick through only when no request of that poll is on its way: the poll asks
 * again after the answer, never over it. A request out for STALE_MS lets the next tick
 * through anyway (a lost answer must not stop the poll).
 */
(function () {
  "use strict";
  var STALE_MS = 30000;
  var out = {};  // "<poll>-tick.data" -> when its request left
  var send = window.fetch;

  function ticks(url, init) {
    if (String(url).indexOf("_dash-update-component") < 0 || !init || typeof init.body !== "string") return [];
    try {
      var ids = JSON.parse(init.body).changedPropIds || [];
      return ids.filter(function (p) { return /-tick\.data$/.test(p); });
    } catch (e) {
      return [];
    }
  }

  window.fetch = function (url, init) {
    var mine = ticks(url, init);
    var request = send.apply(this, arguments);
    if (mine.length) {
      var now = Date.now();
      mine.forEach(function (p) { out[p] = now; });
      // open the gate once the answer is read and Dash has had its turn to apply it
      var open = function () {
        setTimeout(function () { mine.forEach(function (p) { if (out[p] === now) delete out[p]; }); }, 50);
      };
      request.then(function (r) { return r.clone().text().then(open, open); }, open);
    }
    return request;
  };

  window.Deepling = window.Deepling || {};
  window.Deepling.pollGate = function (tick, n) {
    var since = out[tick + ".data"];
    if (since !== undefined && Date.now() - since < STALE_MS) return window.dash_clientside.no_update;
    return n;
  };
})();
