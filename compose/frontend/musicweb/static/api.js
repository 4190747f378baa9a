// Shared by every page: talks to musicapp's API straight from the browser.
// The API's address comes from the page (baked in at build time); the tokens
// live in localStorage so that a reload or a new tab stays logged in.
(function () {
  "use strict";

  const API = document.querySelector('meta[name="api-endpoint"]').content;
  const ACCESS_KEY = "accessToken";
  const REFRESH_KEY = "refreshToken";
  const RETRY_AFTER_MS = 1000;

  class ApiError extends Error {
    constructor(message, status) {
      super(message);
      this.status = status;
    }
  }

  const tokens = {
    access: () => localStorage.getItem(ACCESS_KEY),
    refresh: () => localStorage.getItem(REFRESH_KEY),
    save(data) {
      if (data.accessToken) localStorage.setItem(ACCESS_KEY, data.accessToken);
      if (data.refreshToken) localStorage.setItem(REFRESH_KEY, data.refreshToken);
    },
    clear() {
      localStorage.removeItem(ACCESS_KEY);
      localStorage.removeItem(REFRESH_KEY);
    },
  };

  async function send(method, path, body, accessToken) {
    const headers = {};
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (accessToken) headers.Authorization = `Bearer ${accessToken}`;
    let response;
    try {
      response = await fetch(API + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (error) {
      // fetch rejects only when no answer came at all: a wrong API_ENDPOINT,
      // nginx-backend down, or the API refusing CORS. Say where we looked.
      throw new ApiError(`Cannot reach the API at ${API} (${error.message})`, 0);
    }
    const payload = await response.json().catch(() => ({}));
    return { ok: response.ok, status: response.status, payload };
  }

  async function exchangeRefreshToken() {
    const refreshToken = tokens.refresh();
    if (!refreshToken) return false;
    const answer = await send("PUT", "authentications", { refreshToken });
    if (!answer.ok) return false;
    tokens.save(answer.payload.data || {});
    return true;
  }

  // Calls made together that all meet an expired token share one refresh:
  // the API would otherwise see the same refresh token used several times.
  let refreshing = null;
  function refreshAccessToken() {
    refreshing = refreshing || exchangeRefreshToken().finally(() => { refreshing = null; });
    return refreshing;
  }

  // Returns the answer's `data`, or throws an ApiError carrying the API's own
  // message. With auth, an access token that the API refuses (401) is
  // refreshed once and the call repeated.
  async function request(method, path, body, { auth = false } = {}) {
    let answer = await send(method, path, body, auth ? tokens.access() : null);
    // Busy (429 from nginx-backend's login limit, 503 from a backend whose
    // bcrypt slots are taken, or the database a moment away): one more try
    // after the second the API asks for, before telling the user.
    if (answer.status === 429 || answer.status === 503) {
      await new Promise((resolve) => setTimeout(resolve, RETRY_AFTER_MS));
      answer = await send(method, path, body, auth ? tokens.access() : null);
    }
    if (auth && answer.status === 401 && (await refreshAccessToken())) {
      answer = await send(method, path, body, tokens.access());
    }
    if (!answer.ok) {
      throw new ApiError(answer.payload.message || `The API answered HTTP ${answer.status}`, answer.status);
    }
    return answer.payload.data || {};
  }

  // The browser only reads the JWT's payload to learn who is logged in; it
  // cannot check the signature and needs not, since the API checks it on
  // every call.
  function userIdFromToken(token) {
    try {
      const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      const padded = part + "=".repeat((4 - (part.length % 4)) % 4);
      return JSON.parse(atob(padded)).id || null;
    } catch (error) {
      return null;
    }
  }

  function showMessage(text, kind = "error") {
    const element = document.getElementById("message");
    element.textContent = text;
    element.className = text ? `message ${kind}` : "message";
  }

  // Runs handler(values) on submit instead of letting the browser post the
  // form; the button stays disabled meanwhile so a double click sends once.
  function onSubmit(form, handler, onError = (error) => showMessage(error.message)) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const button = form.querySelector('button[type="submit"]');
      button.disabled = true;
      showMessage("");
      try {
        await handler(Object.fromEntries(new FormData(form)));
      } catch (error) {
        onError(error);
      } finally {
        button.disabled = false;
      }
    });
  }

  window.MusicApi = { ApiError, tokens, request, userIdFromToken, showMessage, onSubmit };
})();
