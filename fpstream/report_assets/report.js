// fpstream report: draws the page from the JSON in <script id="data">. No libraries, no network.
"use strict";
(function () {
  const problems = [];
  function problem(text) {
    problems.push(text);
    const box = document.getElementById("errors");
    if (box) box.textContent = problems.join("\n");
    document.body.dataset.errors = String(problems.length);
  }
  window.addEventListener("error", (e) => problem("script error: " + e.message));

  const timing = {};
  const mark = (name) => { timing[name] = Math.round(performance.now()); };
  const D = JSON.parse(document.getElementById("data").textContent);
  mark("parsed");
  const F = D.fields, NF = F.length, N = D.n;
  const RMAX = 65535;

  // ------------------------------------------------------------ helpers
  function el(tag, attrs, ...kids) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v; else if (k === "text") node.textContent = v; else node.setAttribute(k, v);
    }
    for (const kid of kids) node.append(kid);
    return node;
  }
  const SVG = "http://www.w3.org/2000/svg";
  function sv(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function fmt(v, decimals) {
    if (!isFinite(v)) return String(v);
    const a = Math.abs(v);
    if (a >= 1000) return v.toFixed(Math.min(decimals, 1));
    return v.toFixed(decimals);
  }
  function clock(s) {
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
    return h ? `${h} h ${String(m).padStart(2, "0")} min` : `${m} min ${Math.round(s % 60)} s`;
  }
  function decodeU16(b64) {
    const bin = atob(b64), bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return new Uint16Array(bytes.buffer);
  }
  // Colour ramp (viridis, 5 stops) for t in [0, 1].
  const STOPS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
  function ramp(t) {
    const x = Math.max(0, Math.min(1, t)) * (STOPS.length - 1), i = Math.min(Math.floor(x), STOPS.length - 2), f = x - i;
    return STOPS[i].map((c, k) => Math.round(c + f * (STOPS[i + 1][k] - c)));
  }

  // ------------------------------------------------------------ data
  const xy = N ? decodeU16(D.xy) : new Uint16Array(0);
  const ranks = N ? decodeU16(D.ranks) : new Uint16Array(0);
  const rank = (j, i) => ranks[j * N + i];
  // A value back from its percentile rank, through the column's quantile table (linear
  // interpolation), tabulated once per column for all 65 536 ranks: a lookup per track after.
  const lookup = new Array(NF).fill(null);
  function table(j) {
    if (lookup[j]) return lookup[j];
    const [xs, ys] = D.quantiles[j], out = new Float64Array(RMAX + 1);
    let k = 0;
    for (let r = 0; r <= RMAX; r++) {
      const p = r / RMAX;
      while (k < xs.length - 2 && xs[k + 1] <= p) k++;
      if (p <= xs[0]) out[r] = ys[0];
      else if (p >= xs[xs.length - 1]) out[r] = ys[ys.length - 1];
      else out[r] = ys[k] + ((p - xs[k]) / (xs[k + 1] - xs[k])) * (ys[k + 1] - ys[k]);
    }
    return (lookup[j] = out);
  }
  const valueOf = (j, r) => table(j)[Math.round(r)];
  function pathOf(i) {
    const head = D.folders[D.folder_of[i]];
    return head.endsWith("/") ? head + D.names[i] : head + "/" + D.names[i];
  }
  // "Artist - Title" of a tagged track ("" untagged; no labels at all in a library without tags)
  const labelOf = (i) => (D.labels ? D.labels[i] : "");
  const index = Object.fromEntries(F.map((f, j) => [f.name, j]));

  let embedded = null;  // Float32Array n x 25: scaled values times sqrt(weight), built on first use
  function embed() {
    if (embedded) return embedded;
    embedded = new Float32Array(N * NF);
    for (let j = 0; j < NF; j++) {
      const c = D.center[j], s = D.spread[j], w = Math.sqrt(D.weights[j]), t = table(j), off = j * N;
      for (let i = 0; i < N; i++) embedded[i * NF + j] = ((t[ranks[off + i]] - c) / s) * w;
    }
    return embedded;
  }
  function neighbours(q, k) {  // exact search over the decoded values; ties by row (= by path)
    const E = embed(), best = [];
    for (let i = 0; i < N; i++) {
      if (i === q) continue;
      let d2 = 0;
      for (let j = 0; j < NF; j++) { const t = E[i * NF + j] - E[q * NF + j]; d2 += t * t; }
      if (best.length < k || d2 < best[best.length - 1][0]) {
        let at = best.length;
        while (at > 0 && best[at - 1][0] > d2) at--;
        best.splice(at, 0, [d2, i]);
        if (best.length > k) best.pop();
      }
    }
    return best.map(([d2, i]) => [Math.sqrt(d2), i]);
  }

  // ------------------------------------------------------------ page
  mark("decoded");
  const app = document.getElementById("app");
  app.textContent = "";
  app.append(
    el("h1", { text: D.title }),
    el("div", { class: "sub", text: `${D.database} · generated ${D.generated} · fpstream ${D.version}` }),
    el("div", { id: "errors" }),
  );

  // At a glance
  const S = D.summary;
  const glance = el("section", { id: "glance" }, el("h2", { text: "The library at a glance" }));
  const cards = el("div", { class: "cards" });
  function card(big, label, list) {
    const c = el("div", { class: "card" }, el("div", { class: "big", text: big }), el("div", { class: "label", text: label }));
    if (list) c.append(el("ul", {}, ...list.map(([k, v]) => el("li", { text: `${k}: ${v.toLocaleString()}` }))));
    return c;
  }
  cards.append(
    card(S.done.toLocaleString(), "tracks analysed"),
    card(S.failed.toLocaleString(), "tracks failed"),
    card(clock(S.duration_s), "total duration (analysed)"),
    card(String(S.formats.length), "formats", S.formats.slice(0, 8)),
    ...(S.tagged ? [card(S.artists.length.toLocaleString(), `artists (${S.tagged.toLocaleString()} tagged tracks, ${S.albums.toLocaleString()} albums)`, S.artists.slice(0, 8))] : []),
    card(String(S.sample_rates.length), "sample rates", S.sample_rates.slice(0, 8)),
    card(String(S.channels.length), "channel layouts", S.channels.slice(0, 4)),
  );
  glance.append(cards);
  if (S.stale) glance.append(el("p", { class: "sub", text: `${S.stale} tracks of another fingerprint version are left out (re-analyse them with fpstream feed --force).` }));
  if (S.errors.length) {
    const t = el("table", { class: "errors" }, el("tr", {}, el("th", { text: "error" }), el("th", { text: "tracks" }), el("th", { text: "for example" })));
    for (const [e, n, p] of S.errors) t.append(el("tr", {}, el("td", { text: e }), el("td", { text: String(n) }), el("td", { text: p })));
    glance.append(el("h3", { text: `Failures (${S.error_kinds} kinds of error)` }), t);
  }
  app.append(glance);

  if (!N) {
    app.append(el("p", { text: "No analysed tracks yet: the distributions and the map appear once tracks are analysed." }));
    document.body.dataset.renderMs = String(Math.round(performance.now()));
    document.body.dataset.ready = "1";
    return;
  }

  // Map and track panel
  const mapSection = el("section", { id: "map-section" }, el("h2", { text: "Map of the library" }));
  mapSection.append(el("p", { class: "sub", text:
    `Each point is a track: the first two principal components of the robust-scaled, weighted fingerprints ` +
    `(${(100 * (D.pca_shares[0] + D.pca_shares[1])).toFixed(0)} % of the variance), the space in which ` +
    `fpstream similar measures distance, fitted on values clipped near the library's range so that no single ` +
    `track takes an axis. Near points sound alike. Hover for details, click for the track's panel.` +
    (D.outlier_count ? ` Triangles at the edge: ${D.outlier_count} outliers, listed below the map.` : "") }));
  const select = el("select", { id: "colour-by" });
  for (const f of F) select.append(el("option", { value: f.name, text: `${f.name} (${f.unit})` }));
  select.value = "tempo_bpm";
  const legend = el("div", { id: "legend" });
  const canvas = el("canvas", { id: "map" });
  const tooltip = el("div", { id: "tooltip" });
  const box = el("div", { class: "mapbox" }, el("div", { class: "controls" }, el("label", { text: "colour by " }, select), legend), canvas, tooltip);
  const panel = el("aside", { id: "panel" }, el("p", { class: "sub", text: "Click a point to see its track: its 25 values as percentiles and its 10 nearest neighbours." }));
  mapSection.append(el("div", { class: "maprow" }, box, panel));
  app.append(mapSection);

  const W = Math.min(820, Math.max(420, window.innerWidth - 640)), H = Math.round(W * 0.72), PAD = 10;
  const dpr = window.devicePixelRatio || 1;
  canvas.width = Math.round(W * dpr); canvas.height = Math.round(H * dpr);
  canvas.style.width = W + "px"; canvas.style.height = H + "px";
  const ctx = canvas.getContext("2d");
  const px = new Float32Array(N), py = new Float32Array(N);
  for (let i = 0; i < N; i++) {
    px[i] = PAD + (xy[2 * i] / RMAX) * (W - 2 * PAD);
    py[i] = H - PAD - (xy[2 * i + 1] / RMAX) * (H - 2 * PAD);
  }
  // Outliers (fpstream/report.py, robust_map): clamped to the edge, drawn as triangles, listed.
  const isOutlier = new Uint8Array(N);
  for (const o of D.outliers || []) isOutlier[o.row] = 1;
  let selected = null, marked = [];

  function drawMap() {
    const j = index[select.value];
    const image = ctx.createImageData(canvas.width, canvas.height);
    const buf = new Uint32Array(image.data.buffer);
    buf.fill(0xffffffff);
    const size = Math.max(2, Math.round((N > 20000 ? 1.5 : N > 2000 ? 2.5 : 4) * dpr));
    const palette = new Uint32Array(256);
    for (let k = 0; k < 256; k++) { const [r, g, b] = ramp(k / 255); palette[k] = (255 << 24) | (b << 16) | (g << 8) | r; }
    for (let i = 0; i < N; i++) {
      if (isOutlier[i]) continue;  // drawn as a triangle below
      const colour = palette[Math.round((rank(j, i) / RMAX) * 255)];
      const x0 = Math.round(px[i] * dpr - size / 2), y0 = Math.round(py[i] * dpr - size / 2);
      for (let dy = 0; dy < size; dy++) {
        const y = y0 + dy;
        if (y < 0 || y >= canvas.height) continue;
        for (let dx = 0; dx < size; dx++) { const x = x0 + dx; if (x >= 0 && x < canvas.width) buf[y * canvas.width + x] = colour; }
      }
    }
    ctx.putImageData(image, 0, 0);
    if (location.search.includes("probe=1")) probe(image);
    canvas.dataset.points = String(N);
    canvas.dataset.colour = select.value;
    ctx.save(); ctx.scale(dpr, dpr);
    for (const o of D.outliers || []) {
      const i = o.row, s = 6;
      ctx.beginPath(); ctx.moveTo(px[i], py[i] - s); ctx.lineTo(px[i] + s, py[i] + s); ctx.lineTo(px[i] - s, py[i] + s); ctx.closePath();
      ctx.fillStyle = `rgb(${ramp(rank(j, i) / RMAX)})`; ctx.fill(); ctx.strokeStyle = "#111"; ctx.lineWidth = 1; ctx.stroke();
    }
    for (const i of marked) { ctx.beginPath(); ctx.arc(px[i], py[i], 5, 0, 2 * Math.PI); ctx.strokeStyle = "#d92d20"; ctx.lineWidth = 1.5; ctx.stroke(); }
    if (selected !== null) { ctx.beginPath(); ctx.arc(px[selected], py[selected], 8, 0, 2 * Math.PI); ctx.strokeStyle = "#111"; ctx.lineWidth = 2.5; ctx.stroke(); }
    ctx.restore();
    const f = F[j], at = (p) => fmt(valueOf(j, p * RMAX), f.decimals);
    const gradient = `linear-gradient(to right, ${STOPS.map((c) => `rgb(${c})`).join(", ")})`;
    legend.textContent = "";
    legend.append(el("span", { text: `${at(0.05)} (p5)` }), el("span", { class: "ramp", style: `background: ${gradient}` }), el("span", { text: `${at(0.95)} (p95) ${f.unit}` }));
  }
  select.addEventListener("change", drawMap);

  // For tests (?probe=1): how the drawn point pixels spread, read back from the canvas itself —
  // non-white pixels per column and per row, in CSS pixels.
  function probe(image) {
    const cols = new Array(W).fill(0), rows = new Array(H).fill(0), d = image.data;
    for (let y = 0; y < image.height; y++) for (let x = 0; x < image.width; x++) {
      const k = 4 * (y * image.width + x);
      if (d[k] !== 255 || d[k + 1] !== 255 || d[k + 2] !== 255) { cols[Math.min(W - 1, Math.floor(x / dpr))]++; rows[Math.min(H - 1, Math.floor(y / dpr))]++; }
    }
    canvas.dataset.colmass = cols.join(","); canvas.dataset.rowmass = rows.join(",");
  }

  if (D.outliers && D.outliers.length) {
    const ul = el("ul", { id: "outliers" });
    for (const o of D.outliers) {
      const why = o.why.map(([name, v]) => {
        const f = F[index[name]], h = D.hist[index[name]];
        return `${name} ${fmt(v, f.decimals)} ${f.unit} (library p5–p95: ${fmt(h.p5, f.decimals)} to ${fmt(h.p95, f.decimals)})`;
      }).join("; ");
      const li = el("li", { class: "outlier", "data-path": pathOf(o.row) }, el("span", { class: "path", text: pathOf(o.row) }), ` — ${why}`);
      li.addEventListener("click", () => showTrack(o.row));
      ul.append(li);
    }
    const more = D.outlier_count > D.outliers.length ? ` (the ${D.outliers.length} farthest shown)` : "";
    box.append(el("div", { class: "outlier-list" }, el("h3", { text: `Outliers: ${D.outlier_count}, drawn as triangles at the edge${more}` }), ul));
  }

  // Hover: a grid of 12-pixel cells finds the nearest point quickly.
  const CELL = 12, cols = Math.ceil(W / CELL) + 1, grid = new Map();
  for (let i = 0; i < N; i++) {
    const key = Math.floor(py[i] / CELL) * cols + Math.floor(px[i] / CELL);
    const list = grid.get(key); if (list) list.push(i); else grid.set(key, [i]);
  }
  function pointAt(x, y) {
    let best = -1, bestD = 64;  // within 8 px
    const cx = Math.floor(x / CELL), cy = Math.floor(y / CELL);
    for (let gy = cy - 1; gy <= cy + 1; gy++) for (let gx = cx - 1; gx <= cx + 1; gx++) {
      for (const i of grid.get(gy * cols + gx) || []) {
        const d = (px[i] - x) ** 2 + (py[i] - y) ** 2;
        if (d < bestD) { bestD = d; best = i; }
      }
    }
    return best;
  }
  const KEY = ["tempo_bpm", "lufs", "spectral_centroid", "harmonic_ratio"];
  canvas.addEventListener("mousemove", (e) => {
    const r = canvas.getBoundingClientRect(), i = pointAt(e.clientX - r.left, e.clientY - r.top);
    if (i < 0) { tooltip.style.display = "none"; return; }
    const shown = [...new Set([...KEY, select.value])].map((name) => {
      const j = index[name];
      return `${name} ${fmt(valueOf(j, rank(j, i)), F[j].decimals)} ${F[j].unit}`;
    });
    tooltip.textContent = "";
    const label = labelOf(i) ? [el("div", { class: "tags", text: labelOf(i) })] : [];
    tooltip.append(...label, el("div", { class: "path", text: pathOf(i) }), ...shown.map((t) => el("div", { text: t })));
    tooltip.style.display = "block";
    tooltip.style.left = Math.min(px[i] + 20, W - 200) + "px";
    tooltip.style.top = (py[i] + 20) + "px";
  });
  canvas.addEventListener("mouseleave", () => { tooltip.style.display = "none"; });
  canvas.addEventListener("click", (e) => {
    const r = canvas.getBoundingClientRect(), i = pointAt(e.clientX - r.left, e.clientY - r.top);
    if (i >= 0) showTrack(i);
  });

  function showTrack(i) {
    selected = i;
    const near = neighbours(i, 10);
    marked = near.map(([, k]) => k);
    panel.textContent = "";
    panel.dataset.track = pathOf(i);
    if (labelOf(i)) panel.append(el("div", { class: "tags", text: labelOf(i) }));
    panel.append(el("div", { class: "path", text: pathOf(i) }),
      el("div", { class: "sub", text: `percentiles within the ${N.toLocaleString()} analysed tracks (pNN: NN % are lower); values read back from the percentile (≈)` }));
    const t = el("table", { id: "percentiles" });
    let family = null;
    F.forEach((f, j) => {
      if (f.family !== family) { family = f.family; t.append(el("tr", {}, el("td", { class: "fam", colspan: "4", text: family }))); }
      const p = (100 * rank(j, i)) / RMAX;
      const bar = el("div", { class: "pbar" }, el("span", { style: `width: ${p.toFixed(1)}%` }));
      t.append(el("tr", { "data-name": f.name }, el("td", { text: f.name }), el("td", { class: "num", text: `≈ ${fmt(valueOf(j, rank(j, i)), f.decimals)} ${f.unit}` }),
        el("td", {}, bar), el("td", { class: "num", text: `p${p.toFixed(0)}` })));
    });
    panel.append(t, el("h3", { text: "10 nearest neighbours (distance as in fpstream similar)" }));
    const list = el("ol", { id: "neighbours" });
    for (const [d, k] of near) {
      const li = el("li", { class: "neighbour" }, el("span", { class: "d", text: d.toFixed(4) }),
        labelOf(k) ? `${labelOf(k)} · ${pathOf(k)}` : pathOf(k));
      li.addEventListener("click", () => showTrack(k));
      list.append(li);
    }
    panel.append(list);
    drawMap();
  }

  // Distributions, grouped by family
  const distSection = el("section", { id: "distributions" }, el("h2", { text: "Distributions of the 25 values" }));
  distSection.append(el("p", { class: "sub", text: "Histograms over the 0.5–99.5 % range of the library (tracks outside it are counted under the chart); the red line is the median." }));
  let group = null;
  F.forEach((f, j) => {
    if (!group || group.dataset.family !== f.family) {
      distSection.append(el("h3", { text: f.family }));
      group = el("div", { class: "dists", "data-family": f.family });
      distSection.append(group);
    }
    const h = D.hist[j], w = 250, ht = 96, top = 14, base = ht - 18, max = Math.max(...h.counts, 1), bw = w / h.counts.length;
    const svg = sv("svg", { width: w, height: ht, viewBox: `0 0 ${w} ${ht}`, role: "img", "aria-label": `distribution of ${f.name}` });
    h.counts.forEach((c, k) => {
      const bh = ((base - top) * c) / max;
      svg.append(sv("rect", { class: "bar", x: (k * bw + 0.5).toFixed(1), y: (base - bh).toFixed(1), width: Math.max(bw - 1, 0.5).toFixed(1), height: bh.toFixed(1) }));
    });
    const mx = ((h.median - h.lo) / (h.hi - h.lo)) * w;
    svg.append(sv("line", { class: "median", x1: mx, x2: mx, y1: top - 4, y2: base }));
    const anchor = mx < w / 3 ? "start" : mx > (2 * w) / 3 ? "end" : "middle";  // keep the label inside
    svg.append(sv("text", { class: "mtext", x: mx, y: 9, "text-anchor": anchor }, `median ${fmt(h.median, f.decimals)}`));
    svg.append(sv("text", { x: 0, y: ht - 4 }, fmt(h.lo, f.decimals)), sv("text", { x: w, y: ht - 4, "text-anchor": "end" }, fmt(h.hi, f.decimals)));
    const fig = el("figure", { class: "dist", "data-name": f.name });
    fig.append(el("figcaption", {}, f.name + " ", el("span", { class: "unit", text: f.unit })), svg);
    if (h.below || h.above) fig.append(el("div", { class: "sub", text: `${h.below} below, ${h.above} above the range` }));
    group.append(fig);
  });
  app.append(distSection);
  mark("distributions");
  drawMap();
  mark("map");
  let first = D.selected;
  if (location.hash.startsWith("#track=")) {
    const wanted = decodeURIComponent(location.hash.slice(7));
    for (let i = 0; i < N; i++) if (pathOf(i) === wanted) { first = i; break; }
  }
  if (first !== null && first !== undefined) showTrack(first);
  mark("panel");
  document.body.dataset.timing = JSON.stringify(timing);
  document.body.dataset.renderMs = String(Math.round(performance.now()));
  document.body.dataset.ready = "1";
})();
