// Push to the installed web app through Firebase Cloud Messaging, when the study's server
// has a web configuration (`web_push` in GET /v1/me): the Firebase JS SDK (vendored compat
// builds, loaded only then) turns this browser's push subscription into an FCM registration
// token, which the app registers with PUT /v1/me/device. The push events themselves reach
// our own service worker (sw.js), which shows the notification.

import { call } from "./api.js";
import { pushToken, savePushToken } from "./store.js";

const FIREBASE = "/app/vendor/firebase@13.2.0";

/**
 * "not_configured" (the server sends no web pushes), "unsupported" (this browser cannot
 * receive them), "not_registered" (allowed, but no token registered yet), or the
 * notification permission: "default", "granted" (and registered), "denied".
 */
export function pushState(me) {
  if (!me?.web_push) return "not_configured";
  if (!("Notification" in window) || !("PushManager" in window)) return "unsupported";
  if (Notification.permission === "granted" && !pushToken()) return "not_registered";
  return Notification.permission;
}

function loadScript(src) {
  return new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = src;
    script.onload = resolve;
    script.onerror = () => reject(new Error(`could not load ${src}`));
    document.head.append(script);
  });
}

let messaging = null;

async function firebaseMessaging(config) {
  if (!messaging) {
    // The compat builds are classic scripts that define the global `firebase`; messaging
    // needs the app loaded first.
    await loadScript(`${FIREBASE}/firebase-app-compat.js`);
    await loadScript(`${FIREBASE}/firebase-messaging-compat.js`);
    const app = window.firebase.initializeApp(config.firebase_config);
    messaging = app.messaging();
  }
  return messaging;
}

/** Get this browser's FCM token and register it, when it is new (permission granted). */
export async function registerForPush(me) {
  const config = me.web_push;
  const registration = await navigator.serviceWorker.ready;
  const token = await (await firebaseMessaging(config)).getToken({
    vapidKey: config.vapid_key,
    // Our own service worker, not Firebase's default /firebase-messaging-sw.js.
    serviceWorkerRegistration: registration,
  });
  if (token && token !== pushToken()) {
    await call("PUT", "/v1/me/device", { token, platform: "web" });
    savePushToken(token);
  }
}

/** Ask for permission (after a tap: browsers ask only then), then register; resolves to
 * the new pushState. */
export async function enablePush(me) {
  const permission = await Notification.requestPermission();
  if (permission === "granted") {
    await registerForPush(me).catch((error) => console.warn("push not registered", error));
  }
  return pushState(me);
}

/** Before signing out: the server forgets the device, the browser its subscription. */
export async function forgetDevice() {
  if (!pushToken()) return;
  try {
    await call("DELETE", "/v1/me/device");
  } catch (error) {
    if (error.status !== 404) throw error; // 404: the server had already forgotten it
  }
  const registration = await navigator.serviceWorker.getRegistration("/app/");
  const subscription = await registration?.pushManager.getSubscription();
  await subscription?.unsubscribe();
}
