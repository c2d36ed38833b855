// Live updates for the explorer's pages (API.md §9), a few lines of plain
// JavaScript: the server-sent events of /explorer/events/ say when the node
// took a block or a transaction; a page that shows what changed is fetched
// again and its <main> swapped in, at most twice a second. The browser
// reconnects by itself after the node restarts (the stream's `retry:`);
// should it give up, this starts again, waiting longer each time. Without
// JavaScript the pages are whole as served.
(function () {
  "use strict";
  var body = document.body;
  var wanted = (body.getAttribute("data-live") || "").split(" ").filter(Boolean);
  if (!wanted.length || !window.EventSource || !window.fetch || !window.DOMParser) return;
  var badge = document.getElementById("live");
  var last = 0, timer = null, busy = false, again = false, wait = 1000;

  function show(on, text) {
    if (!badge) return;
    badge.className = on ? "live on" : "live";
    badge.textContent = text;
  }

  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    last = Date.now();
    fetch(location.href, { cache: "no-store", headers: { Accept: "text/html" } })
      .then(function (r) { if (!r.ok) throw new Error(String(r.status)); return r.text(); })
      .then(function (text) {
        var doc = new DOMParser().parseFromString(text, "text/html");
        var fresh = doc.getElementById("main");
        var main = document.getElementById("main");
        if (fresh && main) main.replaceWith(document.importNode(fresh, true));
        body.setAttribute("data-tip", doc.body.getAttribute("data-tip") || "");
      })
      .catch(function () { /* the next event tries again */ })
      .then(function () {
        busy = false;
        if (again) { again = false; soon(); }
      });
  }

  function soon() {
    if (timer) return;
    timer = setTimeout(function () { timer = null; refresh(); },
      Math.max(0, last + 500 - Date.now()));
  }

  function connect() {
    var source = new EventSource("/explorer/events/");
    source.addEventListener("open", function () { wait = 1000; show(true, "live"); });
    source.addEventListener("block", function (e) {
      var tip = "";
      try { tip = JSON.parse(e.data).hash; } catch (err) { return; }
      if (wanted.indexOf("block") >= 0 && tip !== body.getAttribute("data-tip")) soon();
    });
    source.addEventListener("transaction", function () {
      if (wanted.indexOf("transaction") >= 0) soon();
    });
    source.addEventListener("error", function () {
      show(false, "reconnecting…");
      if (source.readyState === EventSource.CLOSED) {
        source.close();
        setTimeout(connect, wait);
        wait = Math.min(wait * 2, 30000);
      }
    });
  }

  show(false, "connecting…");
  connect();
})();
