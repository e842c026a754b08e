// figsync dashboard: the little that htmx does not do by itself.
(function () {
  "use strict";

  // Live job rows (Jobs page): a changed job replaces its row; a new one is prepended by the
  // SSE extension (hx-swap="afterbegin") unless it does not match the page's filter.
  document.addEventListener("htmx:sseBeforeMessage", function (event) {
    var target = event.target;
    if (!target || target.id !== "job-rows") return;
    var template = document.createElement("template");
    template.innerHTML = "<table><tbody>" + event.detail.data + "</tbody></table>";
    var row = template.content.querySelector("tr");
    if (!row) return;
    var existing = document.getElementById(row.id);
    var matches = row.getAttribute("data-matches") !== "no";
    if (existing) {
      event.preventDefault();
      if (matches) {
        existing.replaceWith(row);
        htmx.process(row);
      } else {
        existing.remove();
      }
    } else if (!matches) {
      event.preventDefault();
    } else {
      var empty = document.querySelector("#jobs .empty");
      if (empty) empty.remove();
      var total = document.querySelector("#jobs [data-total]");
      if (total) total.textContent = String(Number(total.textContent) + 1);
    }
  });

  // The live indicator: whether the page's event stream is connected.
  document.addEventListener("htmx:sseOpen", function () { document.body.dataset.live = "open"; });
  document.addEventListener("htmx:sseError", function () { document.body.dataset.live = "lost"; });

  // A revoked or expired session ends the stream: go sign in again.
  document.addEventListener("htmx:sseMessage", function (event) {
    if (event.detail && event.detail.type === "signed-out") window.location.assign("/signin");
  });

  // Copy buttons: data-copy="text" or data-copy-from="element id".
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy], [data-copy-from]");
    if (!button) return;
    var text = button.getAttribute("data-copy");
    if (text === null) {
      var source = document.getElementById(button.getAttribute("data-copy-from"));
      text = source ? source.textContent : "";
    }
    var done = function () {
      var label = button.textContent;
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = label; }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done);
    } else {
      var area = document.createElement("textarea");
      area.value = text;
      document.body.appendChild(area);
      area.select();
      document.execCommand("copy");
      area.remove();
      done();
    }
  });

  // A file input with data-fills="textarea id" puts the chosen file's text there (a CSV of
  // assignees); the server checks it when the form is saved.
  document.addEventListener("change", function (event) {
    var input = event.target.closest("input[type=file][data-fills]");
    if (!input || !input.files || !input.files[0]) return;
    var target = document.getElementById(input.getAttribute("data-fills"));
    if (target) input.files[0].text().then(function (text) { target.value = text; });
  });
})();
