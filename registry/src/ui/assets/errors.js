// Records uncaught errors and unhandled rejections in window.__uiErrors,
// so browser tests (and anyone in the console) can see what went wrong.
(function () {
  window.__uiErrors = [];
  window.addEventListener('error', function (e) {
    window.__uiErrors.push(String(e.message || e.error || e));
  });
  window.addEventListener('unhandledrejection', function (e) {
    var r = e.reason;
    window.__uiErrors.push('unhandled rejection: ' + String((r && (r.stack || r.message)) || r));
  });
})();
