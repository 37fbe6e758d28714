// Waits for the app's approval and continues by itself; without JavaScript the Continue button works.
(function () {
  'use strict';
  var form = document.getElementById('app-finish');
  if (!form) return;
  var tx = form.dataset.tx;
  function poll() {
    fetch('/login/app/status?tx=' + encodeURIComponent(tx), { credentials: 'same-origin' })
      .then(function (r) { return r.json(); })
      .then(function (s) { if (s.status === 'pending') setTimeout(poll, 500); else form.submit(); })
      .catch(function () { setTimeout(poll, 1000); });
  }
  setTimeout(poll, 500);
})();
