// storenode staff pages: live updates, scan-first picking, small comforts.
// Plain script, no build step; every page works without it, only less
// smoothly (forms post and the server redirects back).
(function () {
  "use strict";
  var meta = function (name) {
    var m = document.querySelector('meta[name="' + name + '"]');
    return m ? m.getAttribute("content") : "";
  };
  var csrf = meta("csrf");

  // ---- sound: a short beep for a good scan, two low ones for a refusal ----
  var audio = null;
  function beep(ok) {
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      var tones = ok ? [[880, 0, 0.09]] : [[220, 0, 0.15], [220, 0.22, 0.15]];
      tones.forEach(function (t) {
        var o = audio.createOscillator();
        var g = audio.createGain();
        o.frequency.value = t[0];
        o.type = ok ? "sine" : "square";
        g.gain.value = 0.15;
        o.connect(g);
        g.connect(audio.destination);
        o.start(audio.currentTime + t[1]);
        o.stop(audio.currentTime + t[1] + t[2]);
      });
    } catch (e) { /* no sound on this device */ }
  }

  function showResult(ok, text) {
    var slot = document.getElementById("result");
    if (!slot) return;
    slot.textContent = "";
    if (!text) return;
    var p = document.createElement("p");
    p.className = "result " + (ok ? "ok" : "bad");
    p.textContent = text;
    slot.appendChild(p);
  }

  // ---- regions: parts of a page the server re-renders ----
  // Live row updates applied lately, kept so that a region re-rendered
  // from an older log position (a refresh in flight while they came) gets
  // them again: a refresh must never undo a newer live update.
  var recent = [];
  function remember(kind, d) {
    if (!d.seq) return;
    recent.push([kind, d]);
    if (recent.length > 300) recent.shift();
  }

  function swapRegions(regions) {
    Object.keys(regions || {}).forEach(function (name) {
      var old = document.querySelector('[data-region="' + name + '"]');
      if (!old) return;
      var tmp = document.createElement("div");
      tmp.innerHTML = regions[name];
      var fresh = tmp.firstElementChild;
      if (!fresh) return;
      old.replaceWith(fresh);
      var seq = parseInt(fresh.getAttribute("data-seq") || "0", 10);
      recent.forEach(function (r) {
        if (r[1].region === name && r[1].seq > seq) (r[0] === "upsert" ? upsert : remove)(r[1], true);
      });
    });
    wireTabs();
    tickSince();
  }

  // The member is in the middle of something: an open panel, or typing
  // in a field other than the scan field.
  function busy(region) {
    if (region.querySelector("details[open]")) return true;
    var a = document.activeElement;
    return !!(a && region.contains(a) && a.matches("input:not(.scan), select, textarea") && a.value);
  }

  function anyBusy() {
    var regions = document.querySelectorAll("[data-region]");
    for (var i = 0; i < regions.length; i++) {
      if (busy(regions[i])) return true;
    }
    return false;
  }

  var refreshTimer = null;
  function refreshRegions(delay) {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(function () {
      if (!document.querySelector("[data-region]")) return;
      if (anyBusy()) { refreshRegions(2000); return; }
      fetch(location.href, { headers: { "X-Requested-With": "region" }, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (text) {
          // The member may have opened a panel or started typing while
          // this was on its way: try again later rather than undo it.
          if (anyBusy()) { refreshRegions(2000); return; }
          var doc = new DOMParser().parseFromString(text, "text/html");
          var out = {};
          doc.querySelectorAll("[data-region]").forEach(function (el) {
            out[el.getAttribute("data-region")] = el.outerHTML;
          });
          swapRegions(out);
          keepScanFocus();
        })
        .catch(function () { /* the next event or reconnect tries again */ });
    }, delay === undefined ? 300 : delay);
  }

  // Whether every region on the page was rendered from the log at `seq`
  // or later (the answer to one's own action usually is): no refresh.
  function shows(seq) {
    var rs = document.querySelectorAll("[data-region]");
    if (!rs.length) return false;
    for (var i = 0; i < rs.length; i++) {
      if (!(parseInt(rs[i].getAttribute("data-seq") || "0", 10) >= seq)) return false;
    }
    return true;
  }

  // ---- sorted live lists (pick queue, waiting customers) ----
  function listFor(region) {
    var r = document.querySelector('[data-region="' + region + '"]');
    return r ? r.querySelector("ul") : null;
  }

  function countQueue(total) {
    var p = document.getElementById("queue-count");
    if (p && typeof total === "number") {
      p.setAttribute("data-total", total);
      var tpl = p.getAttribute(total === 1 ? "data-template-one" : "data-template") || p.getAttribute("data-template");
      if (tpl) p.textContent = tpl.replace("{n}", total);
    }
  }

  function emptyNote(region, list) {
    var note = document.getElementById(region === "queue" ? "queue-empty" : "waiting-empty");
    if (note) note.hidden = list.children.length > 0;
  }

  function upsert(d, replay) {
    if (!replay) remember("upsert", d);
    var list = listFor(d.region);
    if (!list) return;
    var tmp = document.createElement("div");
    tmp.innerHTML = d.html;
    var item = tmp.firstElementChild;
    if (!item) return;
    var old = document.getElementById(d.id);
    var ticked = old && old.querySelector("input[type=checkbox]:checked");
    if (old) old.remove();
    if (ticked) {
      var box = item.querySelector("input[type=checkbox]");
      if (box) box.checked = true;
    }
    var key = d.key || "";
    var before = null;
    for (var i = 0; i < list.children.length; i++) {
      if ((list.children[i].getAttribute("data-key") || "") > key) { before = list.children[i]; break; }
    }
    list.insertBefore(item, before);
    var limit = parseInt(list.getAttribute("data-limit") || "0", 10);
    while (limit && list.children.length > limit) list.lastElementChild.remove();
    if (d.region === "queue") countQueue(d.total);
    emptyNote(d.region, list);
    tickSince();
    batchCount();
  }

  function remove(d, replay) {
    if (!replay) remember("remove", d);
    var el = document.getElementById(d.id);
    if (el) el.remove();
    var list = listFor(d.region);
    if (!list) return;
    if (d.region === "queue") {
      countQueue(d.total);
      var limit = parseInt(list.getAttribute("data-limit") || "0", 10);
      if (!replay && limit && list.children.length < limit && d.total > list.children.length) refreshRegions();
    }
    emptyNote(d.region, list);
    batchCount();
  }

  // ---- the live feed ----
  // One stream per open page. A page left for another (or frozen in the
  // back-forward cache) closes its stream: browsers allow only six
  // connections to one host, and stale streams would hold them all.
  var es = null;
  window.addEventListener("pagehide", function () {
    if (es) { es.close(); es = null; }
  });
  window.addEventListener("pageshow", function (e) {
    if (e.persisted) { follow(); refreshRegions(0); }
  });
  function follow() {
    var channels = meta("live");
    if (!channels || !window.EventSource || es) return;
    var url = "/live?ch=" + encodeURIComponent(channels) + "&orders=" + encodeURIComponent(meta("live-orders"));
    var mine = meta("live-orders").split(",").filter(Boolean);
    var banner = document.getElementById("conn");
    var lost = false;
    var lostTimer = null;
    es = new EventSource(url);
    var parse = function (e) { try { return JSON.parse(e.data); } catch (x) { return {}; } };
    es.addEventListener("hello", function () {
      clearTimeout(lostTimer);
      if (banner) banner.hidden = true;
      document.body.removeAttribute("data-offline");
      if (lost) { lost = false; refreshRegions(0); }
    });
    es.addEventListener("upsert", function (e) { upsert(parse(e)); });
    es.addEventListener("remove", function (e) { remove(parse(e)); });
    es.addEventListener("refresh", function (e) {
      var d = parse(e);
      if (d.order && mine.indexOf(d.order) < 0) return;
      if (d.seq && shows(d.seq)) return;
      refreshRegions(d.region === "manager" ? 1000 : 300);
    });
    es.addEventListener("reload", function () { refreshRegions(0); });
    es.addEventListener("bye", function () { es.close(); es = null; location.reload(); });
    es.onerror = function () {
      lost = true;
      clearTimeout(lostTimer);
      // A blip is not worth a banner; a lost link is.
      lostTimer = setTimeout(function () {
        if (banner) banner.hidden = false;
        document.body.setAttribute("data-offline", "1");
      }, 1500);
    };
  }

  // ---- forms the script sends itself (scans, shorts, staging) ----
  var queue = [];
  var sending = false;
  function send(form, submitter) {
    var data = new FormData(form, submitter || undefined);
    var action = (submitter && submitter.getAttribute("formaction")) || form.getAttribute("action");
    var buttons = form.querySelectorAll("button");
    buttons.forEach(function (b) { b.disabled = true; });
    return fetch(action, {
      method: "POST",
      body: new URLSearchParams(data),
      credentials: "same-origin",
      headers: { "X-Requested-With": "fetch", "X-CSRF-Token": csrf },
    })
      .then(function (r) {
        return r.json().catch(function () { return { ok: false, message: "HTTP " + r.status }; });
      })
      .then(function (d) {
        if (d.go === "/login") { location.assign("/login?next=" + encodeURIComponent(location.pathname)); return; }
        showResult(d.ok, d.message);
        beep(d.ok);
        if (d.regions && Object.keys(d.regions).length) swapRegions(d.regions);
        else if (d.go && d.ok && d.go !== location.pathname + location.search) location.assign(d.go);
      })
      .catch(function () {
        showResult(false, meta("msg-lost"));
        beep(false);
      })
      .then(function () {
        buttons.forEach(function (b) { b.disabled = false; });
        keepScanFocus();
      });
  }

  function next() {
    if (sending || !queue.length) return;
    sending = true;
    var job = queue.shift();
    send(job[0], job[1]).then(function () { sending = false; next(); });
  }

  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (!(form instanceof HTMLFormElement)) return;
    if (form.hasAttribute("data-fetch") && window.fetch && csrf) {
      e.preventDefault();
      var scan = form.querySelector("input.scan");
      // Scans queue up: a scanner may send the next before this one is
      // answered, and none may be lost.
      if (scan && form.id === "scan-form") {
        if (!scan.value.trim()) return;
        var copy = form.cloneNode(true);
        copy.querySelector("input.scan").value = scan.value;
        scan.value = "";
        queue.push([copy, null]);
      } else {
        queue.push([form, e.submitter]);
      }
      next();
      return;
    }
    // A plain form: no second submit while the first is on its way.
    if ((form.getAttribute("method") || "").toLowerCase() === "post") {
      setTimeout(function () {
        form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = true; });
      }, 0);
    }
  });

  // ---- the scan field keeps focus (scanners type into whatever has it) ----
  function keepScanFocus() {
    var scan = document.getElementById("scan");
    if (!scan) return;
    var a = document.activeElement;
    var elsewhere = a && a !== document.body && a.matches("input, select, textarea") && a !== scan;
    if (document.querySelector("details[open] input.scan, details[open] input:focus")) return;
    if (!elsewhere) scan.focus({ preventScroll: true });
  }

  document.addEventListener("focusout", function () { setTimeout(keepScanFocus, 150); });
  document.addEventListener("visibilitychange", function () { if (!document.hidden) keepScanFocus(); });
  document.addEventListener("toggle", function (e) {
    var d = e.target;
    if (d.tagName !== "DETAILS") return;
    if (d.open) {
      var f = d.querySelector("input.scan, input[type=text], input[type=number]");
      if (f) f.focus();
    } else {
      keepScanFocus();
    }
  }, true);

  // ---- tabs (Open / Done) without a reload ----
  function wireTabs() {
    document.querySelectorAll("a[data-tab]").forEach(function (a) {
      if (a.getAttribute("data-wired")) return;
      a.setAttribute("data-wired", "1");
      a.addEventListener("click", function (e) {
        e.preventDefault();
        var which = a.getAttribute("data-tab");
        document.querySelectorAll("a[data-tab]").forEach(function (t) {
          t.setAttribute("aria-selected", t === a ? "true" : "false");
        });
        ["open", "done"].forEach(function (t) {
          var p = document.getElementById("tab-" + t);
          if (p) p.hidden = t !== which;
        });
        keepScanFocus();
      });
    });
  }

  // ---- "waiting 5 min" keeps counting ----
  function minutes(ms) {
    var m = Math.floor(ms / 60000);
    if (m < 1) return "<1 min";
    if (m < 60) return m + " min";
    if (m < 1440) return Math.floor(m / 60) + " h " + (m % 60) + " min";
    return Math.floor(m / 1440) + " d";
  }
  function tickSince() {
    var now = Date.now();
    document.querySelectorAll("time.since[data-ms]").forEach(function (t) {
      t.textContent = minutes(now - parseInt(t.getAttribute("data-ms"), 10));
    });
  }

  // ---- the batch walk button counts the ticked orders ----
  function batchCount() {
    var b = document.getElementById("start-batch");
    if (!b) return;
    var n = document.querySelectorAll('#queue input[name="order"]:checked').length;
    var tpl = b.getAttribute("data-template") || "";
    if (tpl) b.textContent = tpl.replace("{n}", n);
    b.disabled = n < 2;
  }
  document.addEventListener("change", function (e) {
    if (e.target.matches && e.target.matches('#queue input[name="order"]')) batchCount();
  });

  document.addEventListener("DOMContentLoaded", function () {
    wireTabs();
    tickSince();
    batchCount();
    keepScanFocus();
    follow();
    setInterval(tickSince, 15000);
  });
})();
