// Forms that ask before acting (send a bulletin, erase a subscriber): a data-confirm
// attribute instead of an inline onsubmit, which the Content-Security-Policy forbids.
document.addEventListener("submit", function (event) {
  var form = event.target;
  var question = form && form.getAttribute && form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) event.preventDefault();
});

// Live campaign progress: poll the JSON every 2 s until the campaign settles.
(function () {
  var box = document.getElementById("progress");
  if (!box) return;
  var url = box.getAttribute("data-url");
  var shown = box.getAttribute("data-status") + "|" + box.getAttribute("data-actions");
  function set(id, value) { var el = document.getElementById(id); if (el) el.textContent = value; }
  function tick() {
    fetch(url, { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (p) {
      var done = p.sent + p.failed + p.skipped;
      var bar = document.getElementById("bar");
      bar.max = p.total || 1; bar.value = done;
      set("status", p.status); set("sent", p.sent); set("total", p.total); set("failed", p.failed);
      set("skipped", p.skipped); set("waiting", p.waiting); set("rate", p.rate ? p.rate.toFixed(1) : "—");
      set("percent", Math.round(done * 100 / (p.total || 1)));
      // A new state (or a first failure) allows other actions: reload to show the right buttons.
      if (p.status + "|" + p.actions.join(" ") !== shown) { window.location.reload(); return; }
      if (p.status === "sending" || p.status === "paused" || p.waiting > 0) setTimeout(tick, 2000);
    }).catch(function () { setTimeout(tick, 5000); });
  }
  setTimeout(tick, 1000);
})();
