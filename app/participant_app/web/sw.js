// The participant app's service worker, at /app/sw.js with the scope /app/.
// - Offline: the app shell and the participant's questionnaire (with /v1/me and the open
//   prompts) are answered from its caches when the network fails. Online, the network always
//   answers first (every app file revalidates with its ETag), so an update reaches the phone
//   at its next start. Check-ins answered offline wait in the app's outbox (js/outbox.js).
// - Push: shows the notification FCM delivers, and a tap on it opens that prompt.

const SHELL_CACHE = "kairos-shell";
const API_CACHE = "kairos-api"; // emptied when the participant signs out (js/store.js)
// Everything the app needs to start offline (tests/test_participant_app.py checks that the
// list names every file of the app but the vendored Firebase, which loads only online).
const SHELL = [
  "/app/",
  "/app/app.css",
  "/app/manifest.webmanifest",
  "/app/icons/icon.svg",
  "/app/icons/icon-192.png",
  "/app/icons/icon-512.png",
  "/app/icons/icon-maskable-512.png",
  "/app/locales/en.json",
  "/app/locales/es.json",
  "/app/js/api.js",
  "/app/js/dom.js",
  "/app/js/i18n.js",
  "/app/js/items.js",
  "/app/js/main.js",
  "/app/js/nav.js",
  "/app/js/outbox.js",
  "/app/js/push.js",
  "/app/js/session.js",
  "/app/js/store.js",
  "/app/js/screens/after.js",
  "/app/js/screens/checkin.js",
  "/app/js/screens/ended.js",
  "/app/js/screens/enroll.js",
  "/app/js/screens/home.js",
  "/app/js/screens/settings.js",
];
// The participant's own GET answers kept for an offline start.
const API_KEPT = new Set(["/v1/me", "/v1/me/questionnaire", "/v1/me/prompts"]);

self.addEventListener("install", (event) => {
  // cache: "no-cache" revalidates, so a new worker never stores an old copy from HTTP's cache.
  const requests = SHELL.map((path) => new Request(path, { cache: "no-cache" }));
  event.waitUntil(
    caches
      .open(SHELL_CACHE)
      .then((cache) => cache.addAll(requests))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

/** The network's answer (kept for later when it is a success), else the kept copy. */
async function networkFirst(request, cacheName, fallback = request) {
  const cache = await caches.open(cacheName);
  try {
    const response = await fetch(request);
    if (response.ok) await cache.put(request, response.clone());
    return response;
  } catch (error) {
    const kept = await cache.match(fallback, { ignoreSearch: true });
    if (kept) return kept;
    throw error;
  }
}

self.addEventListener("fetch", (event) => {
  const { request } = event;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) return;
  if (request.mode === "navigate" && url.pathname.startsWith("/app")) {
    // /app, /app/ and /app/enroll are the same shell.
    event.respondWith(networkFirst(request, SHELL_CACHE, "/app/"));
  } else if (url.pathname.startsWith("/app/")) {
    event.respondWith(networkFirst(request, SHELL_CACHE));
  } else if (API_KEPT.has(url.pathname)) {
    event.respondWith(networkFirst(request, API_CACHE));
  }
});

// --- push ------------------------------------------------------------------------------

/** Where a notification leads: FCM's link, else the prompt in the app. */
function linkOf(payload) {
  const link = payload.fcmOptions?.link ?? payload.notification?.click_action;
  if (link) return link;
  const promptId = payload.data?.prompt_id;
  return promptId ? `/app/#prompt=${encodeURIComponent(promptId)}` : "/app/";
}

self.addEventListener("push", (event) => {
  // FCM's web push payload: {notification: {title, body}, data: {prompt_id, kind,
  // expires_at}, fcmOptions: {link}} (or the link as notification.click_action).
  let payload = {};
  try {
    payload = event.data?.json() ?? {};
  } catch {
    payload = { notification: { body: event.data?.text() } };
  }
  const notification = payload.notification ?? {};
  const data = payload.data ?? {};
  const shown = self.registration.showNotification(notification.title || "Kairos", {
    body: notification.body ?? "",
    icon: "/app/icons/icon-192.png",
    badge: "/app/icons/icon-192.png",
    // One notification per prompt: a reminder replaces the first one.
    tag: data.prompt_id ?? "kairos",
    data: { prompt_id: data.prompt_id ?? null, link: linkOf(payload) },
  });
  const told = self.clients
    .matchAll({ type: "window" })
    .then((windows) => windows.forEach((client) => client.postMessage({ type: "pushed" })));
  event.waitUntil(Promise.all([shown, told]));
});

/** Focus an open app window and have it open the prompt, or open a window at the link. */
async function openFromNotification({ prompt_id: promptId, link }) {
  const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  const app = windows.find((client) => new URL(client.url).pathname.startsWith("/app"));
  if (!app) return self.clients.openWindow(link ?? "/app/");
  if (promptId) app.postMessage({ type: "open-prompt", promptId });
  else if (link) await app.navigate(link).catch(() => {});
  // Focusing is the browser's to allow (a tap on the notification does); the prompt opens
  // either way.
  await app.focus().catch(() => {});
}

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  event.waitUntil(openFromNotification(event.notification.data ?? {}));
});
