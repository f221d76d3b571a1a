// fpstream web app: search, a track view, a playlist builder. Talks only to this service's JSON API.
"use strict";

const token = new URLSearchParams(location.search).get("token");
const PAGE = 50;
const state = { q: "", offset: 0, total: 0, a: null, b: null, current: null };
const $ = (id) => document.getElementById(id);

function api(path, params) {
  const q = new URLSearchParams(params || {});
  if (token) q.set("token", token);
  return `${path}?${q}`;
}

async function getJSON(path, params) {
  const response = await fetch(api(path, params));
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

function item(text, onclick, extra) {
  const li = document.createElement("li");
  if (extra) {
    const span = document.createElement("span");
    span.className = "dist";
    span.textContent = extra;
    li.append(span);
  }
  li.append(document.createTextNode(text));
  li.title = text;
  li.addEventListener("click", onclick);
  return li;
}

function baseName(path) {
  return path.split("/").slice(-3).join("/"); // the file and its two folders (album, artist)
}

function clock(seconds) {
  if (seconds == null) return "?";
  const s = Math.round(seconds);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

// ---------------------------------------------------------------- search

let searchTimer = null;
async function runSearch(append) {
  const q = $("q").value;
  if (!append) {
    state.q = q;
    state.offset = 0;
  }
  const body = await getJSON("/api/search", { q: state.q, offset: state.offset, limit: PAGE });
  if (body.offset !== state.offset || state.q !== $("q").value) return; // a newer search is on its way
  if (!append) $("results").replaceChildren();
  for (const t of body.tracks) {
    const li = item(t.display_name, () => openTrack(t.path));
    li.dataset.path = t.path;
    $("results").append(li);
  }
  state.total = body.total;
  state.offset += body.tracks.length;
  $("count").textContent = `${body.total.toLocaleString()} ${body.total === 1 ? "track" : "tracks"}`;
  $("more").hidden = state.offset >= body.total;
}

$("q").addEventListener("input", () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => runSearch(false).catch(showError), 150);
});
$("more").addEventListener("click", () => runSearch(true).catch(showError));

// ---------------------------------------------------------------- track

async function openTrack(path) {
  const t = await getJSON("/api/track", { path });
  state.current = t;
  $("track-empty").hidden = true;
  $("track").hidden = false;
  $("track-title").textContent = t.display_name;
  $("track-path").textContent = t.path;
  $("track-info").textContent = [t.status, clock(t.duration_s), t.sample_rate && `${t.sample_rate} Hz`,
    t.channels && `${t.channels} ch`, t.genre].filter(Boolean).join(" · ");
  for (const li of $("results").children) li.classList.toggle("current", li.dataset.path === t.path);
  const player = $("player");
  player.src = api("/api/audio", { path: t.path });
  const tbody = $("values").querySelector("tbody");
  tbody.replaceChildren();
  for (const [name, value] of Object.entries(t)) {
    if (!(`${name}_percentile` in t)) continue;
    const pct = t[`${name}_percentile`];
    const tr = document.createElement("tr");
    const bar = pct == null ? "" : `<div class="bar"><div style="width:${pct.toFixed(1)}%"></div></div>`;
    tr.innerHTML = `<td></td><td class="num"></td><td>${bar}</td><td class="num"></td>`;
    tr.children[0].textContent = name;
    tr.children[1].textContent = value == null ? "" : Number(value).toPrecision(4);
    tr.children[3].textContent = pct == null ? "" : `p${Math.round(pct)}`;
    tbody.append(tr);
  }
  $("neighbours").replaceChildren();
  if (t.status === "done") {
    const near = await getJSON("/api/similar", { path: t.path, k: 10 });
    for (const n of near) $("neighbours").append(item(baseName(n.path), () => openTrack(n.path), n.distance.toFixed(3)));
  }
}

// ---------------------------------------------------------------- playlist

function setEnd(which) {
  if (!state.current) return;
  state[which] = state.current.path;
  $(`pl-${which}`).textContent = state.current.path;
  $(`pl-${which}`).classList.remove("muted");
}

$("set-a").addEventListener("click", () => setEnd("a"));
$("set-b").addEventListener("click", () => setEnd("b"));
$("clear-b").addEventListener("click", () => {
  state.b = null;
  $("pl-b").textContent = "(none: from A only)";
  $("pl-b").classList.add("muted");
});

$("build").addEventListener("click", async () => {
  $("pl-error").textContent = "";
  if (!state.a) {
    $("pl-error").textContent = "Pick a seed: open a track, then 'Use as A'.";
    return;
  }
  const params = { seed: state.a, n: $("pl-n").value };
  if (state.b) params.to = state.b;
  try {
    const entries = await getJSON("/api/playlist", params);
    $("playlist").replaceChildren();
    for (const e of entries) {
      $("playlist").append(item(`${baseName(e.path)} (${clock(e.duration_s)})`, () => openTrack(e.path),
        e.step.toFixed(3)));
    }
    $("m3u").href = api("/api/playlist", { ...params, format: "m3u" });
    $("m3u").hidden = false;
  } catch (err) {
    $("pl-error").textContent = err.message;
  }
});

// ---------------------------------------------------------------- start

function showError(err) {
  $("count").textContent = `error: ${err.message}`;
}

async function health() {
  const h = await getJSON("/health");
  $("health").textContent = `${h.analysed.toLocaleString()} analysed of ${h.rows.toLocaleString()} rows · ` +
    `v${h.version} · stack ${h.stack.up ? "up" : "down"}`;
}

health().catch(showError);
runSearch(false).catch(showError);
