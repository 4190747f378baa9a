// The library page. The server cannot see localStorage, so deciding whether
// someone is logged in happens here: no token, or one the API no longer
// accepts, sends the browser to /login.
(function () {
  "use strict";
  const { ApiError, request, tokens, userIdFromToken, showMessage, onSubmit } = window.MusicApi;

  function endSession() {
    tokens.clear();
    window.location.replace("/login");
  }

  // A 401 that survived a token refresh means the session is over.
  function handleError(error) {
    if (error instanceof ApiError && error.status === 401) endSession();
    else showMessage(error.message);
  }

  function item(text) {
    const li = document.createElement("li");
    li.textContent = text;
    return li;
  }

  function fillList(id, elements) {
    const list = document.getElementById(id);
    list.replaceChildren(...(elements.length ? elements : [item("None yet")]));
    list.classList.toggle("empty", elements.length === 0);
  }

  function fillSelect(id, entries) {
    const options = entries.map(([value, label]) => {
      const option = document.createElement("option");
      option.value = value;
      option.textContent = label;
      return option;
    });
    document.getElementById(id).replaceChildren(...options);
  }

  async function showCurrentUser() {
    const id = userIdFromToken(tokens.access());
    if (!id) return false;
    try {
      const { user } = await request("GET", `users/${encodeURIComponent(id)}`);
      document.getElementById("current-user").textContent = `Login as ${user.fullname}`;
      return true;
    } catch (error) {
      // The token names a user the API does not know (e.g. a fresh database).
      if (error.status === 404) return false;
      throw error;
    }
  }

  async function loadAlbums() {
    const { albums } = await request("GET", "albums");
    fillList("album-list", albums.map((album) => item(`${album.name} (${album.year})`)));
  }

  async function loadSongs() {
    const { songs } = await request("GET", "songs");
    const label = (song) => `${song.title} – ${song.performer}`;
    fillList("song-list", songs.map((song) => item(label(song))));
    fillSelect("song-select", songs.map((song) => [song.id, label(song)]));
  }

  function removeButton(playlistId, song) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "small";
    button.textContent = "Remove";
    button.addEventListener("click", () => {
      request("DELETE", `playlists/${encodeURIComponent(playlistId)}/songs`, { songId: song.id }, { auth: true })
        .then(loadPlaylists)
        .catch(handleError);
    });
    return button;
  }

  async function playlistItem(playlist) {
    const { playlist: detail } = await request(
      "GET", `playlists/${encodeURIComponent(playlist.id)}/songs`, undefined, { auth: true });
    const li = item(`${playlist.name} (by ${playlist.username})`);
    const songs = document.createElement("ul");
    for (const song of detail.songs || []) {
      const songItem = item(`${song.title} – ${song.performer} `);
      songItem.append(removeButton(playlist.id, song));
      songs.append(songItem);
    }
    li.append(songs);
    return li;
  }

  async function loadPlaylists() {
    const { playlists } = await request("GET", "playlists", undefined, { auth: true });
    fillList("playlist-list", await Promise.all(playlists.map(playlistItem)));
    fillSelect("playlist-select", playlists.map((playlist) => [playlist.id, playlist.name]));
  }

  function bindForms() {
    const albumForm = document.getElementById("album-form");
    onSubmit(albumForm, async ({ name, year }) => {
      await request("POST", "albums", { name, year: Number(year) }, { auth: true });
      albumForm.reset();
      await loadAlbums();
    }, handleError);

    const songForm = document.getElementById("song-form");
    onSubmit(songForm, async ({ title, year, genre, performer }) => {
      await request("POST", "songs", { title, year: Number(year), genre, performer }, { auth: true });
      songForm.reset();
      await loadSongs();
    }, handleError);

    const playlistForm = document.getElementById("playlist-form");
    onSubmit(playlistForm, async ({ name }) => {
      await request("POST", "playlists", { name }, { auth: true });
      playlistForm.reset();
      await loadPlaylists();
    }, handleError);

    onSubmit(document.getElementById("playlist-song-form"), async ({ playlistId, songId }) => {
      await request("POST", `playlists/${encodeURIComponent(playlistId)}/songs`, { songId }, { auth: true });
      await loadPlaylists();
    }, handleError);
  }

  function bindLogout() {
    document.getElementById("logout").addEventListener("click", async (event) => {
      event.preventDefault();
      const refreshToken = tokens.refresh();
      // Logging out locally must work even when the API cannot be reached.
      if (refreshToken) await request("DELETE", "authentications", { refreshToken }).catch(() => {});
      tokens.clear();
      window.location.assign("/login");
    });
  }

  async function start() {
    if (!tokens.access()) return endSession();
    bindLogout();
    try {
      if (!(await showCurrentUser())) return endSession();
      document.getElementById("library").hidden = false;
      bindForms();
      await Promise.all([loadAlbums(), loadSongs(), loadPlaylists()]);
    } catch (error) {
      handleError(error);
    }
  }

  start();
})();
