// Passkey login and enrolment (WebAuthn). The only script on the login pages besides the app wait.
(function () {
  'use strict';
  function b64urlToBuf(s) {
    s = s.replace(/-/g, '+').replace(/_/g, '/');
    while (s.length % 4) s += '=';
    var bin = atob(s), b = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) b[i] = bin.charCodeAt(i);
    return b.buffer;
  }
  function bufToB64url(buf) {
    var b = new Uint8Array(buf), s = '';
    for (var i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
    return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }
  function clean(o) {
    if (Array.isArray(o)) return o.map(clean);
    if (o && typeof o === 'object') {
      var r = {};
      Object.keys(o).forEach(function (k) { if (o[k] !== null && o[k] !== undefined) r[k] = clean(o[k]); });
      return r;
    }
    return o;
  }
  function decodeOptions(pk) {
    pk = clean(pk);
    pk.challenge = b64urlToBuf(pk.challenge);
    if (pk.user) pk.user.id = b64urlToBuf(pk.user.id);
    ['allowCredentials', 'excludeCredentials'].forEach(function (l) {
      if (pk[l]) pk[l] = pk[l].map(function (c) { return Object.assign({}, c, { id: b64urlToBuf(c.id) }); });
    });
    return pk;
  }
  function encodeCredential(c) {
    var r = c.response;
    var out = { id: c.id, rawId: bufToB64url(c.rawId), type: c.type, extensions: {},
                response: { clientDataJSON: bufToB64url(r.clientDataJSON) } };
    if (r.authenticatorData) {
      out.response.authenticatorData = bufToB64url(r.authenticatorData);
      out.response.signature = bufToB64url(r.signature);
      out.response.userHandle = r.userHandle ? bufToB64url(r.userHandle) : null;
    }
    if (r.attestationObject) {
      out.response.attestationObject = bufToB64url(r.attestationObject);
      out.response.transports = r.getTransports ? r.getTransports() : [];
    }
    return out;
  }
  function showError(msg) {
    var e = document.getElementById('passkey-error');
    if (e) { e.textContent = msg; e.hidden = false; e.focus(); }
  }
  function postJson(url, body) {
    return fetch(url, { method: 'POST', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) })
      .then(function (r) {
        return r.json().then(function (j) {
          // A change that needs a new login: go to the step-up login the server started.
          if (!r.ok && j.redirect) { window.location.assign(j.redirect); return new Promise(function () {}); }
          if (!r.ok) throw new Error(j.message || r.status);
          return j;
        });
      });
  }
  if (!window.PublicKeyCredential) return;
  var login = document.getElementById('passkey-login');
  if (login) {
    login.hidden = false;
    login.addEventListener('click', function () {
      var tx = login.dataset.tx, csrf = login.dataset.csrf;
      fetch('/login/passkey/options?tx=' + encodeURIComponent(tx), { credentials: 'same-origin' })
        .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
        .then(function (opts) { return navigator.credentials.get({ publicKey: decodeOptions(opts.publicKey) }); })
        .then(function (cred) { return postJson('/login/passkey', { tx: tx, csrf: csrf, credential: encodeCredential(cred) }); })
        .then(function (res) { window.location.assign(res.redirect); })
        .catch(function (err) { showError(String(err && err.message || err)); });
    });
  }
  var reg = document.getElementById('passkey-register');
  if (reg) {
    reg.hidden = false;
    reg.addEventListener('click', function () {
      var csrf = reg.dataset.csrf;
      postJson('/account/passkey/options', { csrf: csrf })
        .then(function (opts) { return navigator.credentials.create({ publicKey: decodeOptions(opts.publicKey) }); })
        .then(function (cred) { var name = document.getElementById('passkey-label');
          return postJson('/account/passkey', { csrf: csrf, label: name ? name.value : '', credential: encodeCredential(cred) }); })
        .then(function (res) { window.location.assign(res.redirect); })
        .catch(function (err) { showError(String(err && err.message || err)); });
    });
  }
})();
