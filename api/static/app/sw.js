/* Service worker of the workspace: a repeat visit, or a visit with no connection, opens from what was kept.
 * Versioned files (?v=) are kept for good; the page, its data, glyphs, icons and map tiles are answered from what
 * was kept and fetched again behind the answer (stale-while-revalidate). When the data of a new build arrives,
 * the kept tiles are dropped and the page is told, so it can offer a reload. Searches, processes and exports
 * always go to the network. */
"use strict";
const KEEP = "atlas-app-1";
const ROOT = new URL(self.registration.scope).pathname.replace(/\/app$/, "");  // the atlas's base path

function kind(url) {
  const path = url.pathname.slice(ROOT.length);
  if (url.origin !== self.location.origin) return null;
  if (/^\/app\/(static|vendor)\//.test(path) && url.searchParams.has("v")) return "versioned";
  if (path === "/app" || path === "/app/data.json" || /^\/app\/(fonts|sprites|units)\//.test(path)) return "page";
  if (/^\/ogc\/collections\/[^/]+\/tiles\/WebMercatorQuad\/\d+\/\d+\/\d+$/.test(path)) return "tile";
  return null;
}

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) if (name !== KEEP) await caches.delete(name);
    await self.clients.claim();
  })());
});

async function refreshed(request, key, cache, kept) {
  const response = await fetch(request);
  if (response.ok) {
    const path = new URL(request.url).pathname.slice(ROOT.length);
    if (path === "/app/data.json" && kept) {
      const before = kept.headers.get("etag"), after = response.headers.get("etag");
      if (before && after && before !== after) {  // a new build: its tiles replace the kept ones
        for (const key of await cache.keys()) if (kind(new URL(key.url)) === "tile") await cache.delete(key);
        for (const client of await self.clients.matchAll()) client.postMessage({ type: "atlas-new-data" });
      }
    }
    await cache.put(key, response.clone());
  }
  return response;
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url), what = kind(url);
  if (!what) return;
  event.respondWith((async () => {
    const cache = await caches.open(KEEP);
    // the page is one whatever its query (the query is the page's own state): kept once, without it
    const key = url.pathname.slice(ROOT.length) === "/app" ? new Request(url.origin + url.pathname) : request;
    const kept = await cache.match(key);
    if (kept && what === "versioned") return kept;
    const fresh = refreshed(request, key, cache, kept);
    if (kept) {
      event.waitUntil(fresh.catch(() => undefined));
      return kept;
    }
    return fresh;
  })());
});
