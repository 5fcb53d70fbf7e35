/* Sơn La Poverty Atlas – planning workspace (/app). No build step, no network but the atlas itself. */
(function () {
  "use strict";
  const A = window.ATLAS;
  // the atlas's own address as this browser reaches it (behind a proxy too): everything is fetched from there
  const ROOT = location.pathname.replace(/\/app\/?$/, "");
  const BASE = location.origin + ROOT;
  const OGC = BASE + "/ogc";
  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));

  // ---------------------------------------------------------------------------------------------
  // words: Vietnamese first, English on the switch
  const WORDS = {
    title: ["Bàn làm việc quy hoạch – Atlas nghèo Sơn La", "Planning workspace – Sơn La Poverty Atlas"],
    search_label: ["Tìm xã, phường, xã cũ, bản", "Find a unit, former commune, village"],
    demo: ["Dữ liệu minh họa (mô phỏng) – không phải số liệu chính thức",
      "Demo data (synthetic) – not official figures"],
    map_heading: ["Bản đồ", "Map"], indicator: ["Chỉ tiêu", "Indicator"], year: ["Năm", "Year"],
    outlines: ["Ranh giới", "Outlines"], districts: ["Huyện cũ (trước 01/7/2025)", "Former districts (before 1 July 2025)"],
    communes: ["Xã trước sáp nhập", "Pre-merger communes"], layers: ["Lớp", "Layers"],
    villages: ["Bản (▲ đặc biệt khó khăn)", "Villages (▲ especially difficult)"],
    infra: ["Đường, trạm y tế, trường, chợ, cầu", "Roads, health stations, schools, markets, bridges"],
    plan_layer: ["Dự án được chọn", "Chosen projects"],
    priority_heading: ["Trọng số ưu tiên", "Priority weights"],
    priority_hint: ["Kéo để đổi trọng số; bản đồ và thứ hạng cập nhật ngay.",
      "Drag to change a weight; the map and the ranking follow at once."],
    reset: ["Trở về mặc định", "Back to the defaults"], sensitivity: ["Độ nhạy (Monte-Carlo)", "Sensitivity (Monte Carlo)"],
    plan_heading: ["Kế hoạch đầu tư", "Investment plan"], budget: ["Ngân sách (tỷ đồng)", "Budget (billion VND)"],
    r3: ["Tỷ lệ chi tối thiểu cho xã khu vực III (%)", "Minimum share for region III units (%)"],
    maxpu: ["Số dự án tối đa mỗi xã", "Most projects per unit"], run_plan: ["Lập kế hoạch", "Run the plan"],
    tab_unit: ["Xã, phường", "Unit"], tab_rank: ["Xếp hạng", "Ranking"], tab_plan: ["Kế hoạch", "Plan"],
    pick_unit: ["Chọn một xã, phường trên bản đồ, trong bảng xếp hạng hoặc bằng ô tìm kiếm.",
      "Pick a unit on the map, in the ranking or with the search box."],
    no_plan: ["Chưa có kế hoạch: nhập ngân sách và bấm “Lập kế hoạch”.", "No plan yet: enter a budget and press “Run the plan”."],
    export_heading: ["Xuất", "Export"], ranking: ["xếp hạng", "ranking"], projects: ["dự án", "projects"],
    print_view: ["In vùng đang xem (PDF A3)", "Print the current view (PDF A3)"], home: ["Trang chủ", "Home"],
    maps: ["Bản đồ in", "Printed maps"], release: ["Bản phát hành", "Release"],
    households: ["Số hộ", "Households"], poor: ["Hộ nghèo", "Poor households"], near_poor: ["Hộ cận nghèo", "Near-poor households"],
    poor_rate: ["Tỷ lệ hộ nghèo", "Poverty rate"], near_poor_rate: ["Tỷ lệ hộ cận nghèo", "Near-poverty rate"],
    ethnic: ["Tỷ lệ hộ DTTS", "Ethnic-minority share"], region: ["Khu vực 2026-2030", "Region class 2026-2030"],
    difficult: ["Thôn ĐBKK 2026-2030", "Especially difficult villages 2026-2030"],
    deprivation: ["Chỉ số thiếu hụt bình quân/hộ", "Indicators lacked per household"],
    minutes: ["Phút đến trạm y tế / trường / chợ", "Minutes to health station / school / market"],
    trend: ["Tỷ lệ hộ nghèo", "Poverty rate"], former_districts: ["Huyện cũ", "Former district"],
    communes_2024: ["Xã trước sáp nhập (đến 30/6/2025)", "Pre-merger communes (to 30 June 2025)"],
    villages_of: ["Các bản (xếp theo ưu tiên trong xã)", "Villages (by priority within the unit)"],
    rank: ["Hạng ưu tiên", "Priority rank"], contributions: ["Đóng góp của từng tiêu chí vào điểm", "Each criterion's share of the score"],
    web_map: ["Bản đồ web", "Web map"], sheet: ["Bản đồ in A4 (PDF)", "Printable sheet A4 (PDF)"],
    moved: ["Thay đổi thứ hạng so với trước", "Rank changes from before"], none_moved: ["Không xã nào đổi hạng.", "No unit changed rank."],
    unit: ["Xã, phường", "Unit"], score: ["Điểm", "Score"], tier: ["Mức", "Tier"], change: ["Thay đổi", "Change"],
    totals: ["Tổng", "Totals"], cost: ["Chi phí (tỷ đồng)", "Cost (billion VND)"], n_projects: ["Số dự án", "Projects"],
    served: ["Hộ được phục vụ", "Households served"], poor_served: ["Hộ nghèo được phục vụ", "Poor households served"],
    r3_share: ["Tỷ lệ chi cho khu vực III", "Share spent in region III"], solver: ["Lời giải", "Solver"],
    chosen: ["Dự án được chọn", "Chosen projects"], next_best: ["Dự án tiếp theo chưa có vốn", "Next best unfunded projects"],
    project: ["Dự án", "Project"], kind: ["Loại", "Kind"], keep_a: ["Lưu làm phương án A", "Keep as scenario A"],
    keep_b: ["Lưu làm phương án B", "Keep as scenario B"], compare: ["So sánh hai phương án", "The two scenarios side by side"],
    only_in: ["Chỉ có trong", "Only in"], weights_changed: ["Trọng số đã đổi", "Weights changed"], defaults: ["mặc định", "defaults"],
    top10: ["10 xã ưu tiên nhất", "Top 10 units"], running: ["Đang tính…", "Working…"],
    per_billion: ["hộ/tỷ", "hh/billion"], of: ["trên", "of"], all_villages: ["Xem tất cả các bản", "Show every village"],
    measure: ["Chỉ tiêu", "Measure"],
    stable: ["xã giữ nguyên mức khi trọng số dao động ±20%", "units keep their tier when weights vary ±20%"],
  };
  const state = {
    lang: "vi", ind: "poor_rate", year: null, unit: null, weights: {}, budget: null, r3: null, maxpu: null,
    districts: true, communes: false, villages: true, infra: false, plan: true,
  };
  const t = (key) => (WORDS[key] ? WORDS[key][state.lang === "en" ? 1 : 0] : key);
  const both = (key) => WORDS[key][0] + " / " + WORDS[key][1];
  const label = (obj) => (state.lang === "en" ? obj.label_en || obj.label_vi : obj.label_vi);
  const nf = () => new Intl.NumberFormat(state.lang === "en" ? "en-GB" : "vi-VN", { maximumFractionDigits: 2 });
  const fmt = (v, digits) => (v === null || v === undefined || Number.isNaN(v) ? "–"
    : new Intl.NumberFormat(state.lang === "en" ? "en-GB" : "vi-VN", { maximumFractionDigits: digits === undefined ? 2 : digits }).format(v));
  const esc = (s) => String(s === null || s === undefined ? "" : s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);

  let data = null, byCode = {}, map = null, ranking = {}, defaultRanking = {}, plan = null, scenarios = { A: null, B: null };
  let moved = [], lastPlanInputs = null;
  window.atlasTimings = { rerank: [], firstMap: null };
  const problems = [];

  // ---------------------------------------------------------------------------------------------
  // messages in place, in both languages
  function notice(vi, en, kind) {
    const box = $("#notice");
    if (!vi) { box.hidden = true; box.textContent = ""; return; }
    box.className = "notice" + (kind === "info" ? " info" : "");
    box.textContent = vi + "\n" + en;
    box.hidden = false;
  }
  function fieldError(id, vi, en) {
    const input = $("#" + id), out = $("#" + id + "-error");
    if (vi) { input.setAttribute("aria-invalid", "true"); out.textContent = vi + " / " + en; }
    else { input.removeAttribute("aria-invalid"); out.textContent = ""; }
  }

  // ---------------------------------------------------------------------------------------------
  // the address bar keeps the state
  function parseNumber(text) {
    const s = String(text).trim().replace(/\s/g, "");
    if (!/^-?\d+([.,]\d+)?$/.test(s)) return NaN;
    return Number(s.replace(",", "."));
  }
  function readAddress() {
    const q = new URLSearchParams(location.search);
    if (q.get("lang") === "en") state.lang = "en";
    const ids = data.indicators.map((i) => i.id);
    if (q.has("ind")) {
      if (ids.includes(q.get("ind"))) state.ind = q.get("ind");
      else problems.push([`Không có chỉ tiêu “${q.get("ind")}”: dùng tỷ lệ hộ nghèo.`, `No indicator “${q.get("ind")}”: showing the poverty rate.`]);
    }
    if (q.has("year")) {
      const y = Number(q.get("year"));
      if (data.years.includes(y)) state.year = y;
      else problems.push([`Năm ${q.get("year")} không có số liệu (${data.years[0]}–${data.years.at(-1)}).`, `No figures for year ${q.get("year")} (${data.years[0]}–${data.years.at(-1)}).`]);
    }
    if (q.has("unit")) {
      const code = q.get("unit");
      if (byCode[code]) state.unit = code;
      else problems.push([`Không có xã, phường mã “${code}”.`, `No 2025 unit has the code “${code}”.`]);
    }
    if (q.has("w")) {
      const known = Object.fromEntries(data.criteria.map((c) => [c.id, c]));
      for (const part of q.get("w").split(",")) {
        const [id, raw] = part.split(":");
        const v = parseNumber(raw === undefined ? "" : raw);
        if (!known[id]) problems.push([`Không có tiêu chí “${id}” trong hồ sơ ưu tiên.`, `The priority profile has no criterion “${id}”.`]);
        else if (!(v >= 0 && v <= 1)) problems.push([`Trọng số của “${known[id].label_vi}” phải từ 0 đến 1, không phải “${raw}”.`, `The weight of “${known[id].label_en}” must be from 0 to 1, not “${raw}”.`]);
        else state.weights[id] = v;
      }
    }
    for (const [key, id] of [["budget", "budget"], ["r3", "r3"], ["maxpu", "maxpu"]]) {
      if (q.has(key)) { $("#" + id).value = q.get(key); }
    }
    for (const key of ["districts", "communes", "villages", "infra", "plan"]) {
      if (q.has(key)) state[key] = q.get(key) === "1";
    }
  }
  function writeAddress() {
    const q = new URLSearchParams();
    if (state.lang !== "vi") q.set("lang", state.lang);
    q.set("ind", state.ind);
    if (state.year) q.set("year", state.year);
    if (state.unit) q.set("unit", state.unit);
    const changed = Object.entries(state.weights).filter(([id, v]) => v !== defaultWeight(id));
    if (changed.length) q.set("w", changed.map(([id, v]) => id + ":" + v).join(","));
    for (const id of ["budget", "r3", "maxpu"]) if ($("#" + id).value.trim()) q.set(id, $("#" + id).value.trim());
    for (const key of ["districts", "communes", "villages", "infra", "plan"]) q.set(key, state[key] ? "1" : "0");
    history.replaceState(null, "", location.pathname + "?" + q.toString());
  }
  const defaultWeight = (id) => data.criteria.find((c) => c.id === id).weight;

  // ---------------------------------------------------------------------------------------------
  // language
  function applyLanguage() {
    document.documentElement.lang = state.lang;
    for (const el of $$("[data-i18n]")) el.textContent = t(el.dataset.i18n);
    const button = $("#lang");
    button.textContent = state.lang === "en" ? "Tiếng Việt" : "English";
    button.lang = state.lang === "en" ? "vi" : "en";
    button.setAttribute("aria-label", button.textContent);
    document.title = t("title");
    $("#search").placeholder = state.lang === "en" ? "e.g. chieng noi" : "vd. chieng noi";
    fillIndicators();
    renderLegend();
    renderWeights();
    renderRanking();
    if (state.unit) renderUnit(state.unit); else $("#pane-unit").innerHTML = `<p class="hint">${esc(t("pick_unit"))}</p>`;
    renderPlan();
    renderRelease();
  }
  function renderRelease() {
    const r = A.release;
    const parts = [];
    if (r) parts.push(`${t("release")} ${r.number} (${String(r.published_at).slice(0, 10)})`);
    if (data) parts.push(`${state.lang === "en" ? "data built" : "dữ liệu dựng"} ${data.built_at.slice(0, 10)}`);
    $("#release").textContent = parts.join(" · ");
  }

  // ---------------------------------------------------------------------------------------------
  // indicator, year, colours
  const indicator = () => data.indicators.find((i) => i.id === state.ind);
  function fieldOf(ind) { return ind.years ? ind.field.replace("{year}", state.year || ind.years.at(-1)) : ind.field; }
  function value(unit, ind) {
    if (ind.id === "score" || ind.id === "tier") { const r = ranking[unit.unit_code]; return r ? r[ind.id] : unit[ind.id]; }
    return unit[fieldOf(ind)];
  }
  function classOf(v, ind) {
    if (v === null || v === undefined || Number.isNaN(v)) return -1;
    let k = 0; while (k < ind.breaks.length && v >= ind.breaks[k]) k++;
    return k;
  }
  function colourExpression() {
    const ind = indicator(), expr = ["match", ["get", "code"]];
    for (const u of data.units) { const k = classOf(value(u, ind), ind); expr.push(u.unit_code, k < 0 ? "#cccccc" : ind.colours[k]); }
    expr.push("#cccccc");
    return expr;
  }
  function fillIndicators() {
    const sel = $("#indicator");
    sel.innerHTML = data.indicators.map((i) => `<option value="${i.id}"${i.id === state.ind ? " selected" : ""}>${esc(label(i))}</option>`).join("");
    const ind = indicator(), year = $("#year");
    year.disabled = !ind.years;
    year.innerHTML = (ind.years || ["–"]).map((y) => `<option${y === (state.year || (ind.years || []).at(-1)) ? " selected" : ""}>${y}</option>`).join("");
  }
  function renderLegend() {
    const ind = indicator();
    const counts = new Array(ind.colours.length).fill(0);
    for (const u of data.units) { const k = classOf(value(u, ind), ind); if (k >= 0) counts[k]++; }
    const labels = ind.classes || ind.colours.map((_, k) => k === 0 ? `< ${fmt(ind.breaks[0])}`
      : k === ind.breaks.length ? `≥ ${fmt(ind.breaks.at(-1))}` : `${fmt(ind.breaks[k - 1])}–${fmt(ind.breaks[k])}`);
    const year = ind.years ? ` ${state.year || ind.years.at(-1)}` : "";
    $("#legend").innerHTML = `<h2>${esc(label(ind))}${year}${ind.unit ? " (" + esc(ind.unit) + ")" : ""}</h2><ul>` +
      ind.colours.map((c, k) => `<li><span class="swatch" style="background:${c}" aria-hidden="true"></span>${esc(labels[k])} <span class="hint">(${counts[k]})</span></li>`).join("") +
      `</ul>`;
  }
  function recolour() {
    if (map && map.getLayer("units-fill")) {
      const colours = colourExpression();
      for (const id of ["units-fill", "units-fill-overview"]) map.setPaintProperty(id, "fill-color", colours);
    }
    renderLegend();
  }

  // ---------------------------------------------------------------------------------------------
  // the map
  function tiles(layer) { return [`${OGC}/collections/${layer}/tiles/WebMercatorQuad/{z}/{y}/{x}`]; }
  function buildMap() {
    const b = data.units.reduce((a, u) => [Math.min(a[0], u.bbox[0]), Math.min(a[1], u.bbox[1]), Math.max(a[2], u.bbox[2]), Math.max(a[3], u.bbox[3])], [180, 90, -180, -90]);
    // 512 px tiles: a quarter of the requests of 256 px ones for the same view, on links where each costs a round trip
    const vector = (layer, minzoom) => ({ type: "vector", tiles: tiles(layer), tileSize: 512, minzoom: minzoom || 0, maxzoom: 12, bounds: b });
    // below zoom 9 the units and former districts are drawn from the simplified shapes in data.json: the first view
    // needs no tile at all; the tiles take over when the map is zoomed in
    const FROM_TILES = 9;
    const both = (layer) => [
      Object.assign({}, layer, { id: layer.id + "-overview", source: layer.source + "Overview", maxzoom: FROM_TILES }),
      Object.assign({}, layer, { "source-layer": layer.sourceLayer, minzoom: FROM_TILES }),
    ].map((l) => { const out = Object.assign({}, l); delete out.sourceLayer; return out; });
    const started = performance.now();
    map = new maplibregl.Map({
      container: "map",
      bounds: [[b[0], b[1]], [b[2], b[3]]],
      fitBoundsOptions: { padding: 10 },
      attributionControl: { compact: true, customAttribution: data.synthetic ? "Dữ liệu minh họa / demo data" : "" },
      style: {
        version: 8,
        glyphs: `${BASE}/app/fonts/{fontstack}/{range}.pbf`,
        sources: {
          units: vector("units_2025", FROM_TILES), districts: vector("districts_2024", FROM_TILES), communes: vector("communes_2024"),
          unitsOverview: { type: "geojson", data: data.overview.units },
          districtsOverview: { type: "geojson", data: data.overview.districts },
          villages: vector("priority_villages", 9), health: vector("health_stations", 9), schools: vector("schools", 9),
          markets: vector("markets", 9), bridges: vector("bridges", 9), roads: vector("roads", 9),
          plan: { type: "geojson", data: { type: "FeatureCollection", features: [] } },
          labels: { type: "geojson", data: { type: "FeatureCollection", features: data.units.map((u) => ({ type: "Feature", properties: { code: u.unit_code, name: u.name }, geometry: { type: "Point", coordinates: u.centre } })) } },
        },
        layers: [
          { id: "background", type: "background", paint: { "background-color": "#e9eef2" } },
          ...both({ id: "units-fill", type: "fill", source: "units", sourceLayer: "units_2025", paint: { "fill-color": colourExpression(), "fill-opacity": 0.85 } }),
          ...both({ id: "units-line", type: "line", source: "units", sourceLayer: "units_2025", paint: { "line-color": "#3c3c3c", "line-width": 0.7 } }),
          { id: "communes-line", type: "line", source: "communes", "source-layer": "communes_2024", layout: { visibility: state.communes ? "visible" : "none" }, paint: { "line-color": "#555", "line-width": 0.6, "line-dasharray": [3, 2] } },
          ...both({ id: "districts-line", type: "line", source: "districts", sourceLayer: "districts_2024", layout: { visibility: state.districts ? "visible" : "none" }, paint: { "line-color": "#5e3c99", "line-width": 2 } }),
          ...both({ id: "unit-selected", type: "line", source: "units", sourceLayer: "units_2025", filter: ["==", ["get", "code"], ""], paint: { "line-color": "#000", "line-width": 3 } }),
          { id: "villages", type: "symbol", source: "villages", "source-layer": "priority_villages", minzoom: 9, layout: { visibility: state.villages ? "visible" : "none", "icon-image": ["case", ["==", ["get", "especially_difficult_2026_2030"], 1], "village_difficult", "village"], "icon-size": ["interpolate", ["linear"], ["zoom"], 9, 0.55, 13, 0.9], "icon-allow-overlap": true } },
          { id: "infra-roads", type: "line", source: "roads", "source-layer": "roads", minzoom: 9, layout: { visibility: state.infra ? "visible" : "none" },
            paint: { "line-width": 1.4, "line-color": ["match", ["get", "surface"], ...data.surfaces.flat(), "#777777"] } },
          ...[["health", "health_stations", "health_station"], ["schools", "schools", "school"], ["markets", "markets", "market"], ["bridges", "bridges", "bridge"]].map(([src, layer, icon]) => (
            { id: "infra-" + src, type: "symbol", source: src, "source-layer": layer, minzoom: 9, layout: { visibility: state.infra ? "visible" : "none", "icon-image": icon, "icon-size": 0.8, "icon-allow-overlap": true } })),
          { id: "plan", type: "symbol", source: "plan", layout: { visibility: state.plan ? "visible" : "none", "icon-image": "project", "icon-size": 0.9, "icon-allow-overlap": true } },
          { id: "unit-labels", type: "symbol", source: "labels", minzoom: 8.3, layout: { "text-field": ["get", "name"], "text-font": ["DejaVu Sans"], "text-size": 11, "text-max-width": 8 }, paint: { "text-color": "#1a1a1a", "text-halo-color": "#ffffff", "text-halo-width": 1.4 } },
        ],
      },
    });
    window.atlasMap = map;  // for tests and benchmarks: whether the map is still moving or loading
    map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-left");
    map.addControl(new maplibregl.ScaleControl({ unit: "metric" }), "bottom-left");
    map.once("idle", () => {
      window.atlasTimings.firstMap = performance.now() - started;
      document.body.dataset.mapReady = "1";
      // the icons are for villages, facilities (zoom 9 and closer) and projects: not needed for the first view
      map.setSprite(`${BASE}/app/sprites/atlas`);
    });
    for (const id of ["units-fill", "units-fill-overview"]) {
      map.on("click", id, (e) => { if (e.features.length) selectUnit(e.features[0].properties.code, false); });
      map.on("mouseenter", id, () => { map.getCanvas().style.cursor = "pointer"; });
      map.on("mouseleave", id, () => { map.getCanvas().style.cursor = ""; });
    }
    map.on("moveend", updatePrintLink);
    map.on("load", updatePrintLink);
  }
  function updatePrintLink() {
    const b = map.getBounds(), r = (v) => Math.round(v * 1e4) / 1e4;
    const ind = ["score", "tier"].includes(state.ind) ? "priority" : "poverty";
    $("#print-view").href = `${BASE}/maps/print/province.pdf?paper=A3&orientation=landscape&indicator=${ind}&bbox=${r(b.getWest())},${r(b.getSouth())},${r(b.getEast())},${r(b.getNorth())}`;
  }
  function setVisible(layer, on) { if (map && map.getLayer(layer)) map.setLayoutProperty(layer, "visibility", on ? "visible" : "none"); }

  // ---------------------------------------------------------------------------------------------
  // the unit panel
  function selectUnit(code, fly) {
    if (!byCode[code]) { notice(`Không có xã, phường mã “${code}”.`, `No 2025 unit has the code “${code}”.`); return; }
    state.unit = code;
    if (map) {
      for (const id of ["unit-selected", "unit-selected-overview"]) map.setFilter(id, ["==", ["get", "code"], code]);
      if (fly) map.fitBounds([[byCode[code].bbox[0], byCode[code].bbox[1]], [byCode[code].bbox[2], byCode[code].bbox[3]]], { padding: 40, duration: 600 });
    }
    showTab("unit");
    renderUnit(code);
    renderRanking();
    writeAddress();
  }
  function trendChart(u) {
    const years = data.years, vals = years.map((y) => u["poor_rate_" + y]);
    const w = 320, h = 120, l = 24, r = 24, top = 14, bottom = 20;
    const max = Math.max(5, ...vals.filter((v) => v !== null)) * 1.1;
    const x = (i) => l + (i * (w - l - r)) / (years.length - 1), y = (v) => top + (h - top - bottom) * (1 - v / max);
    const pts = vals.map((v, i) => (v === null ? null : [x(i), y(v)])).filter(Boolean);
    return `<svg class="chart" viewBox="0 0 ${w} ${h}" role="img" aria-label="${esc(t("trend"))} ${years[0]}–${years.at(-1)}: ${vals.map((v) => fmt(v, 1) + "%").join(", ")}">` +
      `<line x1="${l}" y1="${h - bottom}" x2="${w - r}" y2="${h - bottom}" stroke="#999"/>` +
      `<polyline fill="none" stroke="#c0392b" stroke-width="2" points="${pts.map((p) => p.join(",")).join(" ")}"/>` +
      pts.map((p, i) => `<circle cx="${p[0]}" cy="${p[1]}" r="3" fill="#c0392b"/><text x="${p[0]}" y="${p[1] - 5}" text-anchor="middle">${fmt(vals[i], 1)}</text>`).join("") +
      years.map((yr, i) => `<text x="${x(i)}" y="${h - 5}" text-anchor="middle">${yr}</text>`).join("") + `</svg>`;
  }
  function row(key, v, raw, field) {
    return `<tr><th scope="row">${esc(t(key))}</th><td class="num" data-field="${field}" data-value="${raw === null || raw === undefined ? "" : raw}">${v}</td></tr>`;
  }
  function renderUnit(code) {
    const u = byCode[code], r = ranking[code] || {}, pane = $("#pane-unit");
    const region = u.region_class ? ["I", "II", "III"][u.region_class - 1] : "–";
    const contributions = data.criteria.map((c) => [c, r["c_" + c.id] !== undefined ? r["c_" + c.id] : u["c_" + c.id]]);
    const maxC = Math.max(1, ...contributions.map(([, v]) => v || 0));
    pane.innerHTML = `<h2 id="unit-name">${esc(u.name)}</h2>
      <p class="hint">${esc(t("former_districts"))}: ${esc(u.former_districts)} · ${esc(u.unit_code)}${u.region_source === "demo" || data.synthetic ? " · " + esc(t("demo")) : ""}</p>
      <table aria-label="${esc(u.name)}"><tbody>
      ${row("households", fmt(u.households, 0), u.households, "households")}
      ${row("poor", fmt(u.poor_households, 0), u.poor_households, "poor_households")}
      ${row("poor_rate", fmt(u.poor_rate) + "%", u.poor_rate, "poor_rate")}
      ${row("near_poor", fmt(u.near_poor_households, 0), u.near_poor_households, "near_poor_households")}
      ${row("near_poor_rate", fmt(u.near_poor_rate) + "%", u.near_poor_rate, "near_poor_rate")}
      ${row("ethnic", fmt(u.ethnic_minority_share) + "%", u.ethnic_minority_share, "ethnic_minority_share")}
      ${row("region", region, u.region_class, "region_class")}
      ${row("difficult", `${fmt(u.n_especially_difficult_villages, 0)} / ${fmt(u.n_villages, 0)}`, u.n_especially_difficult_villages, "n_especially_difficult_villages")}
      ${row("deprivation", fmt(u.deprivation_intensity), u.deprivation_intensity, "deprivation_intensity")}
      ${row("minutes", `${fmt(u.mean_minutes_to_health_stations, 0)} / ${fmt(u.mean_minutes_to_schools, 0)} / ${fmt(u.mean_minutes_to_markets, 0)}`, u.mean_minutes_to_health_stations, "mean_minutes_to_health_stations")}
      </tbody></table>
      <h3>${esc(t("trend"))} ${data.years[0]}–${data.years.at(-1)} (%)</h3>${trendChart(u)}
      <h3>${esc(t("rank"))}: <span id="unit-rank" data-value="${r.rank || u.rank}">${fmt(r.rank || u.rank, 0)}</span> ${esc(t("of"))} ${data.units.length} · ${esc(r.tier_label || u.tier_label || "")} · ${esc(t("score"))} ${fmt(r.score !== undefined ? r.score : u.score, 1)}</h3>
      <p class="hint">${esc(t("contributions"))}</p>
      <table class="contrib"><tbody>${contributions.map(([c, v]) => `<tr><th scope="row">${esc(label(c))}</th><td><span class="bar" style="width:${Math.round((100 * (v || 0)) / maxC)}px"></span></td><td class="num" data-criterion="${c.id}">${fmt(v, 1)}</td></tr>`).join("")}</tbody></table>
      <p><a href="${BASE}/maps/unit-${u.unit_code}.html" target="_blank" rel="noopener">${esc(t("web_map"))}</a> ·
         <a href="${BASE}/maps/print/unit-${u.unit_code}.pdf?paper=A4&amp;orientation=portrait" target="_blank" rel="noopener">${esc(t("sheet"))}</a></p>
      <h3>${esc(t("communes_2024"))}</h3>
      <ul class="communes">${u.communes_2024.map((c) => `<li>${esc(c.name)} <span class="hint">(${esc(c.district_name)}, ${fmt(c.poor_rate, 1)}% ${c.latest_year || ""})</span></li>`).join("")}</ul>
      <h3>${esc(t("villages_of"))}</h3><div id="unit-villages" class="hint">${esc(t("running"))}</div>`;
    fetch(`${BASE}/app/units/${code}.json`).then((res) => res.json()).then((d) => {
      if (state.unit !== code) return;
      const shown = (all) => (all ? d.villages : d.villages.slice(0, 12));
      const draw = (all) => {
        $("#unit-villages").innerHTML = `<table><thead><tr><th>#</th><th>${esc(state.lang === "en" ? "Village" : "Bản")}</th><th class="num">${esc(t("households"))}</th><th class="num">${esc(t("poor_rate"))}</th></tr></thead><tbody>` +
          shown(all).map((v) => `<tr><td>${v.rank_in_unit}</td><td>${v.especially_difficult_2026_2030 ? "▲ " : ""}${esc(v.name)}</td><td class="num">${fmt(v.households_latest, 0)}</td><td class="num">${fmt(v.poor_rate_2026, 1)}%</td></tr>`).join("") +
          `</tbody></table>` + (!all && d.villages.length > 12 ? `<button type="button" id="all-villages">${esc(t("all_villages"))} (${d.villages.length})</button>` : "");
        const more = $("#all-villages"); if (more) more.addEventListener("click", () => draw(true));
      };
      draw(false);
    }).catch(() => { $("#unit-villages").textContent = "–"; });
  }

  // ---------------------------------------------------------------------------------------------
  // priority: weights, re-rank through the `priority` process
  function renderWeights() {
    $("#weights").innerHTML = data.criteria.map((c) => {
      const v = state.weights[c.id] !== undefined ? state.weights[c.id] : c.weight;
      return `<div class="weight"><label for="w-${c.id}">${esc(label(c))}</label><input type="range" id="w-${c.id}" data-id="${c.id}" min="0" max="1" step="0.01" value="${v}"><output for="w-${c.id}" id="o-${c.id}">${v.toFixed(2)}</output></div>`;
    }).join("");
    for (const input of $$("#weights input")) {
      input.addEventListener("input", () => {
        if (!["score", "tier"].includes(state.ind)) { state.ind = "score"; fillIndicators(); recolour(); }  // show what moves
        state.weights[input.dataset.id] = Number(input.value);
        $("#o-" + input.dataset.id).textContent = Number(input.value).toFixed(2);
        scheduleRerank();
      });
    }
  }
  let rerankTimer = null, rerankSeq = 0;
  function scheduleRerank() { clearTimeout(rerankTimer); rerankTimer = setTimeout(rerank, 120); }
  async function priority(extra) {
    const weights = Object.fromEntries(data.criteria.map((c) => [c.id, state.weights[c.id] !== undefined ? state.weights[c.id] : c.weight]));
    const res = await fetch(`${OGC}/processes/priority/execution`, {
      method: "POST", headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ inputs: Object.assign({ weights, geometry: false, draws: 0 }, extra || {}) }),
    });
    const body = await res.json();
    if (!res.ok) throw new Error(body.description || res.status);
    return body;
  }
  async function rerank() {
    const weights = data.criteria.map((c) => (state.weights[c.id] !== undefined ? state.weights[c.id] : c.weight));
    if (!weights.some((w) => w > 0)) {
      notice("Cần ít nhất một trọng số lớn hơn 0 để xếp hạng.", "At least one weight must be above 0 to rank.");
      return;
    }
    notice(null);
    const seq = ++rerankSeq, started = performance.now();
    let body;
    try { body = await priority(); } catch (err) {
      notice(`Không xếp hạng được: ${err.message}`, `Could not rank: ${err.message}`); return;
    }
    if (seq !== rerankSeq) return;  // a newer change is on its way
    const before = ranking;
    ranking = Object.fromEntries(body.ranking.features.map((f) => [f.properties.unit_code, f.properties]));
    moved = Object.keys(ranking).map((code) => ({ code, from: before[code] ? before[code].rank : null, to: ranking[code].rank }))
      .filter((m) => m.from !== null && m.from !== m.to).sort((a, b) => Math.abs(b.to - b.from) - Math.abs(a.to - a.from));
    recolour();
    renderRanking();
    if (state.unit) renderUnit(state.unit);
    writeAddress();
    map.once("idle", () => { window.atlasTimings.rerank.push(performance.now() - started); document.body.dataset.ranked = String(seq); });
    map.triggerRepaint();
  }
  function renderRanking() {
    if (!data) return;
    const rows = data.units.map((u) => ({ u, r: ranking[u.unit_code] || u })).sort((a, b) => a.r.rank - b.r.rank);
    const movedHtml = moved.length
      ? `<ul class="moved">${moved.slice(0, 12).map((m) => `<li data-unit="${m.code}">${esc(byCode[m.code].name)}: ${m.from} → ${m.to} <span class="${m.to < m.from ? "up" : "down"}">(${m.to < m.from ? "▲" : "▼"} ${Math.abs(m.to - m.from)})</span></li>`).join("")}${moved.length > 12 ? `<li>… +${moved.length - 12}</li>` : ""}</ul>`
      : `<p class="hint">${esc(t("none_moved"))}</p>`;
    $("#pane-rank").innerHTML = `<h3>${esc(t("moved"))}</h3>${movedHtml}
      <table id="ranking"><thead><tr><th class="num">#</th><th>${esc(t("unit"))}</th><th class="num">${esc(t("score"))}</th><th>${esc(t("tier"))}</th><th class="num">${esc(t("poor_rate"))}</th></tr></thead><tbody>` +
      rows.map(({ u, r }) => `<tr data-unit="${u.unit_code}"${u.unit_code === state.unit ? ' class="selected"' : ""}><td class="num">${r.rank}</td><td><button type="button" class="unit-link" data-unit="${u.unit_code}">${esc(u.name)}</button></td><td class="num">${fmt(r.score, 1)}</td><td>${esc((r.tier_label || "").split(" / ")[state.lang === "en" ? 1 : 0] || "")}</td><td class="num">${fmt(u.poor_rate, 1)}</td></tr>`).join("") +
      `</tbody></table>`;
    for (const b of $$("#pane-rank button.unit-link")) b.addEventListener("click", () => selectUnit(b.dataset.unit, true));
  }
  async function sensitivity() {
    const out = $("#sensitivity-result");
    out.textContent = t("running");
    try {
      const body = await priority({ draws: 500 });
      out.textContent = `${body.summary.units_stable} / ${body.summary.units} ${t("stable")}`;
    } catch (err) { out.textContent = err.message; }
  }

  // ---------------------------------------------------------------------------------------------
  // plan: budget and options, the `plan` process, two scenarios side by side
  function planInputs() {
    let ok = true;
    const budget = parseNumber($("#budget").value);
    fieldError("budget"); fieldError("r3"); fieldError("maxpu");
    if ($("#budget").value.trim() === "") { fieldError("budget", "Cần nhập ngân sách (tỷ đồng), vd. 50.", "Enter a budget in billion VND, e.g. 50."); ok = false; }
    else if (Number.isNaN(budget)) { fieldError("budget", `“${$("#budget").value}” không phải là số: nhập số tỷ đồng, vd. 50 hoặc 12,5.`, `“${$("#budget").value}” is not a number: enter billions of VND, e.g. 50 or 12.5.`); ok = false; }
    else if (!(budget > 0 && budget <= 1e6)) { fieldError("budget", "Ngân sách phải lớn hơn 0 và không quá 1.000.000 tỷ đồng.", "The budget must be above 0 and at most 1,000,000 billion VND."); ok = false; }
    const inputs = { budget: budget * 1e9, next_best: 10 };
    if ($("#r3").value.trim() !== "") {
      const r3 = parseNumber($("#r3").value);
      if (!(r3 >= 0 && r3 <= 100)) { fieldError("r3", "Tỷ lệ khu vực III phải là số từ 0 đến 100.", "The region III share must be a number from 0 to 100."); ok = false; }
      else inputs.min_region_iii_share = r3 / 100;
    }
    if ($("#maxpu").value.trim() !== "") {
      const m = parseNumber($("#maxpu").value);
      if (!(Number.isInteger(m) && m >= 1 && m <= 10000)) { fieldError("maxpu", "Số dự án tối đa mỗi xã phải là số nguyên từ 1 đến 10.000.", "The most projects per unit must be a whole number from 1 to 10,000."); ok = false; }
      else inputs.max_projects_per_unit = m;
    }
    return ok ? inputs : null;
  }
  async function runPlan(event) {
    if (event) event.preventDefault();
    const inputs = planInputs();
    writeAddress();
    if (!inputs) return;
    const button = $("#run-plan");
    button.disabled = true; button.textContent = t("running");
    try {
      const res = await fetch(`${OGC}/processes/plan/execution`, {
        method: "POST", headers: { "Content-Type": "application/json", Accept: "application/json" }, body: JSON.stringify({ inputs }),
      });
      const body = await res.json();
      if (!res.ok) throw new Error(body.description || String(res.status));
      plan = body; lastPlanInputs = inputs;
      map.getSource("plan").setData(plan.chosen);
      notice(null);
      showTab("plan");
      renderPlan();
      document.body.dataset.planned = String((Number(document.body.dataset.planned) || 0) + 1);
    } catch (err) {
      notice(`Không lập được kế hoạch: ${err.message}`, `Could not run the plan: ${err.message}`);
    } finally { button.disabled = false; button.textContent = t("run_plan"); }
  }
  const billions = (v) => fmt(v / 1e9, 2);
  function planTotals(p) {
    const tt = p.totals;
    return `<dl class="totals" id="plan-totals">
      <dt>${esc(t("n_projects"))}</dt><dd data-field="projects" data-value="${tt.projects}">${fmt(tt.projects, 0)}</dd>
      <dt>${esc(t("cost"))}</dt><dd data-field="cost_vnd" data-value="${tt.cost_vnd}">${billions(tt.cost_vnd)} / ${billions(tt.budget_vnd)}</dd>
      <dt>${esc(t("served"))}</dt><dd data-field="households_served" data-value="${tt.households_served}">${fmt(tt.households_served, 0)}</dd>
      <dt>${esc(t("poor_served"))}</dt><dd data-field="poor_households_served" data-value="${tt.poor_households_served}">${fmt(tt.poor_households_served, 0)}</dd>
      <dt>${esc(t("r3_share"))}</dt><dd data-field="region_iii_cost_share" data-value="${tt.region_iii_cost_share}">${fmt(100 * tt.region_iii_cost_share, 1)}%</dd>
      <dt>${esc(t("solver"))}</dt><dd>${esc(tt.solver)} · ${esc(tt.status)} · ${fmt(tt.seconds, 1)} s</dd></dl>`;
  }
  const projectName = (p) => (state.lang === "en" ? p.name_en : p.name_vi);
  function renderPlan() {
    const pane = $("#pane-plan");
    if (!plan) { pane.innerHTML = `<p class="hint">${esc(t("no_plan"))}</p>` + renderCompare(); bindScenarios(); return; }
    const chosen = plan.chosen.features.map((f) => f.properties);
    pane.innerHTML = `<h3>${esc(t("totals"))}</h3>${planTotals(plan)}
      <p><button type="button" id="keep-a">${esc(t("keep_a"))}</button> <button type="button" id="keep-b">${esc(t("keep_b"))}</button></p>
      ${renderCompare()}
      <h3>${esc(t("chosen"))} (${chosen.length})</h3>
      <table id="plan-table"><thead><tr><th>${esc(t("project"))}</th><th>${esc(t("unit"))}</th><th class="num">${esc(t("cost"))}</th><th class="num">${esc(t("served"))}</th></tr></thead><tbody>` +
      chosen.map((p) => `<tr data-project="${esc(p.project_id)}"><td>${esc(projectName(p))}</td><td>${esc(p.unit_2025_name)}</td><td class="num">${billions(p.cost_vnd)}</td><td class="num">${fmt(p.households_served, 0)}</td></tr>`).join("") +
      `</tbody></table><h3>${esc(t("next_best"))}</h3><table id="next-best"><thead><tr><th>${esc(t("project"))}</th><th>${esc(t("unit"))}</th><th class="num">${esc(t("cost"))}</th><th class="num">${esc(t("per_billion"))}</th></tr></thead><tbody>` +
      plan.next_best.map((p) => `<tr><td>${esc(projectName(p))}</td><td>${esc(p.unit_2025_name)}</td><td class="num">${billions(p.added_cost_vnd)}</td><td class="num">${fmt(p.households_per_billion_vnd, 1)}</td></tr>`).join("") + `</tbody></table>`;
    bindScenarios();
  }
  function keep(which) {
    const top = Object.values(ranking).sort((a, b) => a.rank - b.rank).slice(0, 10).map((r) => r.unit_code);
    scenarios[which] = {
      totals: plan.totals, inputs: lastPlanInputs, projects: plan.chosen.features.map((f) => f.properties.project_id),
      weights: Object.fromEntries(Object.entries(state.weights).filter(([id, v]) => v !== defaultWeight(id))), top,
    };
    renderPlan();
  }
  function bindScenarios() {
    const a = $("#keep-a"), b = $("#keep-b");
    if (a) a.addEventListener("click", () => keep("A"));
    if (b) b.addEventListener("click", () => keep("B"));
  }
  function renderCompare() {
    const [a, b] = [scenarios.A, scenarios.B];
    if (!a && !b) return "";
    const cell = (s, f) => (s ? f(s) : "–");
    const onlyIn = (x, y) => (x && y ? x.projects.filter((p) => !y.projects.includes(p)).length : "–");
    const named = (id) => label(data.criteria.find((c) => c.id === id));
    const w = (s) => (Object.keys(s.weights).length ? Object.entries(s.weights).map(([k, v]) => `${esc(named(k))} ${fmt(v)}`).join(", ") : t("defaults"));
    const top = (s, o) => s.top.map((c) => (o && !o.top.includes(c) ? `<strong>${esc(byCode[c].name)}</strong>` : esc(byCode[c].name))).join(", ");
    const rows = [
      [t("budget"), (s) => billions(s.totals.budget_vnd)],
      [t("n_projects"), (s) => fmt(s.totals.projects, 0)], [t("cost"), (s) => billions(s.totals.cost_vnd)],
      [t("served"), (s) => fmt(s.totals.households_served, 0)], [t("poor_served"), (s) => fmt(s.totals.poor_households_served, 0)],
      [t("r3_share"), (s) => fmt(100 * s.totals.region_iii_cost_share, 1) + "%"], [t("weights_changed"), w],
    ];
    return `<h3>${esc(t("compare"))}</h3><table class="compare" id="compare"><thead><tr><th scope="col">${esc(t("measure"))}</th><th scope="col">A</th><th scope="col">B</th></tr></thead><tbody>` +
      rows.map(([name, f]) => `<tr><th scope="row">${esc(name)}</th><td>${cell(a, f)}</td><td>${cell(b, f)}</td></tr>`).join("") +
      `<tr><th scope="row">${esc(t("only_in"))} A / B</th><td>${onlyIn(a, b)}</td><td>${onlyIn(b, a)}</td></tr>` +
      `<tr><th scope="row">${esc(t("top10"))}</th><td>${cell(a, (s) => top(s, b))}</td><td>${cell(b, (s) => top(s, a))}</td></tr></tbody></table>`;
  }

  // ---------------------------------------------------------------------------------------------
  // exports
  function rankingTable() {
    const rows = data.units.map((u) => Object.assign({ unit_code: u.unit_code, name: u.name, poor_rate: u.poor_rate, poor_households: u.poor_households },
      (({ rank, score, tier_label }) => ({ rank, score, tier_label }))(ranking[u.unit_code] || u))).sort((a, b) => a.rank - b.rank);
    return {
      name: "xep-hang-uu-tien", title: "Xếp hạng ưu tiên các xã, phường 2025 / Priority ranking of the 2025 units",
      columns: [["rank", "Hạng", "Rank"], ["unit_code", "Mã xã", "Unit code"], ["name", "Xã, phường", "Unit"], ["score", "Điểm ưu tiên", "Priority score"],
        ["tier_label", "Mức ưu tiên", "Priority tier"], ["poor_rate", "Tỷ lệ hộ nghèo (%)", "Poverty rate (%)"], ["poor_households", "Số hộ nghèo", "Poor households"]]
        .map(([key, vi, en]) => ({ key, vi, en })),
      rows, notes: notes(),
    };
  }
  function planTable() {
    return {
      name: "ke-hoach-dau-tu", title: "Danh mục dự án được chọn / Chosen projects",
      columns: [["project_id", "Mã dự án", "Project id"], ["name_vi", "Dự án", "Project"], ["kind_label", "Loại", "Kind"], ["unit_2025_code", "Mã xã", "Unit code"],
        ["unit_2025_name", "Xã, phường", "Unit"], ["cost_vnd", "Chi phí (đồng)", "Cost (VND)"], ["households_served", "Hộ được phục vụ", "Households served"],
        ["poor_households_served", "Hộ nghèo được phục vụ", "Poor households served"]].map(([key, vi, en]) => ({ key, vi, en })),
      rows: plan.chosen.features.map((f) => f.properties), notes: notes(),
    };
  }
  function notes() {
    return [location.href, data.synthetic ? "Dữ liệu minh họa (mô phỏng), không phải số liệu chính thức / demo data (synthetic), not official figures" : "",
      A.release ? `Bản phát hành / release ${A.release.number}` : ""].filter(Boolean);
  }
  async function download(kind) {
    const [what, fmtName] = kind.split("-");
    if (what === "plan" && !plan) { notice("Chưa có kế hoạch để xuất: lập kế hoạch trước.", "There is no plan to export yet: run the plan first."); return; }
    let url, body;
    if (fmtName === "xlsx" || fmtName === "csv") { url = `${BASE}/app/export/table.${fmtName}`; body = what === "plan" ? planTable() : rankingTable(); }
    else { url = `${BASE}/app/export/features.${fmtName}`; body = { name: "du-an-duoc-chon", type: "FeatureCollection", features: plan.chosen.features }; }
    const res = await fetch(url, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    if (!res.ok) { const e = await res.json().catch(() => ({})); notice(`Không xuất được: ${e.detail || e.description || res.status}`, `Could not export: ${e.detail || e.description || res.status}`); return; }
    const blob = await res.blob(), a = document.createElement("a");
    a.href = URL.createObjectURL(blob); a.download = `${body.name}.${fmtName}`;
    document.body.appendChild(a); a.click(); a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10000);
  }

  // ---------------------------------------------------------------------------------------------
  // search: accent-insensitive, through the atlas's name resolver
  let searchTimer = null, results = [], active = -1;
  function showResults(places) {
    results = places; active = -1;
    const list = $("#search-results"), input = $("#search");
    if (!places.length) { list.innerHTML = `<li role="option" aria-disabled="true">${esc(state.lang === "en" ? "No place found" : "Không tìm thấy")}</li>`; }
    else list.innerHTML = places.map((p, i) => `<li role="option" id="opt-${i}" data-i="${i}" aria-selected="false"><strong>${esc(p.name)}</strong> <span class="kind">${esc(state.lang === "en" ? p.kind_en : p.kind_vi)}</span><br><span class="kind">${esc(state.lang === "en" ? p.note_en : p.note_vi)}</span></li>`).join("");
    list.hidden = false; input.setAttribute("aria-expanded", "true");
    for (const li of $$("li[data-i]", list)) li.addEventListener("mousedown", (e) => { e.preventDefault(); choose(Number(li.dataset.i)); });
  }
  function hideResults() { $("#search-results").hidden = true; $("#search").setAttribute("aria-expanded", "false"); $("#search").removeAttribute("aria-activedescendant"); }
  function choose(i) {
    const p = results[i]; if (!p) return;
    hideResults();
    $("#search").value = p.name;
    if (p.kind === "village" || p.kind === "commune_2024") notice(p.note_vi, p.note_en, "info"); else notice(null);
    if (p.unit_code && byCode[p.unit_code]) selectUnit(p.unit_code, false);
    const [w, s, e, n] = p.bbox;
    if (p.kind === "village") map.flyTo({ center: [p.lon, p.lat], zoom: 12.5, duration: 800 });
    else map.fitBounds([[w, s], [e, n]], { padding: 40, duration: 800 });
  }
  async function search() {
    const q = $("#search").value.trim();
    if (!q) { hideResults(); return; }
    const res = await fetch(`${BASE}/app/search?q=${encodeURIComponent(q.slice(0, 100))}&limit=8`);
    if (!res.ok) { hideResults(); return; }
    const body = await res.json();
    if ($("#search").value.trim() === q) showResults(body.places);
  }
  function searchKeys(e) {
    const items = $$("#search-results li[data-i]");
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      if (!items.length) return;
      active = (active + (e.key === "ArrowDown" ? 1 : items.length - 1)) % items.length;
      items.forEach((li, i) => li.setAttribute("aria-selected", i === active ? "true" : "false"));
      $("#search").setAttribute("aria-activedescendant", "opt-" + active);
    } else if (e.key === "Enter") {
      e.preventDefault();
      if (active >= 0) choose(active);
      else if (results.length) choose(0);
      else search().then(() => { if (results.length) choose(0); });
    } else if (e.key === "Escape") hideResults();
  }

  // ---------------------------------------------------------------------------------------------
  // tabs
  function showTab(name) {
    for (const tab of $$('[role="tab"]')) {
      const on = tab.id === "tab-" + name;
      tab.setAttribute("aria-selected", on ? "true" : "false");
      tab.tabIndex = on ? 0 : -1;
      $("#" + tab.getAttribute("aria-controls")).hidden = !on;
    }
  }
  function tabKeys(e) {
    const tabs = $$('[role="tab"]'), i = tabs.indexOf(e.target);
    if (e.key === "ArrowRight" || e.key === "ArrowLeft") {
      const next = tabs[(i + (e.key === "ArrowRight" ? 1 : tabs.length - 1)) % tabs.length];
      showTab(next.id.slice(4)); next.focus();
    }
  }

  // ---------------------------------------------------------------------------------------------
  // start
  async function start() {
    if (!window.maplibregl) {
      notice("Thiếu thư viện bản đồ MapLibre GL JS trên máy chủ: chạy `npm ci` trong thư mục dự án.",
        "The server lacks MapLibre GL JS: run `npm ci` in the project folder.");
      return;
    }
    const res = await fetch(`${BASE}/app/data.json`);
    data = await res.json();
    byCode = Object.fromEntries(data.units.map((u) => [u.unit_code, u]));
    defaultRanking = Object.fromEntries(data.units.map((u) => [u.unit_code, u]));
    ranking = defaultRanking;
    state.year = data.years.at(-1);
    readAddress();
    $("#demo").hidden = !data.synthetic;
    for (const [id, key] of [["show-districts", "districts"], ["show-communes", "communes"], ["show-villages", "villages"], ["show-infra", "infra"], ["show-plan", "plan"]]) {
      $("#" + id).checked = state[key];
    }
    buildMap();
    applyLanguage();
    if (problems.length) notice(problems.map((p) => p[0]).join("\n"), problems.map((p) => p[1]).join("\n"));
    $("#indicator").addEventListener("change", (e) => { state.ind = e.target.value; fillIndicators(); recolour(); updatePrintLink(); writeAddress(); });
    $("#year").addEventListener("change", (e) => { state.year = Number(e.target.value); recolour(); writeAddress(); });
    const toggles = { "show-districts": ["districts", ["districts-line", "districts-line-overview"]], "show-communes": ["communes", ["communes-line"]], "show-villages": ["villages", ["villages"]],
      "show-infra": ["infra", ["infra-roads", "infra-health", "infra-schools", "infra-markets", "infra-bridges"]], "show-plan": ["plan", ["plan"]] };
    for (const [id, [key, layers]] of Object.entries(toggles)) {
      $("#" + id).addEventListener("change", (e) => { state[key] = e.target.checked; layers.forEach((l) => setVisible(l, state[key])); writeAddress(); });
    }
    $("#lang").addEventListener("click", () => { state.lang = state.lang === "en" ? "vi" : "en"; applyLanguage(); writeAddress(); });
    $("#reset-weights").addEventListener("click", () => { state.weights = {}; renderWeights(); rerank(); });
    $("#sensitivity").addEventListener("click", sensitivity);
    $("#plan-form").addEventListener("submit", runPlan);
    for (const id of ["budget", "r3", "maxpu"]) $("#" + id).addEventListener("change", () => { planInputs(); writeAddress(); });
    for (const b of $$("[data-export]")) b.addEventListener("click", () => download(b.dataset.export));
    const input = $("#search");
    input.addEventListener("input", () => { clearTimeout(searchTimer); searchTimer = setTimeout(search, 200); });
    input.addEventListener("keydown", searchKeys);
    input.addEventListener("blur", () => setTimeout(hideResults, 150));
    for (const tab of $$('[role="tab"]')) { tab.addEventListener("click", () => showTab(tab.id.slice(4))); tab.addEventListener("keydown", tabKeys); }
    map.once("load", () => {
      if (state.unit) selectUnit(state.unit, true);
      if (Object.keys(state.weights).length) rerank();
      if ($("#budget").value.trim()) runPlan();
      writeAddress();
      document.body.dataset.ready = "1";
    });
  }
  // a repeat visit, or one without a connection, opens from what the service worker kept
  if ("serviceWorker" in navigator && window.isSecureContext) {
    navigator.serviceWorker.register(`${ROOT}/app/sw.js`, { scope: `${ROOT}/app` }).catch(() => undefined);
    navigator.serviceWorker.addEventListener("message", (event) => {
      if (event.data && event.data.type === "atlas-new-data") {
        notice("Đã có số liệu mới trên máy chủ: tải lại trang để xem.", "The server has new figures: reload the page to see them.", "info");
      }
    });
  }
  start().catch((err) => notice(`Không mở được bàn làm việc: ${err.message}`, `The workspace could not start: ${err.message}`));
})();
