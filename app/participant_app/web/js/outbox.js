// Offline first: every check-in and every skill feedback is stored on the phone before it is
// sent, and stays there until the server has it. The API is idempotent for these requests (a
// check-in's client_id, feedback that sets the same values), so sending an entry again after
// a lost answer stores nothing twice.

import { call, worthRetrying } from "./api.js";
import { addToOutbox, outboxEntries, removeFromOutbox } from "./store.js";

// One send at a time, in order: the online event, the start and a new check-in may ask at
// once, and an entry must not be sent by two of them.
let queue = Promise.resolve();
function oneAtATime(work) {
  const run = queue.then(work);
  queue = run.catch(() => {});
  return run;
}

/**
 * Send one stored entry. Resolves to
 *   {sent: response}    the server has it (removed from the outbox);
 *   {waiting: error}    offline or the server failed: it stays for the next try;
 *   {refused: ApiError} the server will never take it as it is (removed).
 * A refused token (401) rejects: the app stops (see main.js).
 */
async function send(entry) {
  try {
    const response = await call("POST", entry.path, entry.body);
    await removeFromOutbox(entry.seq);
    return { entry, sent: response };
  } catch (error) {
    if (worthRetrying(error)) return { entry, waiting: error };
    if (error.status === 401) throw error;
    await removeFromOutbox(entry.seq);
    return { entry, refused: error };
  }
}

/** Store a request, then try to send it now (with whatever waits before it). */
export async function post(kind, path, body, shown = {}) {
  const entry = await addToOutbox({ kind, path, body, shown, stored_at: new Date().toISOString() });
  const outcomes = await sendWaiting();
  // Not reached when an older entry had to wait: then this one waits too.
  return outcomes.find((outcome) => outcome.entry.seq === entry.seq) ?? { entry, waiting: true };
}

/** Send every waiting entry, oldest first; stops at the first that must wait (offline). */
export function sendWaiting() {
  return oneAtATime(async () => {
    const outcomes = [];
    for (const entry of await outboxEntries()) {
      const outcome = await send(entry);
      outcomes.push(outcome);
      if (outcome.waiting) break;
    }
    return outcomes;
  });
}

export const waiting = outboxEntries;
