// Lettuce web app: the only script besides htmx. Copy buttons
// (`data-copy="<element id>"`). Everything works without it.
"use strict";
document.addEventListener("click", function (event) {
  var button = event.target.closest("[data-copy]");
  if (!button) return;
  var target = document.getElementById(button.getAttribute("data-copy"));
  if (!target) return;
  var text = "value" in target ? target.value : target.textContent;
  var done = function () {
    var label = button.textContent;
    button.textContent = "Copied";
    setTimeout(function () { button.textContent = label; }, 1500);
  };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done, function () { target.select && target.select(); });
  } else if (target.select) {
    target.select();
    try { document.execCommand("copy"); done(); } catch (e) { /* selected for manual copy */ }
  }
});
