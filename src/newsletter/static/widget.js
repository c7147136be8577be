/* Bản tin footer box: submit in place (JSON) and show the answer inside the box.
 * Without this script, or when the request cannot be made (CORS not allowed, network),
 * the form falls back to a plain POST and the service answers with a full page. */
(function () {
  "use strict";

  var script = document.currentScript;
  var base = script && script.src ? script.src.replace(/\/static\/widget\.js(\?.*)?$/, "") : "";

  function showStatus(form, text, isError) {
    var status = form.querySelector(".bantin-status");
    if (!status) { return; }
    status.textContent = text;
    status.classList.toggle("bantin-status-error", !!isError);
  }

  function collect(form) {
    var data = { categories: [] };
    var elements = form.elements;
    for (var i = 0; i < elements.length; i++) {
      var el = elements[i];
      if (!el.name || el.disabled) { continue; }
      if (el.type === "checkbox") {
        // Every checkbox group (categories, areas) as a list under its own name.
        if (el.checked) { (data[el.name] = data[el.name] || []).push(el.value); }
      } else if (el.type === "radio") {
        if (el.checked) { data[el.name] = el.value; }
      } else if (el.type !== "submit") {
        data[el.name] = el.value;
      }
    }
    return data;
  }

  function bind(form) {
    if (form.getAttribute("data-bantin-bound")) { return; }
    form.setAttribute("data-bantin-bound", "1");
    var source = form.querySelector("input[name=source]");
    if (source) { source.value = window.location.href; }
    if (!window.fetch || !window.JSON) { return; }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var button = form.querySelector("button[type=submit]");
      if (button) { button.disabled = true; }
      showStatus(form, "Đang gửi…", false);
      window.fetch(form.action, {
        method: "POST",
        mode: "cors",
        credentials: "omit",
        headers: { "Content-Type": "application/json", "Accept": "application/json" },
        body: JSON.stringify(collect(form))
      }).then(function (response) {
        return response.json().then(function (body) { return { ok: response.ok, body: body }; });
      }).then(function (result) {
        if (button) { button.disabled = false; }
        var message = result.body && result.body.message;
        if (!message) { throw new Error("no message"); }
        if (result.ok && result.body.suggestion) {
          message += " Có phải bạn muốn nhập " + result.body.suggestion +
            "? Địa chỉ đó đã được điền sẵn: bấm «Đăng ký» nếu đúng.";
        }
        showStatus(form, message, !result.ok);
        if (result.ok) {
          form.reset();
          if (source) { source.value = window.location.href; }
          var email = form.querySelector("input[name=email]");
          if (email && result.body.suggestion) { email.value = result.body.suggestion; }
        } else if (result.body.field) {
          var field = form.querySelector("[name=" + result.body.field + "]");
          if (field) { field.setAttribute("aria-invalid", "true"); field.focus(); }
        }
      }).catch(function () {
        // The JSON path is not available here: send the form the plain way instead.
        if (button) { button.disabled = false; }
        HTMLFormElement.prototype.submit.call(form);
      });
    });
  }

  function loadInto(container) {
    var url = (container.getAttribute("data-bantin-widget") || base).replace(/\/+$/, "") + "/widget";
    window.fetch(url, { mode: "cors", credentials: "omit" })
      .then(function (response) { return response.text(); })
      .then(function (html) {
        container.innerHTML = html;
        var forms = container.querySelectorAll("form[data-bantin-form]");
        for (var i = 0; i < forms.length; i++) { bind(forms[i]); }
      });
  }

  function start() {
    var forms = document.querySelectorAll("form[data-bantin-form]");
    for (var i = 0; i < forms.length; i++) { bind(forms[i]); }
    if (window.fetch) {
      var containers = document.querySelectorAll("[data-bantin-widget]");
      for (var j = 0; j < containers.length; j++) {
        if (!containers[j].querySelector("form")) { loadInto(containers[j]); }
      }
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
