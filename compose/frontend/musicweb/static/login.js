(function () {
  "use strict";
  const { request, tokens, onSubmit } = window.MusicApi;

  onSubmit(document.getElementById("login-form"), async ({ username, password }) => {
    tokens.save(await request("POST", "authentications", { username, password }));
    window.location.assign("/");
  });
})();
