"use strict";
(function () {
  // What Anki's reviewer puts around every card (ts/reviewer/reviewer.scss), under the note
  // type's CSS. Each card is a document of its own whose <body class="card cardN"> is Anki's.
  var REVIEWER_CSS = [
    "html { background-color: #ffffff; color: #000000; }",
    "body { margin: 0; overflow-wrap: break-word; }",
    "body.nightMode { background-color: #2c2c2c; color: #fcfcfc; }",
    "hr { background-color: #737373; margin: 1em 0; border: none; height: 1px; }",
    "img { max-width: 100%; max-height: 95vh; }",
    "li { text-align: start; }",
    "pre { text-align: left; }",
    "#typeans { width: 100%; box-sizing: border-box; line-height: 1.75; }",
    "code#typeans { white-space: pre-wrap; font-variant-ligatures: none; }",
    ".typeGood { background: #afa; color: black; }",
    ".typeBad { background: #faa; color: black; }",
    ".typeMissed { background: #ccc; color: black; }",
    ".template-error { color: #c00; font-family: monospace; }",
    ".math-error { color: #c00; }",
  ].join("\n");
  var DESCRIPTION_CSS = [
    "html { color-scheme: light; color: #1d1d1f; }",
    "html.night { color-scheme: dark; color: #f2f2f7; }",
    "body { margin: 0; font: 15px/1.45 system-ui, -apple-system, 'Segoe UI', Roboto, Arial, sans-serif; }",
    "body > :first-child { margin-top: 0; } body > :last-child { margin-bottom: 0; }",
    "a { color: #0a58ca; } html.night a { color: #64a8ff; }",
    "img { max-width: 100%; }",
  ].join("\n");
  // Card HTML is untrusted: each card lives in a frame sandboxed without scripts, so none of its
  // script or handlers run, it cannot navigate this page (no top navigation, no forms, no
  // automatic refresh) and its CSS reaches only its own frame. allow-same-origin lets this
  // script (never the card's) fill, flip and measure the frame; links open in a new tab.
  var SANDBOX = "allow-same-origin allow-popups allow-popups-to-escape-sandbox";
  var NIGHT = ["nightMode", "night_mode"];

  var data = JSON.parse(document.getElementById("deck-data").textContent);
  var root = document.documentElement;

  function styleText(css) { return String(css).replace(/<\/(style)/gi, "<\\/$1"); }

  function frameDocument(css, bodyClass) {
    return "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><base target=\"_blank\">" +
      css.map(function (c) { return "<style>" + styleText(c) + "</style>"; }).join("") +
      "</head><body class=\"" + bodyClass + "\"><div id=\"qa\"></div></body></html>";
  }

  // Card HTML is parsed in an inert <template>: nothing loads before images point at data.
  function fragment(html, into) {
    var t = document.createElement("template");
    t.innerHTML = html;
    t.content.querySelectorAll("img[src]").forEach(function (img) {
      var src = img.getAttribute("src");
      var name = src;
      try { name = decodeURIComponent(src); } catch (e) { /* keep it as written */ }
      var uri = data.media[src] || data.media[name];
      if (uri) img.setAttribute("src", uri);
    });
    return into.importNode(t.content, true);
  }

  var pending = [];
  // A sandboxed frame showing `html`; `ready(doc)` runs once its empty document is there.
  function frame(host, css, bodyClass, ready) {
    var f = document.createElement("iframe");
    f.setAttribute("sandbox", SANDBOX);
    f.setAttribute("title", host.getAttribute("data-title") || "card");
    f.className = "card-frame";
    pending.push(new Promise(function (resolve) {
      f.addEventListener("load", function () {
        var doc = f.contentDocument;
        ready(doc);
        fit(f);
        if (typeof ResizeObserver === "function") {
          new ResizeObserver(function () { fit(f); }).observe(doc.documentElement);
        }
        doc.addEventListener("load", function () { fit(f); }, true);  // images
        resolve();
      }, { once: true });
    }));
    f.srcdoc = frameDocument(css, bodyClass);
    host.appendChild(f);
    return f;
  }

  function fit(f) {
    var doc = f.contentDocument;
    if (!doc || !doc.documentElement) return;
    var height = Math.ceil(Math.max(doc.documentElement.scrollHeight, doc.body ? doc.body.scrollHeight : 0));
    if (f.style.height !== height + "px") f.style.height = height + "px";
  }

  var night = false;
  var tiles = Array.prototype.slice.call(document.querySelectorAll(".tile"));
  var views = tiles.map(function (tile) {
    var index = Number(tile.dataset.index);
    var card = data.cards[index];
    var view = {
      tile: tile, host: tile.querySelector(".card-host"), card: card, doc: null, frame: null,
      button: tile.querySelector(".flip"), answer: false, text: null,
    };
    view.button.addEventListener("click", function () { show(view, !view.answer); });
    return view;
  });

  // A frame per card is a document per card: make each when its tile comes near the screen.
  function open(view) {
    if (view.frame) return;
    var card = view.card;
    view.frame = frame(view.host, [REVIEWER_CSS, data.noteTypes[card.nt].css], "card card" + (card.ord + 1),
      function (doc) {
        view.doc = doc;
        NIGHT.forEach(function (name) { doc.body.classList.toggle(name, night); });
        fill(view);
        doc.addEventListener("click", function (event) {
          var target = event.target;
          if (target.closest && target.closest("a, button, input, select, textarea, summary, label")) return;
          if (String(doc.getSelection() || "")) return;  // selecting text, not flipping
          show(view, !view.answer);
        });
      });
  }
  var firstFrames = new Promise(function (resolve) {
    if (!views.length) { resolve(); return; }
    if (typeof IntersectionObserver !== "function") {
      views.forEach(open);
      Promise.all(pending).then(resolve);
      return;
    }
    var byHost = new Map(views.map(function (view) { return [view.host, view]; }));
    var observer = new IntersectionObserver(function (entries) {
      entries.forEach(function (entry) {
        if (!entry.isIntersecting) return;
        observer.unobserve(entry.target);
        open(byHost.get(entry.target));
      });
      Promise.all(pending).then(resolve);
    }, { rootMargin: "1500px 0px" });
    views.forEach(function (view) { observer.observe(view.host); });
  });

  function fill(view) {
    if (!view.doc) return;
    var qa = view.doc.getElementById("qa");
    qa.replaceChildren(fragment(view.answer ? view.card.a : view.card.q, view.doc));
    fit(view.frame);
  }

  function show(view, answer) {
    if (view.answer === answer && view.shown) return;
    view.answer = answer;
    view.shown = true;
    fill(view);
    view.button.textContent = answer ? "Show question" : "Show answer";
    view.button.setAttribute("aria-pressed", String(answer));
    view.tile.classList.toggle("answer-shown", answer);
  }
  views.forEach(function (view) { show(view, false); });

  var description = document.getElementById("description");
  var descriptionDoc = null;
  if (description && data.description) {
    frame(description, [DESCRIPTION_CSS], "description", function (doc) {
      descriptionDoc = doc;
      doc.documentElement.classList.toggle("night", night);
      doc.getElementById("qa").replaceChildren(fragment(data.description, doc));
    });
  }

  function setNight(on) {
    night = on;
    root.classList.toggle("night", on);
    var button = document.getElementById("night");
    button.setAttribute("aria-pressed", String(on));
    views.forEach(function (view) {
      if (!view.doc) return;
      NIGHT.forEach(function (name) { view.doc.body.classList.toggle(name, on); });
    });
    if (descriptionDoc) descriptionDoc.documentElement.classList.toggle("night", on);
    try { localStorage.setItem("deckbuilder-preview-night", on ? "1" : "0"); } catch (e) { /* file: */ }
  }
  document.getElementById("night").addEventListener("click", function () { setNight(!night); });
  var stored = null;
  try { stored = localStorage.getItem("deckbuilder-preview-night"); } catch (e) { /* file: */ }
  setNight(stored !== null ? stored === "1" :
    !!(window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches));

  var answersButton = document.getElementById("answers");
  answersButton.addEventListener("click", function () {
    var on = answersButton.getAttribute("aria-pressed") !== "true";
    answersButton.setAttribute("aria-pressed", String(on));
    views.forEach(function (view) { show(view, on); });
  });

  // A printed page is a handout: every card with its answer (the answer side shows the question).
  var beforePrint = null;
  window.addEventListener("beforeprint", function () {
    beforePrint = views.map(function (view) { return view.answer; });
    views.forEach(function (view) { open(view); show(view, true); });
  });
  window.addEventListener("afterprint", function () {
    if (!beforePrint) return;
    views.forEach(function (view, i) { show(view, beforePrint[i]); });
    beforePrint = null;
  });

  document.getElementById("filters").addEventListener("submit", function (event) { event.preventDefault(); });
  var search = document.getElementById("search");
  var subdeck = document.getElementById("subdeck");
  var tag = document.getElementById("tag");
  var count = document.getElementById("count");
  var nothing = document.getElementById("nothing");
  var total = views.length;

  // What a search looks in: both sides as text, the card's id and its tags.
  function searchText(view) {
    if (view.text === null) {
      var t = document.createElement("template");
      t.innerHTML = view.card.q + "\n" + view.card.a;
      var meta = view.tile.querySelector(".note-id").textContent + " " + view.tile.dataset.tags;
      view.text = (meta + " " + t.content.textContent).replace(/\s+/g, " ").toLowerCase();
    }
    return view.text;
  }

  function within(value, wanted) {
    return value === wanted || value.indexOf(wanted + "::") === 0;
  }

  function filter() {
    var terms = search.value.toLowerCase().split(/\s+/).filter(Boolean);
    var deck = subdeck.value;
    var wanted = tag.value;
    var shown = 0;
    views.forEach(function (view) {
      var ok = deck === "*" ||
        (deck === "" ? view.tile.dataset.subdeck === "" : within(view.tile.dataset.subdeck, deck));
      if (ok && wanted !== "*") {
        var tags = view.tile.dataset.tags ? view.tile.dataset.tags.split(" ") : [];
        ok = tags.some(function (t) { return within(t, wanted); });
      }
      if (ok) {
        var text = searchText(view);
        ok = terms.every(function (term) { return text.indexOf(term) >= 0; });
      }
      view.tile.hidden = !ok;
      if (ok) shown += 1;
    });
    count.dataset.shown = String(shown);
    count.textContent = shown === total
      ? total + (total === 1 ? " card" : " cards")
      : shown + " of " + total + (total === 1 ? " card" : " cards");
    nothing.hidden = shown > 0;
  }
  search.addEventListener("input", filter);
  subdeck.addEventListener("change", filter);
  tag.addEventListener("change", filter);
  filter();
  firstFrames.then(function () { return Promise.all(pending); }).then(function () {
    root.dataset.ready = "true";
  });
})();
