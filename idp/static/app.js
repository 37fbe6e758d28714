// The app's page follows its pending request by itself: it asks /app/status every two seconds and
// reloads when the request waiting for this device changes (a new one, or one answered elsewhere),
// and counts down the seconds left; a request whose time ran out is taken off the page and the
// person is told. Without JavaScript the Refresh button does the same.
(function () {
  'use strict';
  var box = document.getElementById('app-requests');
  if (!box) return;
  var shown = box.dataset.requestTag || '';
  var left = document.getElementById('time-left');
  var seconds = left ? parseInt(left.textContent, 10) || 0 : 0;
  var tick = null;

  function show(n) {
    seconds = Math.max(0, n);
    if (!left) return;
    left.textContent = String(seconds);
    left.setAttribute('datetime', 'PT' + seconds + 'S');
  }

  // The time ran out: the request leaves the page, and the live region says why.
  function expire() {
    if (tick) { clearInterval(tick); tick = null; }
    var section = document.getElementById('request');
    var hadFocus = section && section.contains(document.activeElement);
    if (section) section.parentNode.removeChild(section);
    shown = '';
    left = null;
    var live = document.getElementById('app-live');
    if (live) live.textContent = box.dataset.expired || '';
    var refresh = document.getElementById('app-refresh');
    if (refresh) {
      refresh.hidden = false;
      if (hadFocus) refresh.querySelector('a').focus();
    }
  }

  if (shown && left) {
    tick = setInterval(function () {
      show(seconds - 1);
      if (seconds === 0) expire();
    }, 1000);
  }

  function later(ms) { setTimeout(poll, ms); }

  function poll() {
    fetch('/app/status', { credentials: 'same-origin', cache: 'no-store' })
      .then(function (r) {
        if (r.status === 401) { window.location.reload(); return undefined; }
        return r.ok ? r.json() : null;
      })
      .then(function (s) {
        if (s === undefined) return;
        if (s === null) { later(4000); return; }
        var now = s.request || '';
        if (now === shown) {
          // The server's clock decides: the countdown never shows more than it has left.
          if (shown && typeof s.seconds_left === 'number' && s.seconds_left < seconds) {
            show(s.seconds_left);
          }
          later(2000);
        } else if (!now && shown && seconds <= 2) {
          // Gone at the end of its time: expired, told here rather than by a reload.
          expire();
          later(2000);
        } else {
          window.location.reload();
        }
      })
      .catch(function () { later(4000); });
  }
  later(2000);
})();
