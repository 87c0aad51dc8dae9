// Plant today, live: every data-refresh-s seconds fetch this same page again and swap in its
// #live section. The new section comes from our own server, already escaped; DOMParser does not
// run scripts, and the page's Content-Security-Policy only allows this file.
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live) { return; }
  var period = Math.max(1, parseInt(live.getAttribute("data-refresh-s"), 10) || 10) * 1000;
  function refresh() {
    fetch(window.location.href, { cache: "no-store", credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (text) {
        if (text === null) { return; }
        var fresh = new DOMParser().parseFromString(text, "text/html").getElementById("live");
        var current = document.getElementById("live");
        if (fresh && current) { current.replaceWith(document.importNode(fresh, true)); }
      })
      .catch(function () { /* the server is away; try again next period */ })
      .then(function () { window.setTimeout(refresh, period); });
  }
  window.setTimeout(refresh, period);
})();
