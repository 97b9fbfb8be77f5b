// What the app keeps on the phone: the participant token and the push token it registered
// (localStorage: small strings read at start), and the outbox of requests not yet sent
// (IndexedDB: it survives a closed app and an offline start).

const TOKEN = "kairos.participant_token";
const DEVICE = "kairos.push_token";

export const token = () => localStorage.getItem(TOKEN);
export const saveToken = (value) => localStorage.setItem(TOKEN, value);
export const pushToken = () => localStorage.getItem(DEVICE);
export const savePushToken = (value) => localStorage.setItem(DEVICE, value);

/** Forget this phone's enrollment: tokens, the outbox and the cached API answers. */
export async function forgetAll() {
  localStorage.removeItem(TOKEN);
  localStorage.removeItem(DEVICE);
  localStorage.removeItem(LOCALE);
  await clearOutbox();
  // The service worker's copies of /v1/me, the questionnaire and the prompts (sw.js).
  await caches.delete("kairos-api");
}

// --- the outbox --------------------------------------------------------------------

const DATABASE = "kairos";
const OUTBOX = "outbox";
let opened = null;

function database() {
  opened ??= new Promise((resolve, reject) => {
    const request = indexedDB.open(DATABASE, 1);
    // An auto-incremented key keeps the entries in the order they were made (a skill's
    // "opened" feedback before its rating).
    request.onupgradeneeded = () =>
      request.result.createObjectStore(OUTBOX, { keyPath: "seq", autoIncrement: true });
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  return opened;
}

async function transact(mode, work) {
  const db = await database();
  return new Promise((resolve, reject) => {
    const transaction = db.transaction(OUTBOX, mode);
    const request = work(transaction.objectStore(OUTBOX));
    transaction.oncomplete = () => resolve(request.result);
    transaction.onerror = () => reject(transaction.error);
  });
}

/** Store an entry; resolves to it with its `seq`. */
export async function addToOutbox(entry) {
  const seq = await transact("readwrite", (store) => store.add(entry));
  return { ...entry, seq };
}

/** Every entry, oldest first. */
export const outboxEntries = () => transact("readonly", (store) => store.getAll());
export const removeFromOutbox = (seq) => transact("readwrite", (store) => store.delete(seq));
export const clearOutbox = () => transact("readwrite", (store) => store.clear());

// The last language used, so that an offline start speaks it before /v1/me answers.
const LOCALE = "kairos.locale";
export const savedLocale = () => localStorage.getItem(LOCALE);
export const saveLocale = (value) => localStorage.setItem(LOCALE, value);
