// The public participant API (see /docs): JSON in, JSON out, the participant token as a
// bearer token, and every error as application/problem+json with a stable `code`.

/** A refusal from the server: its status and problem body (`code`, `detail`, `errors`). */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || `HTTP ${status}`);
    this.status = status;
    this.code = problem.code || "http_error";
    // [{field: "body.answers.risk", message: "..."}] for a 422: where each problem is.
    this.errors = problem.errors || [];
  }

  /** The problems of one request field, e.g. fieldErrors("body.answers.") by answer key. */
  fieldErrors(prefix) {
    const found = new Map();
    for (const error of this.errors) {
      if (error.field.startsWith(prefix)) {
        const name = error.field.slice(prefix.length).split(/[.[]/)[0];
        found.set(name, error.message);
      }
    }
    return found;
  }
}

/** No answer at all: offline, or the server could not be reached. */
export class NetworkError extends Error {}

let token = null;
let onTokenRefused = () => {};

export function setToken(value) {
  token = value;
}

/** `listener(code)` runs when the server refuses the token (401): `participant_withdrawn`
 * when the study team withdrew the participant, `invalid_token` otherwise. */
export function whenTokenRefused(listener) {
  onTokenRefused = listener;
}

/** call("POST", "/v1/checkins", body) -> the response's JSON (null for 204). */
export async function call(method, path, body = undefined) {
  const headers = { Accept: "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    throw new NetworkError(error.message);
  }
  if (response.status === 204) return null;
  const payload = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new ApiError(response.status, payload);
    if (response.status === 401 && token) onTokenRefused(error.code);
    throw error;
  }
  return payload;
}

/** Whether a failed request may succeed when sent again unchanged (later, or online). */
export function worthRetrying(error) {
  return (
    error instanceof NetworkError ||
    (error instanceof ApiError && (error.status >= 500 || error.status === 429))
  );
}
