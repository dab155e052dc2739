// Live updates for the plurictl dashboard (pages work without this file).
// Listens to /events (server-sent events); on each ledger change it fetches the
// same page's main part and swaps it in. Countdowns tick once a second.
(function () {
  "use strict";
  var main = document.getElementById("main");
  var state = document.getElementById("live-state");
  var body = document.body;
  var serverNow = parseInt(body.getAttribute("data-now-ms") || "0", 10);
  var skew = serverNow ? serverNow - Date.now() : 0;

  function fmt(seconds) {
    seconds = Math.max(0, Math.round(seconds));
    if (seconds >= 3600) { return Math.floor(seconds / 3600) + " h " + String(Math.floor(seconds % 3600 / 60)).padStart(2, "0") + " min left"; }
    if (seconds >= 60) { return Math.floor(seconds / 60) + " min " + String(seconds % 60).padStart(2, "0") + " s left"; }
    return seconds + " s left";
  }
  function tick() {
    var now = Date.now() + skew;
    var items = document.querySelectorAll("[data-until-ms]");
    for (var i = 0; i < items.length; i++) {
      var until = parseInt(items[i].getAttribute("data-until-ms"), 10);
      items[i].textContent = fmt((until - now) / 1000);
    }
  }
  setInterval(tick, 1000);
  if (!main || !window.EventSource || !window.fetch) { return; }

  var busy = false, again = false;
  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    fetch(location.pathname + location.search, { headers: { "X-Partial": "1" }, credentials: "same-origin", cache: "no-store" })
      .then(function (r) {
        if (!r.ok) { throw new Error("HTTP " + r.status); }
        var version = r.headers.get("X-Version");
        return r.text().then(function (html) {
          main.innerHTML = html;
          if (version) { main.setAttribute("data-version", version); }
          if (state) { state.textContent = "Live: updated " + new Date().toLocaleTimeString(); }
          tick();
        });
      })
      .catch(function () { if (state) { state.textContent = "Live updates paused (reload the page)."; } })
      .then(function () { busy = false; if (again) { again = false; refresh(); } });
  }
  var source = new EventSource("/events");
  source.addEventListener("hello", function () { if (state) { state.textContent = "Live."; } });
  source.addEventListener("update", refresh);
  source.onerror = function () { if (state) { state.textContent = "Reconnecting…"; } };
})();
