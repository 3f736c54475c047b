"use strict";
(function () {
  // What Anki's reviewer puts around every card (ts/reviewer/reviewer.scss), under the note
  // type's CSS. The root element stands for Anki's <body class="card cardN">.
  var REVIEWER_CSS = [
    ":host { all: initial; display: block; background-color: #ffffff; color: #000000; }",
    ".card { display: block; overflow-wrap: break-word; }",
    "div.nightMode { background-color: #2c2c2c; color: #fcfcfc; }",
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
  ].join("\n");
  var NIGHT = ["nightMode", "night_mode"];

  var data = JSON.parse(document.getElementById("deck-data").textContent);
  var root = document.documentElement;
  var constructable = "adoptedStyleSheets" in Document.prototype &&
    typeof CSSStyleSheet.prototype.replaceSync === "function";

  function sheet(css) {
    if (!constructable) return css;
    var s = new CSSStyleSheet();
    s.replaceSync(css);
    return s;
  }
  var reviewerSheet = sheet(REVIEWER_CSS);
  var noteTypeSheets = data.noteTypes.map(function (nt) { return sheet(nt.css); });

  // Card HTML is parsed in an inert <template>: nothing loads before images point at data.
  function fragment(html) {
    var t = document.createElement("template");
    t.innerHTML = html;
    t.content.querySelectorAll("img[src]").forEach(function (img) {
      var src = img.getAttribute("src");
      var name = src;
      try { name = decodeURIComponent(src); } catch (e) { /* keep it as written */ }
      var uri = data.media[src] || data.media[name];
      if (uri) img.setAttribute("src", uri);
    });
    return t.content;
  }

  var night = false;
  var tiles = Array.prototype.slice.call(document.querySelectorAll(".tile"));
  var views = tiles.map(function (tile) {
    var index = Number(tile.dataset.index);
    var card = data.cards[index];
    var host = tile.querySelector(".card-host");
    var shadow = host.attachShadow({ mode: "open" });
    if (constructable) {
      shadow.adoptedStyleSheets = [reviewerSheet, noteTypeSheets[card.nt]];
    } else {
      [REVIEWER_CSS, noteTypeSheets[card.nt]].forEach(function (css) {
        var style = document.createElement("style");
        style.textContent = css;
        shadow.appendChild(style);
      });
    }
    var body = document.createElement("div");
    body.className = "card card" + (card.ord + 1);
    var qa = document.createElement("div");
    qa.id = "qa";
    body.appendChild(qa);
    shadow.appendChild(body);
    var view = {
      tile: tile, host: host, body: body, qa: qa, card: card,
      button: tile.querySelector(".flip"), answer: null, text: null,
    };
    show(view, false);
    host.addEventListener("click", function (event) {
      var target = event.composedPath()[0];
      if (target.closest && target.closest("a, button, input, select, textarea, summary, label")) return;
      if (String(window.getSelection() || "")) return;  // selecting text, not flipping
      show(view, !view.answer);
    });
    view.button.addEventListener("click", function () { show(view, !view.answer); });
    return view;
  });

  function show(view, answer) {
    if (view.answer === answer) return;
    view.answer = answer;
    view.qa.replaceChildren(fragment(answer ? view.card.a : view.card.q));
    view.button.textContent = answer ? "Show question" : "Show answer";
    view.button.setAttribute("aria-pressed", String(answer));
    view.tile.classList.toggle("answer-shown", answer);
  }

  // Anki's card background fills the whole window: the host takes the card's colour
  // (looked up once per note type, card number and mode).
  var colours = {};
  function paint(view) {
    var key = view.card.nt + " " + view.card.ord + " " + night;
    if (!(key in colours)) {
      view.host.style.backgroundColor = "";
      var colour = getComputedStyle(view.body).backgroundColor;
      colours[key] = colour === "rgba(0, 0, 0, 0)" || colour === "transparent" ? "" : colour;
    }
    view.host.style.backgroundColor = colours[key];
  }

  function setNight(on) {
    night = on;
    root.classList.toggle("night", on);
    var button = document.getElementById("night");
    button.setAttribute("aria-pressed", String(on));
    views.forEach(function (view) {
      NIGHT.forEach(function (name) { view.body.classList.toggle(name, on); });
      paint(view);
    });
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
  root.dataset.ready = "true";
})();
