// Waits for the app's approval and continues by itself, and counts down the seconds left; without
// JavaScript the Continue button (in <noscript>) works.
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
  // The countdown the server rendered, counted down once a second.
  var left = document.getElementById('time-left');
  if (left) {
    var seconds = parseInt(left.textContent, 10);
    var tick = setInterval(function () {
      seconds = Math.max(0, seconds - 1);
      left.textContent = String(seconds);
      left.setAttribute('datetime', 'PT' + seconds + 'S');
      if (seconds === 0) clearInterval(tick);
    }, 1000);
  }
})();
